"""The verbs of patient flow. Each runs in one transaction with its audit entry inside.

A visit's step changes only here, with the visit row locked (SELECT ... FOR UPDATE) and the
caller's idea of the current step checked under that lock: when two people move one patient
at the same moment, the second waits for the first, finds the step changed, and gets
`AlreadyMoved` naming the new step. Two patients in one room is refused by the database
(a partial unique index on room turns), not by a Python check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import softcache
from clinicops.core.models import Clinic, Coverage, Patient, Room, Staff, User
from scheduling import availability
from scheduling import services as scheduling
from scheduling.models import Appointment, AppointmentType, TemplateBlock

from .models import (
    ACTIVE_STEPS,
    IN_ROOM_STEPS,
    MONEY_MAX,
    NEXT_STEPS,
    IntakeForm,
    PaymentMethod,
    RoomTurn,
    Step,
    StepThreshold,
    Visit,
    VisitEvent,
    VisitPayment,
)

REUSED_KEY = "This form was already used for another booking; reload the screen and try again."


class FlowError(Exception):
    """A flow action refused for a reason the user can act on."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AlreadyMoved(FlowError):
    """Someone else moved the visit first; `visit` holds its state now."""

    def __init__(self, message: str, *, visit: Visit) -> None:
        super().__init__(message, field="step")
        self.visit = visit


class AlreadyCheckedIn(FlowError):
    def __init__(self, message: str, *, visit: Visit) -> None:
        super().__init__(message, field="appointment")
        self.visit = visit


class IllegalStep(FlowError):
    pass


class RoomUnavailable(FlowError):
    pass


@dataclass(frozen=True)
class PaymentInput:
    """Money handed over at the desk: an amount in dollars and cents, how, and the receipt."""

    amount: Decimal
    method: str
    receipt_number: str


# --- helpers ----------------------------------------------------------------------------


def _user_or_none(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


def _actor_label(actor: Any) -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return str(actor) if actor else "system"


def _require_clinic(actor: Any, clinic_id: int) -> None:
    user = _user_or_none(actor)
    if user is not None and not user.is_superuser and clinic_id not in user.clinic_ids:
        raise FlowError("You do not work at this clinic.", field="clinic")


def _local_time(clinic: Clinic, moment: datetime) -> str:
    return f"{moment.astimezone(clinic.tz):%H:%M}"


def validate_payment(payment: PaymentInput, *, field: str) -> PaymentInput:
    """The payment, cleaned; `FlowError` naming `field` when the amount is not real money."""
    amount = payment.amount
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise FlowError("Enter the amount in dollars and cents, for example 25.00.", field=field)
    if amount <= 0:
        raise FlowError("The amount must be more than zero.", field=field)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise FlowError("The amount can have at most two decimal places (cents).", field=field)
    if amount > MONEY_MAX:
        raise FlowError(f"The amount cannot be more than {MONEY_MAX:,}.", field=field)
    if payment.method not in PaymentMethod.values:
        raise FlowError("Choose how the patient paid.", field=field.replace("amount", "method"))
    receipt = payment.receipt_number.strip()
    if not receipt:
        raise FlowError(
            "Enter the receipt number for this payment.", field=field.replace("amount", "receipt")
        )
    return PaymentInput(amount.quantize(Decimal("0.01")), payment.method, receipt[:40])


def _validate_forms(forms_signed: Sequence[str]) -> list[str]:
    unknown = set(forms_signed) - set(IntakeForm.values)
    if unknown:
        raise FlowError("Unknown form in the list of forms signed.", field="forms_signed")
    return [value for value in IntakeForm.values if value in forms_signed]


def _lock(visit: Visit | int) -> Visit:
    pk = visit if isinstance(visit, int) else visit.pk
    return (
        Visit.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient", "appointment", "room")
        .get(pk=pk)
    )


def _add_event(
    visit: Visit,
    *,
    actor: Any,
    at: datetime,
    from_step: str,
    kind: str = VisitEvent.Kind.ADVANCE,
    reason: str = "",
    undoes: VisitEvent | None = None,
) -> VisitEvent:
    return VisitEvent.objects.create(
        visit=visit,
        kind=kind,
        from_step=from_step,
        to_step=visit.step,
        room=visit.room,
        at=at,
        actor=_user_or_none(actor),
        actor_label=_actor_label(actor),
        reason=reason[:255],
        undoes=undoes,
    )


def _expect(visit: Visit, expected_step: str) -> None:
    """Refuse to act on a visit that someone moved since the caller last saw it."""
    if visit.step == expected_step:
        return
    last = visit.events.order_by("-at", "-pk").first()
    who = f" by {last.actor_label}" if last else ""
    when = f" at {_local_time(visit.clinic, last.at)}" if last else ""
    raise AlreadyMoved(
        f"{visit.patient} was already moved to “{visit.get_step_display()}”{who}{when}. "
        "The board now shows where the patient is.",
        visit=visit,
    )


def _record(actor: Any, visit: Visit, summary: str, before: dict[str, Any]) -> None:
    audit.record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        obj=visit,
        patient=visit.patient,
        clinic=visit.clinic_id,
        summary=summary,
        changes=audit.diff(before, audit.snapshot(visit, Visit.AUDITED_FIELDS)),
    )


