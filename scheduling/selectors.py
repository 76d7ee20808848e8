"""Scheduling reads, already scoped to the clinics the user works in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from clinicops.core.models import Clinic, Coverage, Patient, Staff, User

from . import availability
from .models import (
    Appointment,
    AppointmentEvent,
    AppointmentType,
    ProviderTimeOff,
    ScheduleTemplate,
    VisitTypeCopay,
    WaitlistEntry,
    WaitlistOffer,
)


def appointments_for_day(
    *, user: User, clinic: Clinic, day: date, provider: Staff | None = None
) -> QuerySet[Appointment]:
    """A clinic's appointments starting on a local day (all statuses), by start and provider."""
    start, end = availability.day_bounds_utc(day, clinic.tz)
    qs = (
        Appointment.objects.for_user(user)
        .filter(clinic=clinic, start__gte=start, start__lt=end)
        .select_related("patient", "provider__user", "appointment_type", "room")
        .order_by("start", "provider_id")
    )
    if provider is not None:
        qs = qs.filter(provider=provider)
    return qs


def appointments_for_provider_week(
    *, user: User, clinic: Clinic, provider: Staff, week_start: date
) -> QuerySet[Appointment]:
    start, _ = availability.day_bounds_utc(week_start, clinic.tz)
    _, end = availability.day_bounds_utc(week_start + timedelta(days=6), clinic.tz)
    return (
        Appointment.objects.for_user(user)
        .filter(clinic=clinic, provider=provider, start__gte=start, start__lt=end)
        .select_related("patient", "appointment_type", "room")
        .order_by("start")
    )


def providers_for_clinic(*, user: User, clinic: Clinic, day: date) -> QuerySet[Staff]:
    """The providers with a schedule template at the clinic in effect on `day`."""
    if clinic.pk not in user.clinic_ids and not user.is_superuser:
        return Staff.objects.none()
    # One query: the template lookup is a subquery.
    ids = (
        ScheduleTemplate.objects.filter(clinic=clinic, effective_from__lte=day)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=day))
        .values("provider_id")
    )
    return Staff.objects.filter(pk__in=ids).select_related("user")


@dataclass
class PatientAppointments:
    upcoming: list[Appointment]
    past: list[Appointment]
    no_show_count: int


def patient_appointments(
    *, user: User, patient: Patient, now: datetime | None = None
) -> PatientAppointments:
    """A patient's upcoming and past appointments, with their no-show count."""
    now = now or timezone.now()
    qs = (
        Appointment.objects.for_user(user)
        .filter(patient=patient)
        .select_related("provider__user", "appointment_type", "clinic")
    )
    # One query, split here. An appointment that is over (completed, or a no-show) is past
    # even when its booked end is still ahead: today's finished visit is history.
    done = {Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW}
    rows = list(qs.order_by("start"))
    upcoming = [a for a in rows if a.end > now and a.status not in done]
    past = [a for a in reversed(rows) if not (a.end > now and a.status not in done)]
    return PatientAppointments(
        upcoming=upcoming,
        past=past,
        no_show_count=sum(a.status == Appointment.Status.NO_SHOW for a in rows),
    )


def appointment_history(*, user: User, appointment: Appointment) -> QuerySet[AppointmentEvent]:
    return (
        AppointmentEvent.objects.for_user(user)
        .filter(appointment=appointment)
        .select_related("actor")
        .order_by("at", "pk")
    )


def appointments_to_move(*, user: User, time_off: ProviderTimeOff) -> QuerySet[Appointment]:
    """Booked or confirmed appointments that fall into a provider's time off."""
    return (
        Appointment.objects.for_user(user)
        .filter(
            provider_id=time_off.provider_id,
            status__in=(Appointment.Status.BOOKED, Appointment.Status.CONFIRMED),
        )
        .overlapping(time_off.start, time_off.end)
        .select_related("patient", "clinic", "appointment_type")
        .order_by("start")
    )


def open_waitlist_offers(*, user: User, clinic: Clinic) -> QuerySet[WaitlistOffer]:
    """Freed slots waiting for the front desk to offer them, soonest first."""
    return (
        WaitlistOffer.objects.for_user(user)
        .filter(
            entry__clinic=clinic,
            status=WaitlistOffer.Status.OPEN,
            start__gt=timezone.now(),
        )
        .select_related("entry__patient", "entry__appointment_type", "provider__user")
        .order_by("start", "created_at")
    )


def waitlist(*, user: User, clinic: Clinic) -> QuerySet[WaitlistEntry]:
    return (
        WaitlistEntry.objects.for_user(user)
        .filter(clinic=clinic, status=WaitlistEntry.Status.WAITING)
        .select_related("patient", "appointment_type", "provider__user")
        .order_by("created_at")
    )


@dataclass(frozen=True)
class PreviewSlot:
    start: datetime
    end: datetime
    kind: str
    block_id: int


def template_week_preview(
    *, template: ScheduleTemplate, week_start: date
) -> dict[date, list[PreviewSlot]]:
    """The slots a template produces in one week (bookings ignored), for the template editor."""
    clinic = template.clinic
    tz = clinic.tz
    preview: dict[date, list[PreviewSlot]] = {}
    blocks = list(template.blocks.all())
    for offset in range(7):
        day = week_start + timedelta(days=offset)
        slots: list[PreviewSlot] = []
        if template.covers(day):
            for block in sorted(blocks, key=lambda b: b.start_time):
                if block.weekday != day.weekday():
                    continue
                start = availability.local_datetime(day, block.start_time, tz)
                end = availability.local_datetime(day, block.end_time, tz)
                step = timedelta(minutes=block.slot_minutes)
                while start + step <= end:
                    slots.append(PreviewSlot(start, start + step, block.kind, block.pk))
                    start += step
        preview[day] = slots
    return preview


@dataclass(frozen=True)
class ExpectedCopay:
    """What the patient is expected to pay at check-in, and where the figure comes from."""

    amount: Decimal | None  # a fixed copay, prefilled
    percent: Decimal | None  # coinsurance: a share of the visit's charge, known at billing
    source: str  # "Aetna copay for New patient visit", "Aetna plan copay"


def expected_copay(
    *, coverage: Coverage | None, appointment_type: AppointmentType
) -> ExpectedCopay | None:
    """The copay for a visit of `appointment_type` under `coverage` (the patient's primary
    active one): the payer's copay for that visit type where it has one, else the plan's.
    None without coverage, or when neither is on file."""
    if coverage is None:
        return None
    from . import refcache  # reference data: the payers' copays change rarely

    # (amount, percent) of the payer's copay for this visit type, or () when it has none.
    rule = refcache.cached(
        f"copay:{coverage.payer_id}:{appointment_type.pk}",
        lambda: next(
            iter(
                VisitTypeCopay.objects.filter(
                    payer_id=coverage.payer_id, appointment_type=appointment_type
                ).values_list("amount", "percent")
            ),
            (),
        ),
    )
    if rule:
        return ExpectedCopay(
            rule[0], rule[1], f"{coverage.payer.name} copay for {appointment_type.name}"
        )
    if coverage.copay_amount is None and coverage.copay_percent is None:
        return None
    return ExpectedCopay(
        coverage.copay_amount, coverage.copay_percent, f"{coverage.payer.name} plan copay"
    )
