"""Scheduling metrics against hand-computed examples."""

from __future__ import annotations

import datetime as dt

import pytest

from clinicops.core import roles
from clinicops.core.tests.factories import StaffFactory
from clinicops.kpis import registry
from scheduling import kpis
from scheduling.models import Appointment, TemplateBlock
from scheduling.tests.conftest import MONDAY, local
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ClinicClosureFactory,
    ProviderTimeOffFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

pytestmark = pytest.mark.django_db

Status = Appointment.Status


def _appt(clinic, provider, visit, hour, minute=0, day=MONDAY, **fields):
    return AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(day, hour, minute),
        **fields,
    )


def test_no_show_rate_parts(clinic, provider, visit) -> None:
    """Monday: 2 completed, 1 no-show, 1 late cancel, 1 early cancel, 1 rescheduled late.

    Denominator: completed 2 + no-show 1 + late cancel 1 = 4 (the early cancel left before
    the window; the rescheduled one is replaced by its new appointment). Numerator: 1.
    """
    _appt(clinic, provider, visit, 8, status=Status.COMPLETED)
    _appt(clinic, provider, visit, 8, 20, status=Status.COMPLETED)
    _appt(clinic, provider, visit, 8, 40, status=Status.NO_SHOW)
    _appt(
        clinic,
        provider,
        visit,
        9,
        status=Status.CANCELLED,
        cancel_reason="patient",
        late_cancel=True,
    )
    _appt(clinic, provider, visit, 9, 20, status=Status.CANCELLED, cancel_reason="patient")
    _appt(
        clinic,
        provider,
        visit,
        9,
        40,
        status=Status.CANCELLED,
        cancel_reason="rescheduled",
        late_cancel=True,
    )
    # Tuesday, and 23:30 Sunday local (04:30 UTC Monday): not Monday's.
    _appt(clinic, provider, visit, 8, day=MONDAY + dt.timedelta(days=1), status=Status.NO_SHOW)
    _appt(clinic, provider, visit, 23, 30, day=MONDAY - dt.timedelta(days=1), status=Status.NO_SHOW)
    assert kpis.no_show_rate_parts(clinic, MONDAY) == (1, 4)


def test_no_show_rate_parts_empty_day(clinic) -> None:
    assert kpis.no_show_rate_parts(clinic, MONDAY) == (0, 0)


def test_template_utilization_parts(clinic, provider, visit, template) -> None:
    """Template: 08-12 regular (240), 12-13 admin (not counted), 13-14 hold (60), 14-15
    buffer (60) = 360 bookable; time off 10:00-11:00 leaves 300.

    Booked: two 20-minute completed + a 20-minute no-show + a 40-minute arrived = 100;
    the cancelled one does not count.
    """
    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(12))
    TemplateBlockFactory(
        template=template,
        weekday=0,
        start_time=dt.time(12),
        end_time=dt.time(13),
        kind=TemplateBlock.Kind.ADMIN,
    )
    TemplateBlockFactory(
        template=template,
        weekday=0,
        start_time=dt.time(13),
        end_time=dt.time(14),
        kind=TemplateBlock.Kind.SAME_DAY_HOLD,
    )
    TemplateBlockFactory(
        template=template,
        weekday=0,
        start_time=dt.time(14),
        end_time=dt.time(15),
        kind=TemplateBlock.Kind.BUFFER,
    )
    TemplateBlockFactory(template=template, weekday=1)  # Tuesday: not Monday's
    ProviderTimeOffFactory(provider=provider, start=local(MONDAY, 10), end=local(MONDAY, 11))
    long_visit = AppointmentTypeFactory(clinic=clinic, name="Long", duration_minutes=40)
    _appt(clinic, provider, visit, 8, status=Status.COMPLETED)
    _appt(clinic, provider, visit, 8, 20, status=Status.COMPLETED)
    _appt(clinic, provider, visit, 8, 40, status=Status.NO_SHOW)
    _appt(clinic, provider, long_visit, 9, status=Status.ARRIVED)
    _appt(clinic, provider, visit, 11, status=Status.CANCELLED, cancel_reason="patient")
    assert kpis.template_utilization_parts(clinic, MONDAY) == (100, 300)


