"""Late changes reach the dashboard: every write to a metric's sources marks the past clinic-days
it touches (database triggers, so writes that bypass Python count too), and the nightly run and
the backfill re-roll exactly those days, whatever their age (issue 11.2)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import ClinicFactory, StaffFactory
from clinicops.kpis import changes, registry, services, tasks
from clinicops.kpis.models import ChangedDay, MetricDay
from clinicops.kpis.services import MetricChoiceInput
from scheduling.models import Appointment
from scheduling.tests.factories import AppointmentFactory, ProviderTimeOffFactory
from supplies.models import StockMovement
from supplies.tests.factories import LocationItemFactory

pytestmark = pytest.mark.django_db

Status = Appointment.Status


def at(clinic: Clinic, day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=clinic.tz)


def marks(clinic: Clinic) -> set[tuple[date, bool]]:
    return set(ChangedDay.objects.filter(clinic=clinic).values_list("day", "onward"))


def test_every_metric_names_its_sources_and_each_source_table_is_watched() -> None:
    watched = changes.watched_tables()
    for metric in registry.all_metrics():
        if metric.point_in_time:
            continue
        assert metric.sources, f"{metric.key} names no source tables"
        for source in metric.sources:
            assert apps.get_model(source.model)._meta.db_table in watched, source


def test_writes_that_bypass_python_mark_the_old_days_they_touch(clinic: Clinic) -> None:
    old = clinic.today() - timedelta(days=270)
    other = clinic.today() - timedelta(days=200)
    appointment = AppointmentFactory(clinic=clinic, start=at(clinic, old))
    assert marks(clinic) == {(old, False)}  # the insert
    ChangedDay.objects.all().delete()

    # a queryset update: no save(), no signal, no history row
    Appointment.objects.filter(pk=appointment.pk).update(status=Status.NO_SHOW)
    assert marks(clinic) == {(old, False)}
    ChangedDay.objects.all().delete()

    # raw SQL moving it to another day marks both the day it left and the day it reached
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE scheduling_appointment SET start = %s, "end" = %s WHERE id = %s',
            [at(clinic, other), at(clinic, other, 11), appointment.pk],
        )
    assert marks(clinic) == {(old, False), (other, False)}
    ChangedDay.objects.all().delete()

    # bulk_create and delete
    Appointment.objects.filter(pk=appointment.pk).delete()
    assert marks(clinic) == {(other, False)}


def test_writes_about_today_or_the_future_leave_no_mark(clinic: Clinic) -> None:
    AppointmentFactory(clinic=clinic, start=at(clinic, clinic.today(), 23))
    AppointmentFactory(clinic=clinic, start=at(clinic, clinic.today() + timedelta(days=30)))
    Appointment.objects.filter(clinic=clinic).update(status=Status.CONFIRMED)

    assert marks(clinic) == set()


def test_a_day_is_read_in_the_clinics_own_time_zone() -> None:
    # 03:00 UTC on 10 March is still 9 March in Los Angeles
    clinic = ClinicFactory(time_zone="America/Los_Angeles")
    day = clinic.today() - timedelta(days=100)
    utc_early = at(clinic, day, 20)  # 20:00 local, the next day in UTC
    AppointmentFactory(clinic=clinic, start=utc_early)

    assert marks(clinic) == {(day, False)}


def test_a_related_rows_path_and_a_range_are_followed(clinic: Clinic) -> None:
    # time off reaches the clinic through the provider's clinics (many-to-many), for each
    # local day it spans
    provider = StaffFactory(clinics=[clinic])
    first = clinic.today() - timedelta(days=40)
    ProviderTimeOffFactory(
        provider=provider, start=at(clinic, first, 9), end=at(clinic, first + timedelta(days=2), 17)
    )

    assert marks(clinic) == {(first + timedelta(days=i), False) for i in range(3)}


def test_a_backdated_stock_movement_marks_its_day_and_every_later_one(clinic: Clinic) -> None:
    item = LocationItemFactory(location__clinic=clinic)
    day = clinic.today() - timedelta(days=20)
    ChangedDay.objects.all().delete()

    StockMovement.objects.create(
        location_item=item,
        kind=StockMovement.Kind.RECEIVE,
        quantity=5,
        unit_cost=1,
        occurred_at=at(clinic, day),
    )
    assert (day, True) in marks(clinic)  # stock on hand from then on (stockout rate)

    yesterday = clinic.today() - timedelta(days=1)
    days = changes.changed_days(clinic=clinic, through=yesterday)
    assert days == [day + timedelta(days=i) for i in range((yesterday - day).days + 1)]
    assert not ChangedDay.objects.filter(clinic=clinic, onward=True).exists()


def test_a_rollup_clears_the_marks_it_saw(clinic: Clinic) -> None:
    old = clinic.today() - timedelta(days=270)
    AppointmentFactory(clinic=clinic, start=at(clinic, old))
    assert marks(clinic)

    services.rollup_clinic_days(clinic=clinic, days=[old])

    assert marks(clinic) == set()


def test_a_rollup_with_nothing_to_write_still_clears_the_marks_it_saw(clinic: Clinic) -> None:
    """A point-in-time metric's existing row is kept (nothing to write): the day's marks are
    answered all the same, in the same transaction, not left to re-roll every night."""
    from dataclasses import replace

    old = clinic.today() - timedelta(days=270)
    measured = replace(registry.get("tnaa_days"), sources=())
    with registry.swapped([measured]):
        services.rollup_clinic_days(clinic=clinic, days=[old])
        ChangedDay.objects.create(clinic=clinic, day=old)

        assert services.rollup_clinic_days(clinic=clinic, days=[old]) == 0

    assert marks(clinic) == set()


def test_a_rollup_clears_only_the_single_day_marks_of_its_own_days(clinic: Clinic) -> None:
    """Its marks are read between its first and last day: a mark on a day in between that it
    did not compute, and an onward mark the nightly run has not spread yet, stay."""
    first = clinic.today() - timedelta(days=300)
    between, last = first + timedelta(days=5), first + timedelta(days=10)
    for day in (first, between, last):
        ChangedDay.objects.create(clinic=clinic, day=day)
    ChangedDay.objects.create(clinic=clinic, day=first, onward=True)

    services.rollup_clinic_days(clinic=clinic, days=[first, last])

    assert marks(clinic) == {(between, False), (first, True)}


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager")


def night_of(clinic: Clinic) -> str:
    """This morning's nightly tick for `clinic` (its local 02:05), as the dispatcher takes it."""
    return at(clinic, clinic.today(), 2).replace(minute=5).isoformat()


