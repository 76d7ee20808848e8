"""The verbs of scheduling. Each runs in one transaction with its audit entry inside.

No double booking is the database's job (exclusion constraints on the appointment table);
the booking service turns the constraint's error into `SlotTaken`. Counting rules that a
constraint cannot express (overbooks per block, a patient booked twice) take a lock first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, models, transaction
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.fields import MAX_SUBMISSION_KEY_LENGTH
from clinicops.core.models import Clinic, Patient, Room, Staff, User

from . import availability
from .models import (
    MAX_APPOINTMENT_LENGTH,
    Appointment,
    AppointmentEvent,
    AppointmentType,
    ClinicClosure,
    ProviderTimeOff,
    ScheduleTemplate,
    SchedulingSettings,
    TemplateBlock,
    WaitlistEntry,
    WaitlistOffer,
)

Status = Appointment.Status

CONFIRM_SALT = "scheduling.confirm"
CONFIRM_MAX_AGE = timedelta(days=30)
# pg_advisory_xact_lock(key1, key2) namespace for "this patient is being booked": an arbitrary
# fixed number, so patient locks never collide with other advisory locks.
PATIENT_LOCK_NAMESPACE = 0x5343  # "SC"
# The same for "this form rendering (submission key) is being booked".
SUBMISSION_LOCK_NAMESPACE = 0x5355  # "SU"


class SchedulingError(Exception):
    """A booking or status change refused for a reason the user can act on."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class SlotTaken(SchedulingError):
    """Someone else booked the time (or the room) first."""


class RoomTaken(SlotTaken):
    pass


class PatientDoubleBooked(SchedulingError):
    pass


class OverbookRefused(SchedulingError):
    pass


class IllegalTransition(SchedulingError):
    pass


@dataclass
class BookingResult:
    appointment: Appointment
    warnings: list[str] = field(default_factory=list)
    # True when this was a repeat of a submission that had already booked `appointment`.
    replayed: bool = False


@dataclass
class CancelResult:
    appointment: Appointment
    offers: list[WaitlistOffer] = field(default_factory=list)


@dataclass
class AffectedResult:
    """Something that removes slots, and the booked appointments now to be moved."""

    obj: Any
    affected: list[Appointment] = field(default_factory=list)


# --- helpers ----------------------------------------------------------------------------


def _actor_label(actor: Any) -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return str(actor) if actor else "system"


def _user_or_none(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


def _require_clinic(actor: Any, clinic_id: int) -> None:
    user = _user_or_none(actor)
    if user is not None and not user.is_superuser and clinic_id not in user.clinic_ids:
        raise SchedulingError("You do not work at this clinic.", field="clinic")


def _local(clinic: Clinic, moment: datetime) -> str:
    return f"{moment.astimezone(clinic.tz):%a %d %b %Y %H:%M}"


def _constraint_name(error: IntegrityError) -> str:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


def _add_event(appointment: Appointment, *, actor: Any, from_status: str, note: str = "") -> None:
    AppointmentEvent.objects.create(
        appointment=appointment,
        at=timezone.now(),
        actor=_user_or_none(actor),
        actor_label=_actor_label(actor),
        from_status=from_status,
        to_status=appointment.status,
        note=note[:255],
    )


def _lock(appointment: Appointment | int) -> Appointment:
    pk = appointment if isinstance(appointment, int) else appointment.pk
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient", "provider__user", "appointment_type")
        .get(pk=pk)
    )


# --- booking ----------------------------------------------------------------------------


def _check_submission_key(key: str) -> str:
    key = (key or "").strip()
    if len(key) > MAX_SUBMISSION_KEY_LENGTH or not key.isprintable():
        raise SchedulingError(
            "This screen is out of date; reload it and try again.", field="submission_key"
        )
    return key


def booked_by_submission(*, actor: Any, submission_key: str) -> Appointment | None:
    """Hold the lock of one form rendering's submissions, and find what an earlier one booked.

    Call it inside the transaction that books: a concurrent repeat of the same submission waits
    here until the first commits (or rolls back), then finds its appointment. None for an empty
    key or an actor that is not a user (nothing to look up).
    """
    user = _user_or_none(actor)
    key = _check_submission_key(submission_key)
    if not key or user is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [SUBMISSION_LOCK_NAMESPACE, f"{user.pk}:{key}"],
        )
    related = ("clinic", "patient", "provider__user", "appointment_type")
    return (
        Appointment.objects.select_related(*related)
        .filter(booked_by=user, submission_key=key)
        .first()
    )