def test_template_utilization_with_two_providers_and_a_closure(clinic, visit, template) -> None:
    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(9))
    second = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
    other_template = ScheduleTemplateFactory(clinic=clinic, provider=second)
    TemplateBlockFactory(
        template=other_template, weekday=0, start_time=dt.time(8), end_time=dt.time(8, 30)
    )
    assert kpis.template_utilization_parts(clinic, MONDAY) == (0, 90)
    ClinicClosureFactory(clinic=clinic, day=MONDAY)
    assert kpis.template_utilization_parts(clinic, MONDAY) == (0, 0)


def test_tnaa_days_values_and_period_figure(clinic, visit, provider, template) -> None:
    """Provider A: Mondays 08:00-09:00 (three 20-minute slots), Monday 1 March fully booked:
    measured Friday 26 Feb, the third slot is Mon 8 Mar 08:40 -> 10 days.
    Provider B: Fridays 10:00-11:00 from 26 Feb, all free: third slot 26 Feb 10:40 -> 0 days.
    """
    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(9))
    for minute in (0, 20, 40):
        _appt(clinic, provider, visit, 8, minute)
    second = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
    other_template = ScheduleTemplateFactory(clinic=clinic, provider=second)
    TemplateBlockFactory(
        template=other_template,
        weekday=4,
        start_time=dt.time(10),
        end_time=dt.time(11),
        types=[visit],
    )
    friday = dt.date(2027, 2, 26)
    values = kpis.tnaa_days_values(clinic, friday, now=local(friday, 7))
    assert sorted(values) == sorted(
        [kpis.TnaaValue(provider.pk, visit.pk, 10), kpis.TnaaValue(second.pk, visit.pk, 0)]
    )
    # The period figure: mean over providers of each one's mean daily value.
    day_two = [kpis.TnaaValue(provider.pk, visit.pk, 6), kpis.TnaaValue(second.pk, visit.pk, 2)]
    assert kpis.tnaa_period_figure([*values, *day_two]) == pytest.approx(((10 + 6) / 2 + 1) / 2)
    assert kpis.tnaa_period_figure([]) is None


def test_metrics_are_registered_with_their_parts() -> None:
    assert registry.get("no_show_rate").compute is kpis.no_show_rate_parts
    assert registry.get("template_utilization").direction == registry.Direction.BAND
    tnaa = registry.get("tnaa_days")
    assert tnaa.kind == registry.Kind.MEAN_OF_MEANS
    assert tnaa.point_in_time
    # Two providers: (10 + 6) / 2 = 8 and 0 -> a period figure of 4 from the parts.
    parts = tnaa.as_parts(
        [kpis.TnaaValue(1, 5, 10), kpis.TnaaValue(1, 6, 6), kpis.TnaaValue(2, 5, 0)]
    )
    assert parts.denominator == 3


def test_tnaa_is_the_mornings_figure_whatever_happens_later_that_day(
    clinic, provider, visit, template, front_desk, make_patient, monkeypatch
) -> None:
    """Weekdays 08:00-09:20 (four 20-minute slots). Everything on Monday is booked the week
    before, so at 07:00 Monday the third open slot is Tuesday's: TNAA 1 day. Then, after the
    morning measurement, two Monday bookings are cancelled, one is marked a no-show and a
    Tuesday slot is booked. Measured that morning, measured by the nightly run and measured by
    a backfill months later, the figure is the morning's: 1. (Measured from the bookings as
    they stand now it would be 0: three Monday slots look open.)"""
    from clinicops.kpis import services as kpi_services
    from clinicops.kpis.models import MetricDay
    from scheduling.services import booking, transitions

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

    monday = [book(local(MONDAY, 8) + dt.timedelta(minutes=m)) for m in (0, 20, 40, 60)]
    clock["now"] = local(MONDAY, 7)
    at_the_time = kpis.tnaa_days_values(clinic, MONDAY)
    assert at_the_time == [kpis.TnaaValue(provider.pk, visit.pk, 1)]

    clock["now"] = local(MONDAY, 7, 30)
    transitions.cancel_appointment(actor=front_desk, appointment=monday[0], reason="patient")
    transitions.cancel_appointment(actor=front_desk, appointment=monday[1], reason="rescheduled")
    clock["now"] = local(MONDAY, 9, 30)
    transitions.mark_no_show(actor=front_desk, appointment=monday[2])
    book(local(MONDAY + dt.timedelta(days=1), 8))
    assert len(Appointment.objects.filter(status=Status.BOOKED)) == 2

    clock["now"] = local(MONDAY + dt.timedelta(days=1), 2, 5)  # the nightly run
    assert kpis.tnaa_days_values(clinic, MONDAY) == at_the_time
    kpi_services.rollup_clinic_days(clinic=clinic, days=[MONDAY])
    clock["now"] = local(MONDAY + dt.timedelta(days=200), 12)  # a backfill, months later
    assert kpis.tnaa_days_range(clinic, MONDAY, MONDAY) == {MONDAY: at_the_time}
    kpi_services.rollup_clinic_days(clinic=clinic, days=[MONDAY], force=True)
    row = MetricDay.objects.get(clinic=clinic, key="tnaa_days", day=MONDAY)
    assert (row.values, row.groups) == ([1.0], [provider.pk])


