"""A worker SIGKILLed mid-rollup loses nothing (issue 10.7): the task it held is redelivered once
the broker's visibility timeout passes, and each night checks that every clinic-day it owns
has its rows, re-rolling any that do not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings

from clinicops.core.models import Clinic
from clinicops.core.tests.factories import ClinicFactory
from clinicops.kpis import changes, registry, services, tasks
from clinicops.kpis.models import MetricDay

from .slow_worker import SLOW_KEY

ROOT = Path(__file__).resolve().parents[3]


# --- the completeness check ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_completeness_check_finds_each_clinic_day_missing_a_row(
    clinic: Clinic, metrics: object
) -> None:
    first = date(2026, 2, 2)
    days = [first + timedelta(days=i) for i in range(10)]
    services.rollup_clinic_days(clinic=clinic, days=days)
    # a lost rollup: one day entirely, another missing one metric's row
    MetricDay.objects.filter(clinic=clinic, day=days[3]).delete()
    MetricDay.objects.filter(clinic=clinic, day=days[7], key="no_show_rate").delete()

    missing = changes.missing_days(clinic=clinic, first=first - timedelta(days=30), last=days[-1])

    # days before the clinic's first rolled-up day are a backfill's, not the night's
    assert missing == [days[3], days[7]]
    assert changes.missing_days(clinic=clinic, first=days[4], last=days[6]) == []


@pytest.mark.django_db
def test_a_clinic_never_rolled_up_has_nothing_missing(clinic: Clinic, metrics: object) -> None:
    assert changes.missing_days(clinic=clinic, first=date(2026, 1, 1), last=date(2026, 3, 1)) == []


@pytest.mark.django_db
def test_the_night_re_rolls_missing_days_within_its_horizon(
    clinic: Clinic, metrics: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    yesterday = date(2026, 2, 2)
    history = [yesterday - timedelta(days=i) for i in range(60)]
    services.rollup_clinic_days(clinic=clinic, days=history)
    MetricDay.objects.filter(
        clinic=clinic, day__in=[yesterday - timedelta(days=20), yesterday - timedelta(days=50)]
    ).delete()
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(
        tasks.rollup_clinic_days, "apply_async", lambda args, **kw: sent.append(args)
    )

    with override_settings(KPI_TRAILING_DAYS=7, KPI_COMPLETENESS_DAYS=30):
        tasks.dispatch_nightly_rollups(now="2026-02-03T07:05:00+00:00")  # New York's 02:05

    # the night (yesterday and 7 trailing days, one task), then the catch-up: the day 20
    # days back is within the 30-day horizon; the one 50 days back is not
    night = [(yesterday - timedelta(days=i)).isoformat() for i in range(7, -1, -1)]
    assert sent == [(clinic.pk, night), (clinic.pk, [(yesterday - timedelta(days=20)).isoformat()])]


# --- a real worker, killed -------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def worker_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=(
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        REDIS_URL=settings.REDIS_URL,
        # The production default is 15 minutes; the test cannot wait that long.
        CELERY_VISIBILITY_TIMEOUT="3",
        SLOW_PROBE_SECONDS="2",
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture
def workers(
    worker_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(queue: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 - our own module, our own arguments
            [
                sys.executable,
                "-m",
                "clinicops.kpis.tests.slow_worker",
                str(tmp_path / "started"),
                queue,
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"worker{len(started)}.log").open("wb"),
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_rollup_loses_no_rows(
    workers: Callable[[str], subprocess.Popen[bytes]], worker_env: dict[str, str], tmp_path: Path
) -> None:
    # given: New York's night: yesterday and 3 trailing days, in one task, on our own queue
    clinic = ClinicFactory(name="New York", time_zone="America/New_York")
    yesterday = date(2026, 2, 2)
    days = [yesterday - timedelta(days=i) for i in range(4)]
    queue = f"kpis-kill-{uuid.uuid4().hex}"
    with override_settings(KPI_TRAILING_DAYS=3):
        assert tasks.dispatch_nightly_rollups(now="2026-02-03T07:05:00+00:00", queue=queue) == 1
    keys = {m.key for m in registry.all_metrics()} | {SLOW_KEY}
    started = tmp_path / "started"

    def rows() -> set[tuple[date, str]]:
        return set(MetricDay.objects.filter(clinic=clinic).values_list("day", "key"))

    # when: the worker is SIGKILLed in the middle of the rollup (its slow metric on the 2nd day)
    first = workers(queue)
    wait_for(
        lambda: started.exists() and len(started.read_text().split()) >= 2,
        60,
        "the second rollup to start",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    broker = redis.Redis.from_url(settings.REDIS_URL)
    assert broker.hlen("unacked") >= 1  # the task it held is delivered but not acknowledged
    assert rows() == set()  # the night's days are written together, or not at all

    # then: a worker restarted after the visibility timeout (kombu restores expired
    # deliveries when the worker starts polling) gets it back and runs the rest: every
    # metric's row of every day is there
    time.sleep(float(worker_env["CELERY_VISIBILITY_TIMEOUT"]) + 1)
    workers(queue)
    expected = {(day, key) for day in days for key in keys}
    wait_for(lambda: rows() == expected, 90, "every row")
    assert broker.hlen("unacked") == 0 or not any(
        queue.encode() in (broker.hget("unacked", tag) or b"") for tag in broker.hkeys("unacked")
    )
    connection.close()


def test_every_task_ends_within_the_visibility_timeout() -> None:
    """Redis redelivers a task not acknowledged within the visibility timeout: a task still
    running then would run twice at once, so every time limit is shorter."""
    from clinicops.celery import app

    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert timeout <= 30 * 60  # a lost task comes back within half an hour, not kombu's hour
    assert timeout > settings.CELERY_TASK_TIME_LIMIT
    assert settings.CELERY_TASK_ACKS_LATE
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    for name in ("rollup_clinic_day", "rollup_clinic_days"):
        task = getattr(tasks, name)
        assert task.acks_late
        assert task.reject_on_worker_lost
        assert task.time_limit < timeout
    assert app.conf.broker_transport_options["visibility_timeout"] == timeout
