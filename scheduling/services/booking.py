"""Booking an appointment: the submission key, validation, the patient lock, the insert that the
exclusion constraints guard, and the overbook rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import servicekit
from clinicops.core.fields import MAX_SUBMISSION_KEY_LENGTH
from clinicops.core.models import Clinic, Patient, Room, Staff, User

from .. import availability
from ..models import (
    MAX_APPOINTMENT_LENGTH,
    Appointment,
    AppointmentType,
    ProviderTimeOff,
    SchedulingSettings,
    TemplateBlock,
)
from . import common
from .common import (
    BookingResult,
    OverbookRefused,
    PatientDoubleBooked,
    RoomTaken,
    SchedulingError,
    SlotTaken,
)

# pg_advisory_xact_lock(key1, key2) namespace for "this form rendering (submission key) is being
# booked"; the patient, provider and room namespaces are in common.
SUBMISSION_LOCK_NAMESPACE = 0x5355  # "SU"


def check_submission_key(key: str) -> str:
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
    user = servicekit.user_or_none(actor)
    key = check_submission_key(submission_key)
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
        return book(
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
            submission_key=check_submission_key(submission_key),
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
    common.require_clinic(actor, clinic.pk)
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


def book(
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
    common.lock_patient(patient.pk)
    clash = (
        Appointment.objects.live()
        .filter(patient=patient)
        .overlapping(start, end)
        .select_related("clinic")
        .first()
    )
    if clash is not None:
        message = (
            f"{patient} already has an appointment at {common.local(clash.clinic, clash.start)}."
        )
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
        booked_by=servicekit.user_or_none(actor),
        rescheduled_from=rescheduled_from,
        submission_key=submission_key if servicekit.user_or_none(actor) is not None else "",
    )
    if room is not None:
        candidates = [room.pk]
    elif appointment_type.room_kind:
        candidates = sorted(
            availability.free_rooms(
                clinic=clinic, room_kind=appointment_type.room_kind, start=start, end=end
            )
        )
        if not candidates:
            raise RoomTaken(
                f"No {appointment_type.get_room_kind_display().lower()} is free at that time.",
                field="room",
            )
    else:
        candidates = [None]  # type: ignore[list-item]
    _insert(appointment, clinic=clinic, provider=provider, room_ids=candidates)

    common.add_event(appointment, actor=actor, from_status="", note="overbook" if overbook else "")
    audit.record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        obj=appointment,
        patient=patient,
        clinic=clinic,
        summary=(
            f"Booked {appointment_type.name} with {provider} at {common.local(clinic, start)}"
            + (" (overbook)" if overbook else "")
            + (" (rescheduled)" if rescheduled_from else "")
        ),
        changes=audit.snapshot(appointment, Appointment.AUDITED_FIELDS),
    )
    return BookingResult(appointment, warnings)


def _insert(
    appointment: Appointment, *, clinic: Clinic, provider: Staff, room_ids: list[int | None]
) -> None:
    """Insert, trying each candidate room (in ascending order, the lock order); the exclusion
    constraints decide who wins, the time locks make a lost race their error, not a deadlock."""
    for index, room_id in enumerate(room_ids):
        appointment.room_id = room_id
        common.lock_time(provider_id=provider.pk, room_id=room_id)
        try:
            with transaction.atomic():
                appointment.save(force_insert=True)
            return
        except IntegrityError as error:
            appointment.pk = None
            constraint = common.constraint_name(error)
            if constraint == "appt_no_provider_overlap":
                raise SlotTaken(
                    f"That slot was just taken: {provider} already has an appointment at "
                    f"{common.local(clinic, appointment.start)}. Pick another slot.",
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
