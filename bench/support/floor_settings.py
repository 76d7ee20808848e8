"""The app's own settings, with a URLconf that adds the benchmarks' floor page.

Used by bench/pages.py (in-process) and bench/log_load.py (gunicorn), so the floor is served
by the same process, middleware and session store as the pages it is compared with.
"""

from clinicops.settings import *  # noqa: F403

ROOT_URLCONF = "bench.support.floor_urls"

# The benchmarks time what production runs: no debug pages, no query log, cached templates.
# (Only DEBUG itself is turned off, after the development defaults it chose at import: no
# HTTPS redirect, plain static files, localhost allowed.)
DEBUG = False
for _engine in TEMPLATES:  # noqa: F405
    _engine.setdefault("OPTIONS", {})["debug"] = False