@override_settings(CELERY_TASK_ALWAYS_EAGER=True, KPI_TRAILING_DAYS=7)
def test_a_no_show_recorded_today_for_a_day_nine_months_ago_reaches_the_tile(
    client: Client, clinic: Clinic, manager: User
) -> None:
    from clinicops.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    try:
        # given: a day 9 months ago with four completed visits, rolled up and shown as 0 %
        old = clinic.today() - timedelta(days=270)
        booked = [
            AppointmentFactory(clinic=clinic, start=at(clinic, old, 9 + i), status=Status.COMPLETED)
            for i in range(4)
        ]
        call_command("backfill_kpis", "--from", old, "--to", old, stdout=io.StringIO())
        services.choose_metrics(
            actor=manager,
            clinic=clinic,
            choices=[
                MetricChoiceInput(key=k, target=t, owner=manager.staff)
                for k, t in (("no_show_rate", 7), ("template_utilization", 80), ("tnaa_days", 7))
            ],
        )
        client.force_login(manager)
        week = f"/kpis/{clinic.pk}/?week={old:%Y-%m-%d}"
        assert "0.0 %" in client.get(week).content.decode()

        # when: today someone records one of them as a no-show, bypassing every service
        Appointment.objects.filter(pk=booked[0].pk).update(status=Status.NO_SHOW)
        # the backfill does not skip the day as "already current"
        assert services.stale_days(clinic=clinic, start=old, end=old) == [old]
        # and the nightly run, whose trailing window ended months ago, re-rolls it
        tasks.dispatch_nightly_rollups(now=night_of(clinic))

        # then: the rollup and the tile follow
        row = MetricDay.objects.get(clinic=clinic, key="no_show_rate", day=old)
        assert (row.numerator, row.denominator) == (1, 4)
        assert "25.0 %" in client.get(week).content.decode()
        assert marks(clinic) == set()
        assert services.stale_days(clinic=clinic, start=old, end=old) == []
    finally:
        celery_app.conf.task_always_eager = False


def test_backfill_without_force_recomputes_a_changed_day(clinic: Clinic) -> None:
    old = clinic.today() - timedelta(days=270)
    appointment = AppointmentFactory(clinic=clinic, start=at(clinic, old), status=Status.COMPLETED)
    call_command("backfill_kpis", "--from", old, "--to", old, stdout=io.StringIO())
    Appointment.objects.filter(pk=appointment.pk).update(status=Status.NO_SHOW)

    call_command("backfill_kpis", "--from", old, "--to", old, stdout=io.StringIO())

    row = MetricDay.objects.get(clinic=clinic, key="no_show_rate", day=old)
    assert (row.numerator, row.denominator) == (1, 1)


def test_a_ledger_line_recorded_after_the_rollup_reaches_the_stockout_rate(
    clinic: Clinic,
) -> None:
    """The stockout rate reads the ledger (no snapshot): a count that empties an item,
    recorded for yesterday after yesterday was rolled up, marks the day, and the next
    rollup stores the stockout."""
    item = LocationItemFactory(location__clinic=clinic, par=10)
    yesterday = clinic.today() - timedelta(days=1)
    StockMovement.objects.create(
        location_item=item,
        kind=StockMovement.Kind.RECEIVE,
        quantity=5,
        unit_cost=1,
        occurred_at=at(clinic, yesterday - timedelta(days=1)),
    )
    services.rollup_clinic_days(clinic=clinic, days=[yesterday])
    assert MetricDay.objects.get(clinic=clinic, key="stockout_rate", day=yesterday).numerator == 0
    ChangedDay.objects.all().delete()

    StockMovement.objects.create(  # late: after the rollup
        location_item=item,
        kind=StockMovement.Kind.COUNT_ADJUST,
        reason=StockMovement.Reason.LOST,
        quantity=-5,
        unit_cost=1,
        occurred_at=at(clinic, yesterday),
    )

    assert (yesterday, True) in marks(clinic)
    assert services.stale_days(clinic=clinic, start=yesterday, end=yesterday) == [yesterday]
    services.rollup_clinic_days(clinic=clinic, days=[yesterday])
    row = MetricDay.objects.get(clinic=clinic, key="stockout_rate", day=yesterday)
    assert (row.numerator, row.denominator) == (1, 1)
    assert "supplies.StockoutSnapshot" not in {
        source.model for source in registry.get("stockout_rate").sources
    }
