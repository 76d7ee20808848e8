"""Scheduling's drill-downs list exactly the rows behind each figure's parts (issue 11.6)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from clinicops.core import roles
from clinicops.core.models import Clinic
from clinicops.core.tests.factories import StaffFactory
from clinicops.kpis import registry, services
from clinicops.kpis import services as kpi_services
from clinicops.kpis.models import MetricDay
from scheduling.models import Appointment
from scheduling.services import booking, transitions
from scheduling.tests.conftest import MONDAY, local
from scheduling.tests.factories import (
    AppointmentFactory,
    ClinicClosureFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

pytestmark = pytest.mark.django_db

Status = Appointment.Status
WEEK = [MONDAY + dt.timedelta(days=i) for i in range(7)]


def week_parts(clinic: Clinic, key: str) -> tuple[Decimal, Decimal, list[tuple[int, float]]]:
    services.rollup_clinic_days(clinic=clinic, days=WEEK)
    rows = MetricDay.objects.filter(clinic=clinic, key=key, day__in=WEEK)
    pairs = [(g, v) for row in rows for g, v in zip(row.groups, row.values, strict=False)]
    return sum(r.numerator for r in rows), sum(r.denominator for r in rows), pairs


def test_the_no_show_drilldown_lists_the_denominator_with_the_no_shows_marked(
    clinic, provider, visit
) -> None:
    def book(day: dt.date, hour: int, status: str, **fields: object) -> Appointment:
        return AppointmentFactory(
            clinic=clinic,
            provider=provider,
            appointment_type=visit,
            start=local(day, hour),
            status=status,
            **fields,
        )

    book(MONDAY, 8, Status.COMPLETED)
    no_show = book(MONDAY, 9, Status.NO_SHOW)
    book(MONDAY, 10, Status.CANCELLED, cancel_reason="patient", late_cancel=True)
    book(MONDAY, 11, Status.CANCELLED, cancel_reason="patient")  # early: not counted
    book(WEEK[3], 8, Status.NO_SHOW)
    book(WEEK[6], 8, Status.COMPLETED)
    book(MONDAY + dt.timedelta(days=7), 8, Status.NO_SHOW)  # next week

    numerator, denominator, _ = week_parts(clinic, "no_show_rate")
    drill = registry.get("no_show_rate").drill(clinic, WEEK[0], WEEK[-1])

    assert len(drill.rows) == denominator == 5
    flags = [row[drill.columns.index("No-show")] for row in drill.rows]
    assert flags.count("yes") == numerator == 2
    assert flags[:2] == ["yes", "yes"]  # the no-shows first
    assert drill.rows[0][drill.columns.index("Patient MRN")] == no_show.patient.mrn
    assert drill.patient_ids[0] == no_show.patient_id


def test_the_utilization_drilldown_gives_minutes_by_provider_and_day(
    clinic, provider, visit, template
) -> None:
    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(12))
    TemplateBlockFactory(template=template, weekday=2, start_time=dt.time(8), end_time=dt.time(10))
    second = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic], user__last_name="Apgar")
    other = ScheduleTemplateFactory(clinic=clinic, provider=second)
    TemplateBlockFactory(template=other, weekday=0, start_time=dt.time(13), end_time=dt.time(15))
    TemplateBlockFactory(template=other, weekday=4, start_time=dt.time(9), end_time=dt.time(10))
    ClinicClosureFactory(clinic=clinic, day=WEEK[4])  # Friday closed
    for hour in (8, 9, 10):
        AppointmentFactory(
            clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, hour)
        )
    AppointmentFactory(
        clinic=clinic, provider=second, appointment_type=visit, start=local(MONDAY, 13)
    )
    AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(WEEK[2], 8)
    )

    booked, bookable, _ = week_parts(clinic, "template_utilization")
    drill = registry.get("template_utilization").drill(clinic, WEEK[0], WEEK[-1])

    column = drill.columns.index
    assert sum(r[column("Minutes booked")] for r in drill.rows) == booked == 100
    assert sum(r[column("Bookable template minutes")] for r in drill.rows) == bookable == 480
    by_key = {(r[0], r[1]): (r[2], r[3]) for r in drill.rows}
    assert by_key[MONDAY, str(provider)] == (60, 240)
    assert by_key[MONDAY, str(second)] == (20, 120)
    assert by_key[WEEK[2], str(provider)] == (20, 120)
    assert by_key[WEEK[4], "(clinic closed)"] == (0, 0)


def test_the_tnaa_drilldown_lists_each_measurement_behind_the_figure(
    clinic, provider, visit, template, monkeypatch
) -> None:
    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(9))
    for minute in (0, 20, 40):
        AppointmentFactory(
            clinic=clinic,
            provider=provider,
            appointment_type=visit,
            start=local(MONDAY, 8, minute),
        )
    # The week is rolled up after it, as the night does: each morning is measured as it was
    # (a morning still to come cannot be measured yet).
    after_the_week = local(WEEK[-1] + dt.timedelta(days=1), 2, 5)
    monkeypatch.setattr("django.utils.timezone.now", lambda: after_the_week)

    _, count, pairs = week_parts(clinic, "tnaa_days")
    drill = registry.get("tnaa_days").drill(clinic, WEEK[0], WEEK[-1])

    column = drill.columns.index
    assert len(drill.rows) == count == 7
    assert sorted(
        (str(provider), float(r[column("Days to third open slot")])) for r in drill.rows
    ) == sorted((str(provider), v) for _, v in pairs)
    monday = next(r for r in drill.rows if r[0] == MONDAY)
    # Monday's three slots are booked: the third open one is next Monday's 08:40
    assert monday[column("Days to third open slot")] == 7
    assert monday[column("On")] == MONDAY + dt.timedelta(days=7)


def test_the_tnaa_drilldown_shows_the_mornings_three_slots_not_todays(
    clinic, provider, visit, template, front_desk, make_patient, monkeypatch
) -> None:
    """Monday's four 20-minute slots (08:00-09:20) are booked the week before, so at 07:00 the
    first three open slots are Tuesday's. Bookings cancelled and marked no-show after the
    measurement do not change the rows: they are the morning's, and they are the stored
    figure's (Tuesday 08:40 is the third: 1 day)."""

    for weekday in range(5):
        TemplateBlockFactory(
            template=template, weekday=weekday, start_time=dt.time(8), end_time=dt.time(9, 20)
        )
    clock = {"now": local(MONDAY - dt.timedelta(days=7), 10)}
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock["now"])

    def book(start: dt.datetime) -> Appointment:
        return booking.book_appointment(
            actor=front_desk,
            clinic=clinic,
            patient=make_patient(),
            provider=provider,
            appointment_type=visit,
            start=start,
        ).appointment

    monday = [book(local(MONDAY, 8, m)) for m in (0, 20, 40)] + [book(local(MONDAY, 9))]
    clock["now"] = local(MONDAY, 7, 30)
    transitions.cancel_appointment(actor=front_desk, appointment=monday[0], reason="patient")
    clock["now"] = local(MONDAY, 9, 30)
    transitions.mark_no_show(actor=front_desk, appointment=monday[1])
    clock["now"] = local(MONDAY + dt.timedelta(days=1), 2, 5)

    kpi_services.rollup_clinic_days(clinic=clinic, days=[MONDAY])
    stored = MetricDay.objects.get(clinic=clinic, key="tnaa_days", day=MONDAY)
    drill = registry.get("tnaa_days").drill(clinic, MONDAY, MONDAY)

    column = drill.columns.index
    (row,) = drill.rows
    tuesday = MONDAY + dt.timedelta(days=1)
    assert [row[column(c)] for c in ("First open slot", "Second open slot", "Third open slot")] == [
        local(tuesday, 8),
        local(tuesday, 8, 20),
        local(tuesday, 8, 40),
    ]
    assert row[column("Measured at")] == local(MONDAY, 7)
    assert [float(row[column("Days to third open slot")])] == stored.values == [1.0]
    assert row[column("On")] == tuesday


def test_the_utilization_drilldown_keeps_minutes_booked_on_a_closure_day(
    clinic, provider, visit, template
) -> None:
    """The rule in force: a closure day has no bookable minutes, but what is still booked on
    it counts, so the drill-down lists those minutes and the rows add up to the figure."""
    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(12))
    TemplateBlockFactory(template=template, weekday=1, start_time=dt.time(8), end_time=dt.time(12))
    ClinicClosureFactory(clinic=clinic, day=WEEK[1])  # Tuesday closed, one booking left on it
    AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 8)
    )
    AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(WEEK[1], 8)
    )

    booked, bookable, _ = week_parts(clinic, "template_utilization")
    drill = registry.get("template_utilization").drill(clinic, WEEK[0], WEEK[-1])

    column = drill.columns.index
    assert sum(r[column("Minutes booked")] for r in drill.rows) == booked == 40
    assert sum(r[column("Bookable template minutes")] for r in drill.rows) == bookable == 240
    tuesday = [r for r in drill.rows if r[0] == WEEK[1]]
    assert [
        (r[column("Minutes booked")], r[column("Bookable template minutes")]) for r in tuesday
    ] == [(20, 0)]