def book_appointment(
    *,
    actor: User,
    clinic: Clinic,
    patient: Patient,
    provider: Staff,
    appointment_type: AppointmentType,
    start: datetime,
    end: datetime | None = None,
    room: Room | None = None,
    notes: str = "",
    overbook: bool = False,
    overbook_reason: str = "",
    allow_buffer: bool = False,
    now: datetime | None = None,
    submission_key: str = "",
) -> BookingResult:
    """Book a patient into a provider's slot; `SlotTaken` if the time went meanwhile.

    With a `submission_key`, a repeat of the submission that booked (sequential or concurrent)
    gets that appointment back with `replayed=True` and books nothing.
    """
    with transaction.atomic():
        earlier = booked_by_submission(actor=actor, submission_key=submission_key)
        if earlier is not None:
            return BookingResult(earlier, replayed=True)
        return _book(
            actor=actor,
            clinic=clinic,
            patient=patient,
            provider=provider,
            appointment_type=appointment_type,
            start=start,
            end=end,
            room=room,
            notes=notes,
            overbook=overbook,
            overbook_reason=overbook_reason,
            allow_buffer=allow_buffer,
            now=now or timezone.now(),
            submission_key=_check_submission_key(submission_key),
        )


def _validate_booking(
    *,
    actor: User,
    clinic: Clinic,
    patient: Patient,
    provider: Staff,
    appointment_type: AppointmentType,
    start: datetime,
    end: datetime | None,
    room: Room | None,
    now: datetime,
) -> datetime:
    """Check the booking's inputs against each other; return its end."""
    _require_clinic(actor, clinic.pk)
    if timezone.is_naive(start):
        raise SchedulingError("The start needs a time zone.", field="start")
    if patient.clinic_id != clinic.pk:
        raise SchedulingError("This patient is not registered at this clinic.", field="patient")
    if not patient.is_active:
        raise SchedulingError("This patient's record is inactive.", field="patient")
    if appointment_type.clinic_id != clinic.pk or not appointment_type.is_active:
        raise SchedulingError(
            "This appointment type is not offered at this clinic.", field="appointment_type"
        )
    if not provider.clinics.filter(pk=clinic.pk).exists():
        raise SchedulingError("This provider does not work at this clinic.", field="provider")
    if end is None:
        end = start + appointment_type.duration
    elif timezone.is_naive(end):
        raise SchedulingError("The end needs a time zone.", field="end")
    if end <= start:
        raise SchedulingError("The end must be after the start.", field="end")
    if end - start > MAX_APPOINTMENT_LENGTH:
        raise SchedulingError("An appointment can last at most 12 hours.", field="end")
    if end <= now:
        raise SchedulingError("That time has already passed.", field="start")
    if room is not None:
        if room.clinic_id != clinic.pk or not room.is_active:
            raise SchedulingError("That room is not in use at this clinic.", field="room")
        if appointment_type.room_kind and room.kind != appointment_type.room_kind:
            raise SchedulingError(
                f"This visit needs a room of kind “{appointment_type.get_room_kind_display()}”.",
                field="room",
            )
    return end


