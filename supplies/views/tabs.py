"""The supplies screens' tabs, written in Python (the markup `supplies/_tabs.html` had).

Every supplies screen shows them, the tablet included: in the template language they were
eight permission checks through `perms` and eight `{% url %}`s on every page. The URLs are
reversed once per URLconf and script prefix; the user's permissions are asked on every request,
so a tab is never shown to someone who may no longer open its screen.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from typing import Any

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString, mark_safe

# (tab, URL name, label, the permission that shows it), in the order shown.
TABS = (
    ("use", "supplies:tablet", "Log use", "supplies.log_usage"),
    ("below_par", "supplies:below_par", "Below par", "supplies.view_locationitem"),
    ("counts", "supplies:counts", "Counts", "supplies.view_countsession"),
    ("expiry", "supplies:expiry", "Expiry", "supplies.view_expiryalert"),
    ("levels", "supplies:levels", "Levels", "supplies.view_locationitem"),
    ("reorder", "supplies:reorder", "Reorder", "supplies.view_reordersuggestion"),
    ("orders", "supplies:orders", "Orders", "supplies.view_purchaseorder"),
    ("import", "supplies:import", "Item import", "supplies.import_supplyitem"),
)
_CURRENT = ' aria-current="page"'


@lru_cache(maxsize=8)
def _urls(urlconf: str, script_prefix: str) -> dict[str, str]:
    """The tabs' links, reversed once per URLconf and script prefix (the arguments are the
    cache key; `reverse` reads both from the thread)."""
    return {name: escape(reverse(name)) for _, name, _, _ in TABS}


def tabs_html(user: Any, current: str | None) -> SafeString:
    """The tabs `user` may open, `current` (a TABS key, or None) marked as the page shown."""
    urls = _urls(get_urlconf(settings.ROOT_URLCONF), get_script_prefix())
    links = "".join(
        f'    <li><a class="tabs__link" href="{urls[name]}"{_CURRENT if tab == current else ""}>'
        f"{escape(label)}</a></li>\n"
        for tab, name, label, permission in TABS
        if user.has_perm(permission)
    )
    return mark_safe(  # noqa: S308 - the URLs and labels are escaped above
        '<nav class="tabs" aria-label="Supplies">\n  <ul class="tabs__list">\n'
        f"{links}  </ul>\n</nav>"
    )