def _step_label(step: str) -> str:
    return Step(step).label


# --- rooms ------------------------------------------------------------------------------


def _room_busy_message(room: Room) -> str:
    turn = RoomTurn.objects.filter(room=room, cleaned_at__isnull=True).first()
    if turn is not None and turn.vacated_at is not None:
        return f"{room.name} needs cleaning before the next patient: mark it clean first."
    return f"{room.name} is occupied by another patient. Choose another room."


def _occupy(visit: Visit, room: Room, now: datetime) -> None:
    if room.clinic_id != visit.clinic_id or not room.is_active:
        raise RoomUnavailable("That room is not in use at this clinic.", field="room")
    try:
        with transaction.atomic():
            RoomTurn.objects.create(room=room, visit=visit, occupied_at=now)
    except IntegrityError as error:
        diag = getattr(error.__cause__, "diag", None)
        if getattr(diag, "constraint_name", "") != "roomturn_one_uncleaned_per_room":
            raise
        raise RoomUnavailable(_room_busy_message(room), field="room") from error
    visit.room = room


def _vacate(visit: Visit, now: datetime, *, undone: bool = False) -> None:
    """The patient left the room: it needs cleaning (or, for an undone rooming, is free)."""
    turns = RoomTurn.objects.filter(visit=visit, vacated_at__isnull=True)
    if undone:
        turns.update(vacated_at=now, cleaned_at=now, undone=True)
    else:
        turns.update(vacated_at=now)
    visit.room = None


def _reoccupy(visit: Visit, now: datetime) -> None:
    """Put the visit back in the room it last left (for an undo), if nobody took it since."""
    turn = visit.room_turns.select_related("room").order_by("-occupied_at", "-pk").first()
    if turn is None:
        raise IllegalStep("This visit was never roomed; there is no room to go back to.")
    if turn.cleaned_at is None:
        # A room has at most one uncleaned turn, so the room still waits for this patient.
        RoomTurn.objects.filter(pk=turn.pk).update(vacated_at=None)
        visit.room = turn.room
        return
    try:
        _occupy(visit, turn.room, now)
    except RoomUnavailable as error:
        raise RoomUnavailable(
            f"Cannot undo: {turn.room.name} has been turned over since. {error.message}",
            field="room",
        ) from error


# --- check-in ---------------------------------------------------------------------------


def billing_coverage(patient: Patient, day: Any) -> Coverage | None:
    """The coverage a visit on `day` is billed to: the highest-priority one in effect."""
    for coverage in patient.coverages.order_by("priority", "-effective_from"):
        if coverage.is_active_on(day):
            return coverage
    return None


def _arrival_text(visit: Visit) -> str:
    minutes = visit.arrival_minutes
    if minutes < 0:
        return f"{-minutes} min early"
    if minutes > 0:
        return f"{minutes} min late"
    return "on time"