def _book(
    *,
    actor: User,
    clinic: Clinic,
    patient: Patient,
    provider: Staff,
    appointment_type: AppointmentType,
    start: datetime,
    end: datetime | None,
    room: Room | None,
    notes: str,
    overbook: bool,
    overbook_reason: str,
    allow_buffer: bool,
    now: datetime,
    rescheduled_from: Appointment | None = None,
    submission_key: str = "",
) -> BookingResult:
    end = _validate_booking(
        actor=actor,
        clinic=clinic,
        patient=patient,
        provider=provider,
        appointment_type=appointment_type,
        start=start,
        end=end,
        room=room,
        now=now,
    )
    match = availability.match_block(
        clinic=clinic,
        provider_id=provider.pk,
        type_id=appointment_type.pk,
        start=start,
        end=end,
        now=now,
        allow_buffer=allow_buffer,
    )
    if match.block is None:
        raise SchedulingError(match.problem, field="start")
    if ProviderTimeOff.objects.filter(provider=provider, start__lt=end, end__gt=start).exists():
        raise SchedulingError("The provider is away (time off) at that time.", field="start")

    warnings: list[str] = []
    # Serialise bookings of one patient, so two desks cannot both miss each other's booking.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PATIENT_LOCK_NAMESPACE, patient.pk])
    clash = (
        Appointment.objects.live()
        .filter(patient=patient)
        .overlapping(start, end)
        .select_related("clinic")
        .first()
    )
    if clash is not None:
        message = f"{patient} already has an appointment at {_local(clash.clinic, clash.start)}."
        if SchedulingSettings.for_clinic(clinic).refuse_patient_double_booking:
            raise PatientDoubleBooked(message, field="patient")
        warnings.append(message)

    if overbook:
        _check_overbook(
            actor=actor,
            provider=provider,
            block_id=match.block.id,
            clinic=clinic,
            start=start,
            reason=overbook_reason,
        )

    appointment = Appointment(
        clinic=clinic,
        patient=patient,
        provider=provider,
        appointment_type=appointment_type,
        start=start,
        end=end,
        notes=notes,
        is_overbook=overbook,
        overbook_reason=overbook_reason.strip() if overbook else "",
        booked_by=_user_or_none(actor),
        rescheduled_from=rescheduled_from,
        submission_key=submission_key if _user_or_none(actor) is not None else "",
    )
    if room is not None:
        candidates = [room.pk]
    elif appointment_type.room_kind:
        candidates = availability.free_rooms(
            clinic=clinic, room_kind=appointment_type.room_kind, start=start, end=end
        )
        if not candidates:
            raise RoomTaken(
                f"No {appointment_type.get_room_kind_display().lower()} is free at that time.",
                field="room",
            )
    else:
        candidates = [None]  # type: ignore[list-item]
    _insert(appointment, clinic=clinic, provider=provider, room_ids=candidates)

    _add_event(appointment, actor=actor, from_status="", note="overbook" if overbook else "")
    audit.record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        obj=appointment,
        patient=patient,
        clinic=clinic,
        summary=(
            f"Booked {appointment_type.name} with {provider} at {_local(clinic, start)}"
            + (" (overbook)" if overbook else "")
            + (" (rescheduled)" if rescheduled_from else "")
        ),
        changes=audit.snapshot(appointment, Appointment.AUDITED_FIELDS),
    )
    return BookingResult(appointment, warnings)


def _insert(
    appointment: Appointment, *, clinic: Clinic, provider: Staff, room_ids: list[int | None]
) -> None:
    """Insert, trying each candidate room; the exclusion constraints decide who wins."""
    for index, room_id in enumerate(room_ids):
        appointment.room_id = room_id
        try:
            with transaction.atomic():
                appointment.save(force_insert=True)
            return
        except IntegrityError as error:
            appointment.pk = None
            constraint = _constraint_name(error)
            if constraint == "appt_no_provider_overlap":
                raise SlotTaken(
                    f"That slot was just taken: {provider} already has an appointment at "
                    f"{_local(clinic, appointment.start)}. Pick another slot.",
                    field="start",
                ) from error
            if constraint == "appt_no_room_overlap":
                if index + 1 < len(room_ids):
                    continue
                raise RoomTaken(
                    "That room was just taken for this time. Pick another slot or room.",
                    field="room",
                ) from error
            raise


def _check_overbook(
    *,
    actor: User,
    provider: Staff,
    block_id: int,
    clinic: Clinic,
    start: datetime,
    reason: str,
) -> None:
    if not actor.has_perm("scheduling.overbook_appointment"):
        raise OverbookRefused("You do not have permission to overbook.", field="overbook")
    if not reason.strip():
        raise OverbookRefused("Give the reason for this overbook.", field="overbook_reason")
    # The block row is the lock: overbooks of one block are counted one booking at a time.
    block = TemplateBlock.objects.select_for_update().get(pk=block_id)
    day = start.astimezone(clinic.tz).date()
    block_start = availability.local_datetime(day, block.start_time, clinic.tz)
    block_end = availability.local_datetime(day, block.end_time, clinic.tz)
    used = (
        Appointment.objects.live()
        .filter(provider=provider, is_overbook=True, start__gte=block_start, start__lt=block_end)
        .count()
    )
    if used >= block.overbook_limit:
        raise OverbookRefused(
            f"This block allows {block.overbook_limit} overbook(s) a day and has {used}.",
            field="overbook",
        )


# --- status changes ---------------------------------------------------------------------


def _transition(
    *,
    actor: Any,
    appointment: Appointment | int,
    to: str,
    note: str = "",
    **fields: Any,
) -> Appointment:
    """Move an appointment to status `to` if the status machine allows it."""
    appt = _lock(appointment)
    _require_clinic(actor, appt.clinic_id)
    if not appt.can_become(to):
        raise IllegalTransition(
            f"A {appt.get_status_display().lower()} appointment cannot become "
            f"{Status(to).label.lower()}.",
            field="status",
        )
    before = audit.snapshot(appt, Appointment.AUDITED_FIELDS)
    from_status = appt.status
    appt.status = to
    for name, value in fields.items():
        setattr(appt, name, value)
    appt.save(update_fields=["status", "updated_at", *fields])
    _add_event(appt, actor=actor, from_status=from_status, note=note)
    audit.record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        obj=appt,
        patient=appt.patient,
        clinic=appt.clinic_id,
        summary=f"Appointment {Status(from_status).label.lower()} → {Status(to).label.lower()}"
        + (f": {note}" if note else ""),
        changes=audit.diff(before, audit.snapshot(appt, Appointment.AUDITED_FIELDS)),
    )
    return appt


