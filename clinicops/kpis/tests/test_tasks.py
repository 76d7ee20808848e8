"""The nightly fan-out: which clinics are due when, and a real Celery worker doing the work."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.test import override_settings

from clinicops.celery import app as celery_app
from clinicops.core.models import Clinic
from clinicops.core.tests.factories import ClinicFactory, PatientFactory
from clinicops.kpis import registry, tasks
from clinicops.kpis.models import MetricDay

from .conftest import Source, catalogue

pytestmark = pytest.mark.django_db


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def clinics() -> dict[str, Clinic]:
    return {
        "new_york": ClinicFactory(name="New York", time_zone="America/New_York"),
        "chicago": ClinicFactory(name="Chicago", time_zone="America/Chicago"),
        "tokyo": ClinicFactory(name="Tokyo", time_zone="Asia/Tokyo"),
        "kolkata": ClinicFactory(name="Kolkata", time_zone="Asia/Kolkata"),
    }


def due_names(clinics: dict[str, Clinic], now: datetime) -> dict[str, date]:
    names = {c.pk: name for name, c in clinics.items()}
    return {names[pk]: day for pk, day in tasks.clinics_due(now, hour=2)}


def test_each_clinic_is_due_at_its_own_local_two_oclock(clinics: dict[str, Clinic]) -> None:
    # 07:05 UTC on Tuesday 3 Feb 2026 is 02:05 in New York (EST) and 01:05 in Chicago
    assert due_names(clinics, utc(2026, 2, 3, 7, 5)) == {"new_york": date(2026, 2, 2)}
    assert due_names(clinics, utc(2026, 2, 3, 8, 5)) == {"chicago": date(2026, 2, 2)}
    # 17:05 UTC is 02:05 the next morning in Tokyo (UTC+9)
    assert due_names(clinics, utc(2026, 2, 3, 17, 5)) == {"tokyo": date(2026, 2, 3)}
    # Kolkata is UTC+5:30: its 02:00 is 20:30 UTC, inside the hour that ends at 21:00
    assert due_names(clinics, utc(2026, 2, 3, 21, 5)) == {"kolkata": date(2026, 2, 3)}
    assert due_names(clinics, utc(2026, 2, 3, 20, 5)) == {}


def test_a_late_beat_tick_still_finds_the_clinic_once(clinics: dict[str, Clinic]) -> None:
    # beat fires at :59 past each hour (a slow broker): every clinic still comes up once a day
    ticks = [utc(2026, 2, 3, 0, 59) + timedelta(hours=h) for h in range(24)]
    seen = [name for now in ticks for name in due_names(clinics, now)]
    assert sorted(seen) == ["chicago", "kolkata", "new_york", "tokyo"]


def test_summer_time_moves_the_utc_hour(clinics: dict[str, Clinic]) -> None:
    # in July New York is EDT (UTC-4): its 02:05 is 06:05 UTC
    assert due_names(clinics, utc(2026, 7, 14, 6, 5)) == {"new_york": date(2026, 7, 13)}
    assert "new_york" not in due_names(clinics, utc(2026, 7, 14, 7, 5))


def test_the_night_the_clocks_skip_two_oclock_still_runs_once(
    clinics: dict[str, Clinic],
) -> None:
    # Sunday 8 March 2026, New York: 01:59 EST is followed by 03:00 EDT (07:00 UTC)
    hourly = [utc(2026, 3, 8, 0, 5) + timedelta(hours=h) for h in range(24)]
    runs = [(now, due_names(clinics, now).get("new_york")) for now in hourly]
    due = [(now, day) for now, day in runs if day is not None]
    assert due == [(utc(2026, 3, 8, 7, 5), date(2026, 3, 7))]


def test_the_night_the_clocks_go_back_runs_once(clinics: dict[str, Clinic]) -> None:
    # Sunday 1 November 2026, New York: 01:00-02:00 happens twice, 02:00 EST once (07:00 UTC)
    hourly = [utc(2026, 11, 1, 0, 5) + timedelta(hours=h) for h in range(24)]
    due = [now for now in hourly if "new_york" in due_names(clinics, now)]
    assert due == [utc(2026, 11, 1, 7, 5)]


def test_yesterday_and_the_trailing_window_are_rolled() -> None:
    assert tasks.days_to_roll(date(2026, 2, 2), 2) == [
        date(2026, 2, 2),
        date(2026, 2, 1),
        date(2026, 1, 31),
    ]
    with override_settings(KPI_TRAILING_DAYS=7):
        assert len(tasks.days_to_roll(date(2026, 2, 2))) == 8


def test_an_inactive_clinic_is_never_due(clinics: dict[str, Clinic]) -> None:
    Clinic.objects.filter(pk=clinics["new_york"].pk).update(is_active=False)
    assert due_names(clinics, utc(2026, 2, 3, 7, 5)) == {}


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_fans_out_the_night_per_clinic(source: Source) -> None:
    """Beat's dispatcher, then one task per clinic for its night's days (yesterday and the
    trailing window), through the real Redis broker."""
    # given: two clinics; at 07:05 UTC only New York's night has come
    new_york = ClinicFactory(name="New York", time_zone="America/New_York")
    tokyo = ClinicFactory(name="Tokyo", time_zone="Asia/Tokyo")
    yesterday = date(2026, 2, 2)
    for clinic in (new_york, tokyo):
        PatientFactory(clinic=clinic, sex="F")
    source.put(new_york, yesterday, "no_show_rate", (3, 40))
    source.put(new_york, yesterday - timedelta(days=7), "no_show_rate", (1, 30))
    # our own queue on the shared Redis, so no other worker takes these tasks
    queue = f"kpis-test-{uuid.uuid4().hex}"
    test_metrics = catalogue(source)

    with (
        registry.swapped(test_metrics),
        override_settings(KPI_TRAILING_DAYS=7),
        start_worker(
            celery_app, pool="solo", perform_ping_check=False, queues=[queue], loglevel="WARNING"
        ),
    ):
        # when: beat's hourly tick, run by the worker like any task
        result = tasks.dispatch_nightly_rollups.apply_async(
            kwargs={"now": "2026-02-03T07:05:00+00:00", "queue": queue}, queue=queue
        )
        assert result.get(timeout=30) == 1  # one task: New York's 8 days
        expected = 8 * len(test_metrics)
        wait_for(lambda: MetricDay.objects.filter(clinic=new_york).count() == expected)
        time.sleep(0.5)  # let any stray task land before the assertions

    # then: New York's yesterday and the 7 days before it, every metric; nothing for Tokyo
    days = set(MetricDay.objects.filter(clinic=new_york).values_list("day", flat=True))
    assert days == {yesterday - timedelta(days=i) for i in range(8)}
    assert not MetricDay.objects.filter(clinic=tokyo).exists()
    no_shows = MetricDay.objects.get(clinic=new_york, key="no_show_rate", day=yesterday)
    assert (no_shows.numerator, no_shows.denominator) == (3, 40)
    trailing = MetricDay.objects.get(
        clinic=new_york, key="no_show_rate", day=yesterday - timedelta(days=7)
    )
    assert (trailing.numerator, trailing.denominator) == (1, 30)
    connection.close()
