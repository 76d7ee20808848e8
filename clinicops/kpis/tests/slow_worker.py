"""A real Celery worker for test_redelivery: the project's app and catalogue, plus one metric
that takes its time, so that the test can SIGKILL the worker in the middle of a rollup.

    python -m clinicops.kpis.tests.slow_worker STARTED_FILE QUEUE

Each rollup appends its day to STARTED_FILE when it starts computing. Settings come from the
environment, like any worker (DATABASE_URL, REDIS_URL, CELERY_VISIBILITY_TIMEOUT).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")
django.setup()

from clinicops.core.models import Clinic  # noqa: E402
from clinicops.kpis import registry  # noqa: E402
from clinicops.kpis.registry import Metric, Unit  # noqa: E402

SLOW_KEY = "slow_probe"


def main() -> None:
    started, queue = Path(sys.argv[1]), sys.argv[2]

    def slow(clinic: Clinic, day: date) -> tuple[int, int]:
        with started.open("a") as out:
            out.write(f"{day}\n")
        time.sleep(float(os.environ.get("SLOW_PROBE_SECONDS", "2")))
        return 0, 1

    registry.register(Metric(key=SLOW_KEY, label="Slow probe", unit=Unit.PERCENT, compute=slow))
    from clinicops.celery import app

    app.worker_main(
        [
            "worker",
            "--pool=solo",
            f"--queues={queue}",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ]
    )


if __name__ == "__main__":
    main()