def confirm_appointment(
    *, actor: Any, appointment: Appointment | int, via: str = "staff"
) -> Appointment:
    """Mark booked → confirmed. Confirming twice (a link clicked again) changes nothing."""
    with transaction.atomic():
        appt = _lock(appointment)
        _require_clinic(actor, appt.clinic_id)
        if appt.status == Status.CONFIRMED:
            return appt
        if appt.end <= timezone.now():
            raise IllegalTransition("This appointment is already over.", field="status")
        return _transition(
            actor=actor,
            appointment=appt,
            to=Status.CONFIRMED,
            note=f"confirmed by {via}",
            confirmed_at=timezone.now(),
        )


def mark_arrived(
    *, actor: Any, appointment: Appointment | int, now: datetime | None = None
) -> Appointment:
    """The patient is here (patientflow's check-in calls this)."""
    now = now or timezone.now()
    with transaction.atomic():
        appt = _lock(appointment)
        tz = appt.clinic.tz
        if appt.start.astimezone(tz).date() != now.astimezone(tz).date():
            raise IllegalTransition(
                "A patient can only arrive on the day of the appointment.", field="status"
            )
        return _transition(actor=actor, appointment=appt, to=Status.ARRIVED)


def complete_appointment(*, actor: Any, appointment: Appointment | int) -> Appointment:
    """The visit is over (patientflow's checkout calls this)."""
    with transaction.atomic():
        return _transition(actor=actor, appointment=appointment, to=Status.COMPLETED)


def mark_no_show(
    *,
    actor: Any,
    appointment: Appointment | int,
    now: datetime | None = None,
    note: str = "",
) -> Appointment:
    """The patient did not come. Only once the appointment's start has passed."""
    now = now or timezone.now()
    with transaction.atomic():
        appt = _lock(appointment)
        if now < appt.start:
            raise IllegalTransition(
                "A no-show can only be recorded once the appointment has started.",
                field="status",
            )
        return _transition(actor=actor, appointment=appt, to=Status.NO_SHOW, note=note)


def cancel_appointment(
    *,
    actor: Any,
    appointment: Appointment | int,
    reason: str,
    note: str = "",
    now: datetime | None = None,
) -> CancelResult:
    """Cancel with a reason; late when inside the clinic's window. Offers the freed slot."""
    now = now or timezone.now()
    if reason not in Appointment.CancelReason.values:
        raise SchedulingError("Choose a reason for the cancellation.", field="reason")
    with transaction.atomic():
        appt = _cancel(actor=actor, appointment=appointment, reason=reason, note=note, now=now)
        offers = _offer_freed_slot(appt, now=now)
        return CancelResult(appt, offers)


def _cancel(
    *, actor: Any, appointment: Appointment | int, reason: str, note: str, now: datetime
) -> Appointment:
    appt = _lock(appointment)
    window = timedelta(hours=SchedulingSettings.for_clinic(appt.clinic_id).late_cancel_hours)
    return _transition(
        actor=actor,
        appointment=appt,
        to=Status.CANCELLED,
        note=Appointment.CancelReason(reason).label + (f": {note}" if note else ""),
        cancel_reason=reason,
        cancel_note=note[:255],
        cancelled_at=now,
        late_cancel=now > appt.start - window,
    )


def reschedule_appointment(
    *,
    actor: User,
    appointment: Appointment | int,
    start: datetime,
    provider: Staff | None = None,
    appointment_type: AppointmentType | None = None,
    room: Room | None = None,
    notes: str | None = None,
    now: datetime | None = None,
    submission_key: str = "",
) -> BookingResult:
    """Move an appointment: the old one is cancelled as rescheduled and linked to the new one.

    All in one transaction: if the new slot is taken, the old appointment stays as it was. A
    repeat of the submission that moved it gets the new appointment back (`replayed`).
    """
    now = now or timezone.now()
    with transaction.atomic():
        earlier = booked_by_submission(actor=actor, submission_key=submission_key)
        if earlier is not None:
            return BookingResult(earlier, replayed=True)
        old = _lock(appointment)
        _require_clinic(actor, old.clinic_id)
        if old.status not in (Status.BOOKED, Status.CONFIRMED):
            raise IllegalTransition(
                "Only a booked or confirmed appointment can be rescheduled.", field="status"
            )
        # Cancel first, so a move within the same hour does not collide with itself.
        old = _cancel(
            actor=actor,
            appointment=old,
            reason=Appointment.CancelReason.RESCHEDULED,
            note="",
            now=now,
        )
        result = _book(
            actor=actor,
            clinic=old.clinic,
            patient=old.patient,
            provider=provider or old.provider,
            appointment_type=appointment_type or old.appointment_type,
            start=start,
            end=None,
            room=room,
            notes=old.notes if notes is None else notes,
            overbook=False,
            overbook_reason="",
            allow_buffer=False,
            now=now,
            rescheduled_from=old,
            submission_key=_check_submission_key(submission_key),
        )
        new = result.appointment
        if not (new.provider_id == old.provider_id and new.start < old.end and old.start < new.end):
            _offer_freed_slot(old, now=now)
        return result