def _open_visit(
    *,
    actor: User,
    appointment: Appointment,
    now: datetime,
    copay: PaymentInput | None,
    forms_signed: list[str],
    insurance_confirmed: bool,
    notes: str,
    is_walk_in: bool,
) -> Visit:
    clinic = appointment.clinic
    patient = appointment.patient
    visit = Visit.objects.create(
        clinic=clinic,
        appointment=appointment,
        patient=patient,
        is_walk_in=is_walk_in,
        step=Step.CHECKED_IN,
        step_since=now,
        checked_in_at=now,
        checked_in_by=_user_or_none(actor),
        coverage=billing_coverage(patient, now.astimezone(clinic.tz).date()),
        insurance_confirmed=insurance_confirmed,
        forms_signed=forms_signed,
        notes=notes.strip()[:255],
    )
    _add_event(visit, actor=actor, at=now, from_step="")
    paid = ""
    if copay is not None:
        VisitPayment.objects.create(
            visit=visit,
            kind=VisitPayment.Kind.COPAY,
            amount=copay.amount,
            method=copay.method,
            receipt_number=copay.receipt_number,
            taken_at=now,
            taken_by=_user_or_none(actor),
        )
        paid = f"; copay {copay.amount} by {PaymentMethod(copay.method).label.lower()}"
    audit.record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        obj=visit,
        patient=patient,
        clinic=clinic,
        summary=f"Checked in{' (walk-in)' if is_walk_in else ''}, {_arrival_text(visit)}{paid}",
        changes={
            **audit.snapshot(visit, Visit.AUDITED_FIELDS),
            "appointment": appointment.pk,
            "coverage": visit.coverage_id,
            "copay": str(copay.amount) if copay else None,
        },
    )
    return visit


def check_in(
    *,
    actor: User,
    appointment: Appointment | int,
    copay: PaymentInput | None = None,
    forms_signed: Sequence[str] = (),
    insurance_confirmed: bool = False,
    notes: str = "",
    now: datetime | None = None,
) -> Visit:
    """The patient is at the desk: open their visit and mark the appointment arrived."""
    now = now or timezone.now()
    if copay is not None:
        copay = validate_payment(copay, field="copay_amount")
    forms = _validate_forms(forms_signed)
    pk = appointment if isinstance(appointment, int) else appointment.pk
    with transaction.atomic():
        # The appointment row is the lock that makes two desks checking one patient in at
        # once open one visit: the second waits here, then finds the visit.
        appt = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("clinic", "patient")
            .get(pk=pk)
        )
        _require_clinic(actor, appt.clinic_id)
        existing = Visit.objects.filter(appointment=appt).first()
        if existing is not None:
            raise AlreadyCheckedIn(
                f"{appt.patient} was already checked in at "
                f"{_local_time(appt.clinic, existing.checked_in_at)}.",
                visit=existing,
            )
        try:
            scheduling.mark_arrived(actor=actor, appointment=appt, now=now)
        except scheduling.SchedulingError as error:
            raise FlowError(error.message, field="appointment") from error
        appt.refresh_from_db(fields=["status"])
        return _open_visit(
            actor=actor,
            appointment=appt,
            now=now,
            copay=copay,
            forms_signed=forms,
            insurance_confirmed=insurance_confirmed,
            notes=notes,
            is_walk_in=False,
        )


