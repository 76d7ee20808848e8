"""Status changes of a booked appointment: confirm, arrive, complete, no-show, cancel,
reschedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Room, Staff, User

from ..models import (
    Appointment,
    AppointmentEvent,
    AppointmentType,
    SchedulingSettings,
    WaitlistOffer,
)
from . import booking, common, waitlist
from .common import (
    BookingResult,
    CancelResult,
    IllegalTransition,
    PatientDoubleBooked,
    RoomTaken,
    SchedulingError,
    SlotTaken,
)

Status = Appointment.Status

# How long after cancelling the person who cancelled can take it back (a wrong row clicked, the
# patient changing their mind at the desk). Counted by the server's clock only.
CANCEL_UNDO_SECONDS = 20
UNDONE_NOTE = "Cancellation undone"


def transition(
    *,
    actor: Any,
    appointment: Appointment | int,
    to: str,
    note: str = "",
    **fields: Any,
) -> Appointment:
    """Move an appointment to status `to` if the status machine allows it."""
    appt = common.lock(appointment)
    common.require_clinic(actor, appt.clinic_id)
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
    common.add_event(appt, actor=actor, from_status=from_status, note=note)
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
        appt = common.lock(appointment)
        common.require_clinic(actor, appt.clinic_id)
        if appt.status == Status.CONFIRMED:
            return appt
        if appt.end <= timezone.now():
            raise IllegalTransition("This appointment is already over.", field="status")
        return transition(
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
        appt = common.lock(appointment)
        tz = appt.clinic.tz
        if appt.start.astimezone(tz).date() != now.astimezone(tz).date():
            raise IllegalTransition(
                "A patient can only arrive on the day of the appointment.", field="status"
            )
        return transition(actor=actor, appointment=appt, to=Status.ARRIVED)


def complete_appointment(*, actor: Any, appointment: Appointment | int) -> Appointment:
    """The visit is over (patientflow's checkout calls this)."""
    with transaction.atomic():
        return transition(actor=actor, appointment=appointment, to=Status.COMPLETED)


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
        appt = common.lock(appointment)
        if now < appt.start:
            raise IllegalTransition(
                "A no-show can only be recorded once the appointment has started.",
                field="status",
            )
        return transition(actor=actor, appointment=appt, to=Status.NO_SHOW, note=note)


def cancel_appointment(
    *,
    actor: Any,
    appointment: Appointment | int,
    reason: str,
    note: str = "",
    now: datetime | None = None,
) -> CancelResult:
    """Cancel with a reason; late when inside the clinic's window. Offers the freed slot.

    The same cancellation sent twice (a double click, a resent form) finds the appointment
    already cancelled for that reason and changes nothing (`replayed`)."""
    now = now or timezone.now()
    if reason not in Appointment.CancelReason.values:
        raise SchedulingError("Choose a reason for the cancellation.", field="reason")
    with transaction.atomic():
        appt = common.lock(appointment)
        common.require_clinic(actor, appt.clinic_id)
        if appt.status == Status.CANCELLED and appt.cancel_reason == reason:
            return CancelResult(appt, [], replayed=True)
        appt = _cancel(actor=actor, appointment=appt, reason=reason, note=note, now=now)
        offers = waitlist.offer_freed_slot(appt, now=now)
        return CancelResult(appt, offers)


def cancellation_undo_until(appointment: Appointment, *, actor: Any) -> datetime | None:
    """Until when `actor` may undo this appointment's cancellation; None when they may not at
    all (not cancelled, cancelled by someone else, or moved by a reschedule)."""
    if (
        appointment.status != Status.CANCELLED
        or appointment.cancelled_at is None
        or appointment.cancel_reason == Appointment.CancelReason.RESCHEDULED
    ):
        return None
    last = _last_event(appointment)
    user = getattr(actor, "pk", None)
    if last is None or last.to_status != Status.CANCELLED or last.actor_id != user:
        return None
    return appointment.cancelled_at + timedelta(seconds=CANCEL_UNDO_SECONDS)


def _last_event(appointment: Appointment) -> AppointmentEvent | None:
    return AppointmentEvent.objects.filter(appointment=appointment).order_by("-at", "-pk").first()


@dataclass
class UndoResult:
    appointment: Appointment
    # True when the cancellation had already been undone (the same undo sent twice).
    replayed: bool = False


def undo_cancellation(
    *, actor: User, appointment: Appointment | int, now: datetime | None = None
) -> UndoResult:
    """Take back a cancellation within CANCEL_UNDO_SECONDS: the appointment gets its status
    before the cancellation back, the cancellation's reason, note and lateness are cleared, and
    the waitlist offers of its slot lapse. Only if the slot is still free: when another
    booking has taken the provider's time, the room or the patient since, nothing changes and
    `SlotTaken` (or `PatientDoubleBooked`) says what took it."""
    now = now or timezone.now()
    with transaction.atomic():
        appt = common.lock(appointment)
        common.require_clinic(actor, appt.clinic_id)
        last = _last_event(appt)
        if appt.status != Status.CANCELLED:
            if (
                last is not None
                and last.from_status == Status.CANCELLED
                and last.note == UNDONE_NOTE
                and last.actor_id == actor.pk
            ):
                return UndoResult(appt, replayed=True)
            raise IllegalTransition("This appointment is not cancelled.", field="status")
        until = cancellation_undo_until(appt, actor=actor)
        if until is None or last is None:
            raise IllegalTransition(
                "Only the person who cancelled an appointment can undo it, right after.",
                field="status",
            )
        if now > until:
            raise IllegalTransition(
                f"Undo is possible for {CANCEL_UNDO_SECONDS} seconds after cancelling; "
                "book the appointment again instead.",
                field="status",
            )
        common.lock_patient(appt.patient_id)
        _refuse_if_patient_busy(appt)
        common.lock_time(provider_id=appt.provider_id, room_id=appt.room_id)
        before = audit.snapshot(appt, Appointment.AUDITED_FIELDS)
        appt.status = last.from_status
        appt.cancel_reason = ""
        appt.cancel_note = ""
        appt.cancelled_at = None
        appt.late_cancel = False
        try:
            with transaction.atomic():
                appt.save(
                    update_fields=[
                        "status",
                        "cancel_reason",
                        "cancel_note",
                        "cancelled_at",
                        "late_cancel",
                        "updated_at",
                    ]
                )
        except IntegrityError as error:
            raise _slot_gone(appt, common.constraint_name(error)) from error
        WaitlistOffer.objects.filter(freed_by=appt, status=WaitlistOffer.Status.OPEN).update(
            status=WaitlistOffer.Status.EXPIRED, resolved_at=now
        )
        common.add_event(appt, actor=actor, from_status=Status.CANCELLED, note=UNDONE_NOTE)
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=appt,
            patient=appt.patient,
            clinic=appt.clinic_id,
            summary=f"Cancellation undone: appointment {appt.get_status_display().lower()} again",
            changes=audit.diff(before, audit.snapshot(appt, Appointment.AUDITED_FIELDS)),
        )
        return UndoResult(appt)