# --- waitlist ---------------------------------------------------------------------------


def add_to_waitlist(
    *,
    actor: User,
    clinic: Clinic,
    patient: Patient,
    appointment_type: AppointmentType,
    earliest: date,
    latest: date,
    provider: Staff | None = None,
    time_of_day: str = WaitlistEntry.TimeOfDay.ANY,
    notes: str = "",
) -> WaitlistEntry:
    """Put a patient on the waitlist for a type (and provider) between two dates."""
    _require_clinic(actor, clinic.pk)
    if patient.clinic_id != clinic.pk:
        raise SchedulingError("This patient is not registered at this clinic.", field="patient")
    if appointment_type.clinic_id != clinic.pk or not appointment_type.is_active:
        raise SchedulingError(
            "This appointment type is not offered at this clinic.", field="appointment_type"
        )
    if provider is not None and not provider.clinics.filter(pk=clinic.pk).exists():
        raise SchedulingError("This provider does not work at this clinic.", field="provider")
    if latest < earliest:
        raise SchedulingError("The latest date must not be before the earliest.", field="latest")
    if latest < clinic.today():
        raise SchedulingError("The latest date has already passed.", field="latest")
    if time_of_day not in WaitlistEntry.TimeOfDay.values:
        raise SchedulingError("Choose a time of day.", field="time_of_day")
    with transaction.atomic():
        entry = WaitlistEntry.objects.create(
            clinic=clinic,
            patient=patient,
            appointment_type=appointment_type,
            provider=provider,
            earliest=earliest,
            latest=latest,
            time_of_day=time_of_day,
            notes=notes,
            created_by=actor,
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=entry,
            patient=patient,
            clinic=clinic,
            summary=f"Waitlisted for {appointment_type.name} {earliest} to {latest}",
        )
        return entry


def remove_from_waitlist(*, actor: User, entry: WaitlistEntry) -> WaitlistEntry:
    """Take a patient off the waitlist (they found a slot elsewhere, or no longer need one)."""
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
        _require_clinic(actor, entry.clinic_id)
        if entry.status != WaitlistEntry.Status.WAITING:
            return entry
        entry.status = WaitlistEntry.Status.REMOVED
        entry.save(update_fields=["status"])
        entry.offers.filter(status=WaitlistOffer.Status.OPEN).update(
            status=WaitlistOffer.Status.EXPIRED, resolved_at=timezone.now()
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=entry,
            patient=entry.patient_id,
            clinic=entry.clinic_id,
            summary="Removed from the waitlist",
        )
        return entry


def _offer_freed_slot(appt: Appointment, *, now: datetime) -> list[WaitlistOffer]:
    """Offer a cancelled appointment's slot to the waiting patients it suits."""
    if appt.start <= now:
        return []
    local_start = appt.start.astimezone(appt.clinic.tz)
    entries = (
        WaitlistEntry.objects.filter(
            clinic_id=appt.clinic_id,
            status=WaitlistEntry.Status.WAITING,
            appointment_type_id=appt.appointment_type_id,
            earliest__lte=local_start.date(),
            latest__gte=local_start.date(),
        )
        .filter(models.Q(provider__isnull=True) | models.Q(provider_id=appt.provider_id))
        .exclude(patient_id=appt.patient_id)
        .order_by("created_at")
    )
    offers = [
        WaitlistOffer(
            entry=entry,
            freed_by=appt,
            provider_id=appt.provider_id,
            start=appt.start,
            end=appt.end,
        )
        for entry in entries
        if entry.accepts_time(local_start.time())
    ]
    return WaitlistOffer.objects.bulk_create(offers) if offers else []