def test_tnaa_counts_a_cancellation_undone_before_the_morning_as_never_freed(
    clinic, provider, visit, template, front_desk, make_patient, monkeypatch
) -> None:
    """Monday 08:00-09:00 (three slots), all booked the week before: TNAA is 7 days. Their
    cancellations, each taken back within seconds before the morning's measurement, leave the
    slots held: still 7, not 0 (the cancel events alone would say the slots were freed)."""
    from scheduling.services import booking, transitions

    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(9))
    clock = {"now": local(MONDAY - dt.timedelta(days=7), 10)}
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock["now"])
    booked = [
        booking.book_appointment(
            actor=front_desk,
            clinic=clinic,
            patient=make_patient(),
            provider=provider,
            appointment_type=visit,
            start=local(MONDAY, 8) + dt.timedelta(minutes=m),
        ).appointment
        for m in (0, 20, 40)
    ]
    for appointment in booked:
        clock["now"] = local(MONDAY - dt.timedelta(days=1), 18)
        transitions.cancel_appointment(actor=front_desk, appointment=appointment, reason="patient")
        clock["now"] += dt.timedelta(seconds=5)
        transitions.undo_cancellation(actor=front_desk, appointment=appointment)
    clock["now"] = local(MONDAY + dt.timedelta(days=1), 2)
    assert kpis.tnaa_days_values(clinic, MONDAY) == [kpis.TnaaValue(provider.pk, visit.pk, 7)]


def test_tnaa_is_measured_at_the_clinics_measurement_time(
    clinic, provider, visit, template, monkeypatch
) -> None:
    """Monday 08:00-09:00 only: measured at 07:00 the three Monday slots are open (0 days);
    measured at 08:30 (the clinic's setting) only 08:40 is left, so the third slot is the next
    Monday's (7 days)."""
    from clinicops.kpis.models import KpiSettings

    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(9))
    monkeypatch.setattr(
        "django.utils.timezone.now", lambda: local(MONDAY + dt.timedelta(days=1), 2)
    )
    assert kpis.tnaa_days_values(clinic, MONDAY) == [kpis.TnaaValue(provider.pk, visit.pk, 0)]
    KpiSettings.objects.create(clinic=clinic, measure_time=dt.time(8, 30))
    assert kpis.tnaa_days_values(clinic, MONDAY) == [kpis.TnaaValue(provider.pk, visit.pk, 7)]


def test_utilization_keeps_the_minutes_booked_on_a_closure_day(clinic, provider, visit, template):
    """shared/KPIS.md: booked minutes are not cancelled appointments, closure or not; only the
    bookable minutes are net of the closure."""
    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(9))
    _appt(clinic, provider, visit, 8, status=Status.COMPLETED)
    ClinicClosureFactory(clinic=clinic, day=MONDAY)
    assert kpis.template_utilization_parts(clinic, MONDAY) == (20, 0)
    assert kpis.template_utilization_range(clinic, MONDAY, MONDAY) == {MONDAY: (20, 0)}


def test_every_scheduling_metric_says_how_it_is_computed() -> None:
    tnaa = registry.get("tnaa_days").definition
    for phrase in ("07:00", "as it stood", "scores 90"):
        assert phrase in tnaa
    assert "reschedule" in registry.get("no_show_rate").definition
    assert "closure day" in registry.get("template_utilization").definition
