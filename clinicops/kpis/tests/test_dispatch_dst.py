"""Every nightly dispatcher runs each clinic's night exactly once across DST changes (issue 11.3).

Beat ticks every hour; over a week around each 2026 change (US: 8 March and 1 November; UK:
29 March and 25 October; Sydney: 5 April and 4 October) and with ticks late in the hour, each
clinic must be due once per local day, for every day, the night the clocks skip the hour too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from clinicops.core.models import Clinic
from clinicops.core.tests.factories import ClinicFactory
from clinicops.kpis import tasks as kpi_tasks
from supplies import tasks as supply_tasks

pytestmark = pytest.mark.django_db

ZONES = ["America/New_York", "America/Chicago", "Europe/London", "Australia/Sydney", "Asia/Kolkata"]
CHANGES = [
    date(2026, 3, 8),  # US spring forward (02:00 -> 03:00)
    date(2026, 11, 1),  # US fall back
    date(2026, 3, 29),  # UK spring forward (01:00 -> 02:00)
    date(2026, 10, 25),  # UK fall back
    date(2026, 4, 5),  # Sydney falls back
    date(2026, 10, 4),  # Sydney springs forward (02:00 -> 03:00)
]
DISPATCHERS: dict[str, Callable[[datetime, int], list[tuple[int, date]]]] = {
    "supplies": supply_tasks.clinics_due,
    "kpis": lambda now, hour: kpi_tasks.clinics_due(now, hour=hour),
}


@pytest.fixture
def clinics() -> dict[int, Clinic]:
    return {c.pk: c for c in (ClinicFactory(name=z, time_zone=z) for z in ZONES)}


@pytest.mark.parametrize("dispatcher", sorted(DISPATCHERS))
@pytest.mark.parametrize("hour", [1, 2])
@pytest.mark.parametrize("change", CHANGES, ids=str)
@pytest.mark.parametrize("minute", [0, 59])
def test_each_clinic_is_due_once_for_every_local_day_around_a_dst_change(
    clinics: dict[int, Clinic], dispatcher: str, hour: int, change: date, minute: int
) -> None:
    due = DISPATCHERS[dispatcher]
    start = datetime(change.year, change.month, change.day, 0, minute, tzinfo=UTC) - timedelta(
        days=3
    )
    ticks = [start + timedelta(hours=h) for h in range(24 * 7)]

    runs = Counter(run for now in ticks for run in due(now, hour))

    # the days fully inside the window: each exactly once, none twice
    for clinic in clinics.values():
        days = {day for (pk, day) in runs if pk == clinic.pk}
        inner = sorted(days)[1:-1]
        expected = [inner[0] + timedelta(days=i) for i in range((inner[-1] - inner[0]).days + 1)]
        assert inner == expected, f"{clinic.time_zone} {dispatcher} skipped a night"
        assert all(runs[clinic.pk, day] == 1 for day in days), f"{clinic.time_zone} ran twice"
        assert change - timedelta(days=1) in days  # the night of the change itself


def test_the_us_spring_forward_night_is_dispatched_for_supplies() -> None:
    # 2026-03-08 in New York: 02:00 does not exist; the night of the 7th still runs, at 03:00 EDT
    clinic = ClinicFactory(time_zone="America/New_York")
    ticks = [datetime(2026, 3, 8, 0, 0, tzinfo=UTC) + timedelta(hours=h) for h in range(24)]

    due = [
        (now, day)
        for now in ticks
        for pk, day in supply_tasks.clinics_due(now, 2)
        if pk == clinic.pk
    ]

    assert due == [(datetime(2026, 3, 8, 7, 0, tzinfo=UTC), date(2026, 3, 7))]


def test_the_stock_snapshot_runs_before_the_rollup_that_reads_it() -> None:
    from django.conf import settings

    assert settings.SUPPLIES_NIGHTLY_LOCAL_HOUR < settings.KPI_ROLLUP_LOCAL_HOUR
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["supplies-nightly-dispatch"]["schedule"].minute == {0}
    assert schedule["kpis-nightly-dispatch"]["schedule"].minute == {5}