def accept_waitlist_offer(
    *, actor: User, offer: WaitlistOffer, now: datetime | None = None
) -> BookingResult:
    """Book the offered slot for the waiting patient; the entry's other offers lapse."""
    now = now or timezone.now()
    failure: SchedulingError | None = None
    with transaction.atomic():
        offer = (
            WaitlistOffer.objects.select_for_update(of=("self",))
            .select_related("entry__clinic", "entry__patient", "entry__appointment_type")
            .get(pk=offer.pk)
        )
        entry = offer.entry
        _require_clinic(actor, entry.clinic_id)
        if offer.status == WaitlistOffer.Status.ACCEPTED and offer.booked_id is not None:
            # Accepted already (a repeated tap, or another desk): that booking is the answer.
            booked = (
                Appointment.objects.select_related(
                    "clinic", "patient", "provider__user", "appointment_type"
                )
                .filter(pk=offer.booked_id)
                .first()
            )
            if booked is not None:
                return BookingResult(booked, replayed=True)
        still_waiting = entry.status == WaitlistEntry.Status.WAITING
        if offer.status != WaitlistOffer.Status.OPEN or not still_waiting:
            raise SchedulingError("This offer is no longer open.", field="offer")
        try:
            with transaction.atomic():
                result = _book(
                    actor=actor,
                    clinic=entry.clinic,
                    patient=entry.patient,
                    provider=offer.provider,
                    appointment_type=entry.appointment_type,
                    start=offer.start,
                    end=None,
                    room=None,
                    notes=entry.notes,
                    overbook=False,
                    overbook_reason="",
                    allow_buffer=False,
                    now=now,
                )
        except SchedulingError as error:
            failure = error
            offer.status = WaitlistOffer.Status.EXPIRED
            offer.resolved_at = now
            offer.save(update_fields=["status", "resolved_at"])
        else:
            offer.status = WaitlistOffer.Status.ACCEPTED
            offer.booked = result.appointment
            offer.resolved_at = now
            offer.save(update_fields=["status", "booked", "resolved_at"])
            entry.status = WaitlistEntry.Status.BOOKED
            entry.save(update_fields=["status"])
            WaitlistOffer.objects.filter(entry=entry, status=WaitlistOffer.Status.OPEN).update(
                status=WaitlistOffer.Status.EXPIRED, resolved_at=now
            )
            # Everyone else offered this slot loses it too.
            WaitlistOffer.objects.filter(
                freed_by_id=offer.freed_by_id, status=WaitlistOffer.Status.OPEN
            ).update(status=WaitlistOffer.Status.EXPIRED, resolved_at=now)
    if failure is not None:
        raise failure
    return result


def decline_waitlist_offer(*, actor: User, offer: WaitlistOffer) -> WaitlistOffer:
    """The patient does not want this slot; they stay on the waitlist."""
    with transaction.atomic():
        offer = (
            WaitlistOffer.objects.select_for_update(of=("self",))
            .select_related("entry")
            .get(pk=offer.pk)
        )
        _require_clinic(actor, offer.entry.clinic_id)
        if offer.status == WaitlistOffer.Status.OPEN:
            offer.status = WaitlistOffer.Status.DECLINED
            offer.resolved_at = timezone.now()
            offer.save(update_fields=["status", "resolved_at"])
        return offer


# --- templates, closures, time off --------------------------------------------------------


@dataclass(frozen=True)
class BlockSpec:
    weekday: int
    start_time: time
    end_time: time
    slot_minutes: int = 15
    kind: str = TemplateBlock.Kind.REGULAR
    appointment_type_ids: tuple[int, ...] = ()
    hold_release_hours: int = 24
    overbook_limit: int = 0