def _walk_in_starts(
    *, clinic: Clinic, provider: Staff, appointment_type: AppointmentType, now: datetime
) -> list[datetime]:
    """Where a walk-in could be booked: the slot running now, then today's next open ones."""
    tz = clinic.tz
    day = now.astimezone(tz).date()
    starts: list[datetime] = []
    templates = availability.load_templates(
        clinic=clinic, start=day, end=day, provider_ids=[provider.pk]
    )
    template = availability.template_for_day(templates.get(provider.pk, []), day)
    if template is not None:
        for block in template.blocks_by_weekday.get(day.weekday(), ()):
            if block.kind == TemplateBlock.Kind.ADMIN:
                continue
            block_start = availability.local_datetime(day, block.start_time, tz)
            block_end = availability.local_datetime(day, block.end_time, tz)
            if block_start <= now < block_end:
                start = block_start + ((now - block_start) // block.slot) * block.slot
                if start + appointment_type.duration <= block_end:
                    starts.append(start)
    for slot in availability.find_slots(
        clinic=clinic,
        appointment_type=appointment_type,
        provider=provider,
        count=5,
        start_date=day,
        end_date=day,
        now=now,
    ):
        if slot.start not in starts:
            starts.append(slot.start)
    return starts


def walk_in(
    *,
    actor: User,
    clinic: Clinic,
    patient: Patient,
    provider: Staff,
    appointment_type: AppointmentType,
    copay: PaymentInput | None = None,
    forms_signed: Sequence[str] = (),
    insurance_confirmed: bool = False,
    notes: str = "",
    overbook_reason: str = "",
    now: datetime | None = None,
    submission_key: str = "",
) -> Visit:
    """A patient without an appointment: book one through scheduling now, and check them in.

    The slot running now is tried first, then today's next open slots; with an overbook
    reason, a full day gets a declared overbook (scheduling checks the permission and limit).
    A repeat of the submission that booked (`submission_key`) raises `AlreadyCheckedIn` with
    the visit it opened, and books nothing.
    """
    now = now or timezone.now()
    _require_clinic(actor, clinic.pk)
    if patient.clinic_id != clinic.pk:
        raise FlowError("This patient is not registered at this clinic.", field="patient")
    if copay is not None:
        copay = validate_payment(copay, field="copay_amount")
    forms = _validate_forms(forms_signed)
    with transaction.atomic():
        try:
            earlier = scheduling.booked_by_submission(actor=actor, submission_key=submission_key)
        except scheduling.SchedulingError as error:
            raise FlowError(error.message, field="submission_key") from error
        if earlier is not None:
            visit = Visit.objects.filter(appointment=earlier).first()
            if visit is None:  # the key of another form: not a walk-in sent twice
                raise FlowError(REUSED_KEY, field="submission_key")
            raise AlreadyCheckedIn(
                f"{earlier.patient} is already checked in as a walk-in, booked with "
                f"{earlier.provider} at {_local_time(earlier.clinic, earlier.start)}. "
                "This was sent twice; nothing new was booked.",
                visit=visit,
            )
        starts = _walk_in_starts(
            clinic=clinic, provider=provider, appointment_type=appointment_type, now=now
        )
        if not starts:
            raise FlowError(
                f"{provider} has no schedule left today that takes a {appointment_type.name}. "
                "Choose another provider.",
                field="provider",
            )
        booking = None
        problem = ""
        for start in starts:
            try:
                booking = scheduling.book_appointment(
                    actor=actor,
                    clinic=clinic,
                    patient=patient,
                    provider=provider,
                    appointment_type=appointment_type,
                    start=start,
                    notes="Walk-in",
                    allow_buffer=True,
                    now=now,
                    submission_key=submission_key,
                )
                break
            except scheduling.SchedulingError as error:
                problem = problem or error.message
        if booking is None and overbook_reason.strip():
            try:
                booking = scheduling.book_appointment(
                    actor=actor,
                    clinic=clinic,
                    patient=patient,
                    provider=provider,
                    appointment_type=appointment_type,
                    start=starts[0],
                    notes="Walk-in",
                    overbook=True,
                    overbook_reason=overbook_reason.strip(),
                    allow_buffer=True,
                    now=now,
                    submission_key=submission_key,
                )
            except scheduling.SchedulingError as error:
                raise FlowError(error.message, field="overbook_reason") from error
        if booking is None:
            raise FlowError(
                f"{provider} has no open slot left today for a {appointment_type.name} "
                f"({problem.rstrip('.')}). Choose another provider, or give a reason to "
                "overbook.",
                field="provider",
            )
        appointment = booking.appointment
        try:
            scheduling.mark_arrived(actor=actor, appointment=appointment, now=now)
        except scheduling.SchedulingError as error:
            raise FlowError(error.message, field="appointment") from error
        appointment.refresh_from_db()
        return _open_visit(
            actor=actor,
            appointment=appointment,
            now=now,
            copay=copay,
            forms_signed=forms,
            insurance_confirmed=insurance_confirmed,
            notes=notes,
            is_walk_in=True,
        )


# --- moving through the steps -------------------------------------------------------------


def _illegal(from_step: str, to_step: str) -> IllegalStep:
    if to_step == Step.CHECKED_OUT:
        return IllegalStep(
            f"A visit at “{_step_label(from_step)}” cannot be checked out: checkout is for a "
            "patient ready for checkout.",
            field="step",
        )
    if from_step not in ACTIVE_STEPS:
        return IllegalStep(
            f"This visit is over (“{_step_label(from_step)}”); it cannot move on.", field="step"
        )
    return IllegalStep(
        f"A visit at “{_step_label(from_step)}” cannot go to “{_step_label(to_step)}”.",
        field="step",
    )


def move_visit(
    *,
    actor: User,
    visit: Visit | int,
    to_step: str,
    expected_step: str,
    room: Room | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Visit:
    """Move a visit to its next step; `AlreadyMoved` if it is no longer at `expected_step`."""
    now = now or timezone.now()
    if to_step not in Step.values:
        raise IllegalStep("Unknown step.", field="step")
    reason = reason.strip()
    with transaction.atomic():
        locked = _lock(visit)
        _require_clinic(actor, locked.clinic_id)
        _expect(locked, expected_step)
        from_step = locked.step
        if to_step == Step.CHECKED_OUT or to_step not in NEXT_STEPS[from_step]:
            raise _illegal(from_step, to_step)
        if to_step == Step.SENT_ELSEWHERE and not reason:
            raise FlowError("Say where the patient was sent.", field="reason")
        before = audit.snapshot(locked, Visit.AUDITED_FIELDS)
        if to_step in IN_ROOM_STEPS and from_step not in IN_ROOM_STEPS:
            if room is None:
                raise FlowError("Choose the room the patient goes to.", field="room")
            _occupy(locked, room, now)
        elif from_step in IN_ROOM_STEPS and to_step not in IN_ROOM_STEPS:
            _vacate(locked, now)
        locked.step = to_step
        locked.step_since = now
        locked.save(update_fields=["step", "step_since", "room"])
        _add_event(locked, actor=actor, at=now, from_step=from_step, reason=reason)
        where = f" in {locked.room.name}" if locked.room and to_step == Step.ROOMED else ""
        _record(
            actor,
            locked,
            f"{_step_label(from_step)} → {_step_label(to_step)}{where}"
            + (f": {reason}" if reason else ""),
            before,
        )
        return locked


def change_room(
    *,
    actor: User,
    visit: Visit | int,
    room: Room,
    expected_step: str,
    now: datetime | None = None,
) -> Visit:
    """Move a roomed patient to another room; the room they leave needs cleaning."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(visit)
        _require_clinic(actor, locked.clinic_id)
        _expect(locked, expected_step)
        if locked.step not in IN_ROOM_STEPS:
            raise IllegalStep("Only a patient in a room can change rooms.", field="room")
        if room.pk == locked.room_id:
            raise FlowError(f"The patient is already in {room.name}.", field="room")
        before = audit.snapshot(locked, Visit.AUDITED_FIELDS)
        left = locked.room
        _vacate(locked, now)
        _occupy(locked, room, now)
        locked.save(update_fields=["room"])
        _add_event(
            locked, actor=actor, at=now, from_step=locked.step, kind=VisitEvent.Kind.ROOM_CHANGE
        )
        _record(actor, locked, f"Moved from {left.name if left else '-'} to {room.name}", before)
        return locked


def last_effective_step(events: Sequence[VisitEvent]) -> VisitEvent | None:
    """The step event that put the visit where it is: the last one not undone since."""
    undone = {e.undoes_id for e in events if e.kind == VisitEvent.Kind.UNDO}
    steps = [e for e in events if e.kind == VisitEvent.Kind.ADVANCE and e.pk not in undone]
    return steps[-1] if steps else None


def undo_last_step(
    *,
    actor: User,
    visit: Visit | int,
    expected_step: str,
    reason: str,
    now: datetime | None = None,
) -> Visit:
    """Take back the last step with a reason: a new event, the mistaken one stays on record."""
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise FlowError(
            "Give the reason for the undo (for example “wrong patient”).", field="reason"
        )
    with transaction.atomic():
        locked = _lock(visit)
        _require_clinic(actor, locked.clinic_id)
        _expect(locked, expected_step)
        if locked.step == Step.CHECKED_OUT:
            raise IllegalStep(
                "A checked-out visit cannot be undone: its appointment is complete.", field="step"
            )
        last = last_effective_step(list(locked.events.order_by("at", "pk")))
        if last is None or not last.from_step:
            raise IllegalStep(
                "There is no step to undo: the patient is only checked in.", field="step"
            )
        before = audit.snapshot(locked, Visit.AUDITED_FIELDS)
        from_step, target = locked.step, last.from_step
        if from_step in IN_ROOM_STEPS and target not in IN_ROOM_STEPS:
            # Undoing a rooming: the patient never was in the room, so it needs no cleaning.
            _vacate(locked, now, undone=True)
        elif from_step not in IN_ROOM_STEPS and target in IN_ROOM_STEPS:
            _reoccupy(locked, now)
        locked.step = target
        locked.step_since = now
        locked.save(update_fields=["step", "step_since", "room"])
        _add_event(
            locked,
            actor=actor,
            at=now,
            from_step=from_step,
            kind=VisitEvent.Kind.UNDO,
            reason=reason,
            undoes=last,
        )
        _record(
            actor,
            locked,
            f"Undid {_step_label(from_step)}, back to {_step_label(target)}: {reason}",
            before,
        )
        return locked


# --- checkout ---------------------------------------------------------------------------


def check_out(
    *,
    actor: User,
    visit: Visit | int,
    expected_step: str = Step.READY_FOR_CHECKOUT,
    balance: PaymentInput | None = None,
    now: datetime | None = None,
) -> Visit:
    """The patient leaves: take any balance, complete the appointment, close the visit."""
    now = now or timezone.now()
    if balance is not None:
        balance = validate_payment(balance, field="balance_amount")
    with transaction.atomic():
        locked = _lock(visit)
        _require_clinic(actor, locked.clinic_id)
        _expect(locked, expected_step)
        if locked.step != Step.READY_FOR_CHECKOUT:
            raise _illegal(locked.step, Step.CHECKED_OUT)
        before = audit.snapshot(locked, Visit.AUDITED_FIELDS)
        try:
            scheduling.complete_appointment(actor=actor, appointment=locked.appointment_id)
        except scheduling.SchedulingError as error:
            raise FlowError(error.message, field="step") from error
        paid = ""
        if balance is not None:
            VisitPayment.objects.create(
                visit=locked,
                kind=VisitPayment.Kind.BALANCE,
                amount=balance.amount,
                method=balance.method,
                receipt_number=balance.receipt_number,
                taken_at=now,
                taken_by=_user_or_none(actor),
            )
            paid = f"; balance {balance.amount} by {PaymentMethod(balance.method).label.lower()}"
        from_step = locked.step
        locked.step = Step.CHECKED_OUT
        locked.step_since = now
        locked.checked_out_at = now
        locked.save(update_fields=["step", "step_since", "checked_out_at"])
        _add_event(locked, actor=actor, at=now, from_step=from_step)
        _record(actor, locked, f"Checked out{paid}", before)
        return locked


def book_follow_up(
    *,
    actor: User,
    visit: Visit | int,
    provider: Staff,
    appointment_type: AppointmentType,
    start: datetime,
    now: datetime | None = None,
    submission_key: str = "",
) -> scheduling.BookingResult:
    """Book the visit's follow-up through scheduling (its rules decide) and remember it.

    A repeat of the submission that booked it gets that appointment back (`replayed`).
    """
    now = now or timezone.now()
    with transaction.atomic():
        earlier = scheduling.booked_by_submission(actor=actor, submission_key=submission_key)
        locked = _lock(visit)
        if earlier is not None:
            if locked.follow_up_id != earlier.pk:  # the key of another form
                raise FlowError(REUSED_KEY, field="start")
            return scheduling.BookingResult(earlier, replayed=True)
        _require_clinic(actor, locked.clinic_id)
        if locked.follow_up_id is not None:
            raise FlowError("A follow-up is already booked for this visit.", field="start")
        if locked.step in (Step.LEFT_WITHOUT_BEING_SEEN, Step.SENT_ELSEWHERE):
            raise IllegalStep("This patient was not seen here; book from the schedule.")
        tz = locked.clinic.tz
        result = scheduling.book_appointment(
            actor=actor,
            clinic=locked.clinic,
            patient=locked.patient,
            provider=provider,
            appointment_type=appointment_type,
            start=start,
            notes=f"Follow-up of the visit on {locked.checked_in_at.astimezone(tz):%m/%d/%Y}",
            now=now,
            submission_key=submission_key,
        )
        before = audit.snapshot(locked, Visit.AUDITED_FIELDS)
        locked.follow_up = result.appointment
        locked.save(update_fields=["follow_up"])
        local = start.astimezone(tz)
        _record(actor, locked, f"Follow-up booked {local:%m/%d/%Y %H:%M} with {provider}", before)
        return result


# --- rooms and settings -------------------------------------------------------------------


def mark_room_clean(*, actor: User, room: Room, now: datetime | None = None) -> RoomTurn | None:
    """The room is ready for the next patient; None if it was already clean."""
    now = now or timezone.now()
    _require_clinic(actor, room.clinic_id)
    with transaction.atomic():
        turn = (
            RoomTurn.objects.select_for_update().filter(room=room, cleaned_at__isnull=True).first()
        )
        if turn is None:
            return None
        if turn.vacated_at is None:
            raise RoomUnavailable(f"{room.name} still has a patient in it.", field="room")
        turn.cleaned_at = max(now, turn.vacated_at)
        turn.cleaned_by = _user_or_none(actor)
        turn.save(update_fields=["cleaned_at", "cleaned_by"])
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=turn,
            clinic=room.clinic_id,
            summary=f"{room.name} cleaned, "
            f"{int((turn.cleaned_at - turn.vacated_at) / timedelta(minutes=1))} min after use",
        )
        return turn


def set_thresholds(
    *, actor: User, clinic: Clinic, thresholds: dict[str, tuple[int, int]]
) -> list[StepThreshold]:
    """Set a clinic's amber and red minutes per step."""
    _require_clinic(actor, clinic.pk)
    for step, (amber, red) in thresholds.items():
        if step not in ACTIVE_STEPS:
            raise FlowError("Unknown step.", field="step")
        if amber < 1 or red <= amber:
            raise FlowError(
                f"{_step_label(step)}: red must come after amber, and amber after 0 minutes.",
                field=f"{step}_red",
            )
    with transaction.atomic():
        rows = []
        changes = {}
        for step, (amber, red) in thresholds.items():
            row, _ = StepThreshold.objects.update_or_create(
                clinic=clinic, step=step, defaults={"amber_minutes": amber, "red_minutes": red}
            )
            rows.append(row)
            changes[step] = [amber, red]
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            object_type="patientflow.stepthreshold",
            clinic=clinic,
            summary="Flow board alert thresholds changed",
            changes=changes,
        )
        return rows


def record_board_view(
    *, actor: User, clinic: Clinic, board: str, patient_ids: list[int], poll: bool
) -> AuditEvent | None:
    """Audit that a board showed these patients to `actor`.

    A board polls every few seconds. A poll (or the board redrawn after an action on it) that
    shows the same patients as this user's last audited view of the board adds nothing; a
    page load, or a new patient on screen, does.
    """
    if not patient_ids:
        return None
    ids = sorted(set(patient_ids))
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
    key = f"patientflow:seen:{board}:{actor.pk}:{clinic.pk}"
    # Without Redis every poll is audited again (more rows, nothing missed); see softcache.
    if poll and softcache.get(key) == digest:
        return None
    with transaction.atomic():
        event = audit.record(
            actor=actor,
            action=AuditEvent.Action.VIEW,
            object_type=f"patientflow.{board}",
            clinic=clinic,
            summary=f"{board.replace('_', ' ').capitalize()}: {len(ids)} patient(s) shown",
            changes={"patient_ids": ids},
        )
    softcache.set(key, digest, timeout=settings.SESSION_ABSOLUTE_LIFETIME)
    return event