def _refuse_if_patient_busy(appt: Appointment) -> None:
    clash = (
        Appointment.objects.live()
        .filter(patient_id=appt.patient_id)
        .overlapping(appt.start, appt.end)
        .exclude(pk=appt.pk)
        .select_related("clinic")
        .first()
    )
    if clash is not None:
        raise PatientDoubleBooked(
            f"Not restored: {appt.patient} has been booked at "
            f"{common.local(clash.clinic, clash.start)} since. The appointment stays cancelled.",
            field="patient",
        )


def _slot_gone(appt: Appointment, constraint: str) -> SlotTaken:
    when = common.local(appt.clinic, appt.start)
    if constraint == "appt_no_room_overlap":
        return RoomTaken(
            f"Not restored: {appt.room} has been booked at {when} since. "
            "The appointment stays cancelled; book it again in another room or at another time.",
            field="room",
        )
    return SlotTaken(
        f"Not restored: {appt.provider}'s time at {when} has been booked for another patient "
        "since. The appointment stays cancelled; book it again at another time.",
        field="start",
    )


def _cancel(
    *, actor: Any, appointment: Appointment | int, reason: str, note: str, now: datetime
) -> Appointment:
    appt = appointment if isinstance(appointment, Appointment) else common.lock(appointment)
    window = timedelta(hours=SchedulingSettings.for_clinic(appt.clinic_id).late_cancel_hours)
    return transition(
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
        earlier = booking.booked_by_submission(actor=actor, submission_key=submission_key)
        if earlier is not None:
            return BookingResult(earlier, replayed=True)
        old = common.lock(appointment)
        common.require_clinic(actor, old.clinic_id)
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
        result = booking.book(
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
            submission_key=booking.check_submission_key(submission_key),
        )
        new = result.appointment
        if not (new.provider_id == old.provider_id and new.start < old.end and old.start < new.end):
            waitlist.offer_freed_slot(old, now=now)
        return result