def create_template(
    *,
    actor: User,
    clinic: Clinic,
    provider: Staff,
    effective_from: date,
    blocks: list[BlockSpec],
    effective_to: date | None = None,
    name: str = "",
) -> ScheduleTemplate:
    """A provider's weekly pattern from a date; it takes over from any older template then."""
    _require_clinic(actor, clinic.pk)
    if not provider.clinics.filter(pk=clinic.pk).exists():
        raise SchedulingError("This provider does not work at this clinic.", field="provider")
    if effective_to is not None and effective_to < effective_from:
        raise SchedulingError("The template must end on or after its start.", field="effective_to")
    if ScheduleTemplate.objects.filter(
        clinic=clinic, provider=provider, effective_from=effective_from
    ).exists():
        raise SchedulingError(
            "This provider already has a template starting that day.", field="effective_from"
        )
    type_ids = set(AppointmentType.objects.filter(clinic=clinic).values_list("pk", flat=True))
    by_day: dict[int, list[BlockSpec]] = {}
    for spec in blocks:
        if spec.weekday not in range(7):
            raise SchedulingError("A block's weekday is 0 (Monday) to 6.", field="blocks")
        if spec.end_time <= spec.start_time:
            raise SchedulingError("A block must end after it starts.", field="blocks")
        if not 5 <= spec.slot_minutes <= 240:
            raise SchedulingError("A slot lasts 5 to 240 minutes.", field="blocks")
        if spec.kind not in TemplateBlock.Kind.values:
            raise SchedulingError("Unknown block kind.", field="blocks")
        if not set(spec.appointment_type_ids) <= type_ids:
            raise SchedulingError("A block names a type of another clinic.", field="blocks")
        by_day.setdefault(spec.weekday, []).append(spec)
    for specs in by_day.values():
        specs.sort(key=lambda s: s.start_time)
        for before, after in itertools.pairwise(specs):
            if after.start_time < before.end_time:
                raise SchedulingError(
                    f"Blocks overlap on weekday {before.weekday}: "
                    f"{before.start_time:%H:%M}-{before.end_time:%H:%M} and "
                    f"{after.start_time:%H:%M}-{after.end_time:%H:%M}.",
                    field="blocks",
                )
    with transaction.atomic():
        template = ScheduleTemplate.objects.create(
            clinic=clinic,
            provider=provider,
            effective_from=effective_from,
            effective_to=effective_to,
            name=name,
        )
        for spec in blocks:
            block = TemplateBlock.objects.create(
                template=template,
                weekday=spec.weekday,
                start_time=spec.start_time,
                end_time=spec.end_time,
                slot_minutes=spec.slot_minutes,
                kind=spec.kind,
                hold_release_hours=spec.hold_release_hours,
                overbook_limit=spec.overbook_limit,
            )
            if spec.appointment_type_ids:
                block.appointment_types.set(spec.appointment_type_ids)
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=template,
            clinic=clinic,
            summary=f"Schedule template for {provider} from {effective_from}",
        )
        return template


def add_time_off(
    *, actor: User, provider: Staff, start: datetime, end: datetime, reason: str = ""
) -> AffectedResult:
    """Record a provider's time off; return their booked appointments that now need moving."""
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise SchedulingError("Times need a time zone.", field="start")
    if end <= start:
        raise SchedulingError("The end must be after the start.", field="end")
    user = _user_or_none(actor)
    if (
        user is not None
        and not user.is_superuser
        and not provider.clinics.filter(pk__in=user.clinic_ids).exists()
    ):
        raise SchedulingError("This provider does not work at your clinics.", field="provider")
    with transaction.atomic():
        time_off = ProviderTimeOff.objects.create(
            provider=provider, start=start, end=end, reason=reason, created_by=user
        )
        affected = list(
            Appointment.objects.filter(
                provider=provider, status__in=(Status.BOOKED, Status.CONFIRMED)
            )
            .overlapping(start, end)
            .select_related("patient", "clinic", "appointment_type")
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=time_off,
            summary=f"Time off for {provider}: {len(affected)} appointment(s) to move",
        )
        return AffectedResult(time_off, affected)


def add_closure(*, actor: User, clinic: Clinic, day: date, reason: str = "") -> AffectedResult:
    """Close the clinic for a day; return the booked appointments that now need moving."""
    _require_clinic(actor, clinic.pk)
    with transaction.atomic():
        closure, created = ClinicClosure.objects.get_or_create(
            clinic=clinic, day=day, defaults={"reason": reason}
        )
        if not created:
            raise SchedulingError("The clinic is already closed that day.", field="day")
        start, end = availability.day_bounds_utc(day, clinic.tz)
        affected = list(
            Appointment.objects.filter(clinic=clinic, status__in=(Status.BOOKED, Status.CONFIRMED))
            .overlapping(start, end)
            .select_related("patient", "provider__user", "appointment_type")
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=closure,
            clinic=clinic,
            summary=f"Clinic closed {day}: {len(affected)} appointment(s) to move",
        )
        return AffectedResult(closure, affected)


# --- reminders, confirmation links, automatic no-shows -------------------------------------


def make_confirm_token(appointment: Appointment) -> str:
    return signing.dumps({"a": appointment.pk}, salt=CONFIRM_SALT, compress=True)


def appointment_for_token(token: str) -> Appointment:
    """The appointment a reminder link names; `SchedulingError` if the link is bad or old."""
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
        return Appointment.objects.select_related("clinic", "provider__user").get(pk=data["a"])
    except (signing.BadSignature, KeyError, TypeError, Appointment.DoesNotExist) as error:
        raise SchedulingError("This link is not valid or has expired.", field="token") from error


def confirm_by_token(*, token: str, now: datetime | None = None) -> Appointment:
    """Confirm from the reminder email's link (the patient is not logged in)."""
    now = now or timezone.now()
    appointment = appointment_for_token(token)
    if appointment.status == Status.CONFIRMED:
        return appointment
    if appointment.status != Status.BOOKED or appointment.start <= now:
        raise SchedulingError(
            "This appointment can no longer be confirmed online; please call the clinic.",
            field="token",
        )
    return confirm_appointment(actor="patient (reminder link)", appointment=appointment, via="link")


def _reminder_due(now: datetime) -> models.QuerySet[Appointment]:
    hours = Coalesce(
        models.F("clinic__scheduling_settings__reminder_hours"),
        models.Value(SchedulingSettings._meta.get_field("reminder_hours").default),
    )
    return (
        Appointment.objects.filter(
            status=Status.BOOKED, reminder_sent_at__isnull=True, start__gt=now
        )
        .exclude(patient__email="")
        .annotate(
            remind_from=models.ExpressionWrapper(
                models.F("start") - hours * models.Value(timedelta(hours=1)),
                output_field=models.DateTimeField(),
            )
        )
        .filter(remind_from__lte=now)
    )


def send_due_reminders(*, now: datetime | None = None, limit: int = 500) -> int:
    """Email every appointment whose reminder is due; return how many went out.

    Each row is locked with SKIP LOCKED and marked sent in the transaction that sends it, so
    two workers never pick the same row and a retry never sends one twice.
    """
    now = now or timezone.now()
    sent = 0
    for pk in list(_reminder_due(now).order_by("start").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            appt = (
                Appointment.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("clinic", "patient", "provider__user")
                .filter(pk=pk, status=Status.BOOKED, reminder_sent_at__isnull=True)
                .first()
            )
            if appt is None:
                continue
            _reminder_message(appt).send()
            appt.reminder_sent_at = timezone.now()
            appt.save(update_fields=["reminder_sent_at", "updated_at"])
            audit.record(
                actor=None,
                action=AuditEvent.Action.UPDATE,
                obj=appt,
                patient=appt.patient,
                clinic=appt.clinic_id,
                summary="Reminder emailed to the patient",
            )
            sent += 1
    return sent


def confirm_url(appointment: Appointment) -> str:
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    path = reverse("scheduling:confirm", args=[make_confirm_token(appointment)])
    return f"{base}{path}"


def _reminder_message(appt: Appointment) -> EmailMessage:
    clinic = appt.clinic
    when = appt.start.astimezone(clinic.tz)
    body = (
        f"Hello {appt.patient.preferred_name or appt.patient.first_name},\n\n"
        f"This is a reminder of your appointment at {clinic.name} on "
        f"{when:%A %d %B %Y at %H:%M} with {appt.provider}.\n\n"
        f"Please confirm that you will come by opening this link:\n{confirm_url(appt)}\n\n"
        f"To cancel or change it, call us at {clinic.phone or 'the clinic'}.\n"
    )
    return EmailMessage(
        subject=f"Your appointment at {clinic.name} on {when:%d %B}",
        body=body,
        to=[appt.patient.email],
    )


def mark_overdue_no_shows(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Booked/confirmed appointments still not checked in N minutes after their end."""
    now = now or timezone.now()
    minutes = Coalesce(
        models.F("clinic__scheduling_settings__auto_no_show_minutes"),
        models.Value(SchedulingSettings._meta.get_field("auto_no_show_minutes").default),
    )
    enabled = Coalesce(
        models.F("clinic__scheduling_settings__auto_no_show_enabled"), models.Value(True)
    )
    due = (
        Appointment.objects.filter(status__in=(Status.BOOKED, Status.CONFIRMED), end__lt=now)
        .annotate(
            enabled=enabled,
            no_show_at=models.ExpressionWrapper(
                models.F("end") + minutes * models.Value(timedelta(minutes=1)),
                output_field=models.DateTimeField(),
            ),
        )
        .filter(enabled=True, no_show_at__lte=now)
        .order_by("end")
        .values_list("pk", flat=True)[:limit]
    )
    marked = 0
    for pk in list(due):
        with transaction.atomic():
            appt = (
                Appointment.objects.select_for_update(of=("self",), skip_locked=True)
                .filter(pk=pk, status__in=(Status.BOOKED, Status.CONFIRMED))
                .first()
            )
            if appt is None:
                continue
            _transition(
                actor=None, appointment=appt, to=Status.NO_SHOW, note="automatic: no check-in"
            )
            marked += 1
    return marked
