"""What the patient-flow services share: the error types, payment input, the visit row lock, the
visit's event log, the caller's-step check, and occupying and vacating rooms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import servicekit
from clinicops.core.models import Clinic, Room

from ..models import (
    MONEY_MAX,
    IntakeForm,
    PaymentMethod,
    RoomTurn,
    Step,
    Visit,
    VisitEvent,
)


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


def require_clinic(actor: Any, clinic_id: int) -> None:
    if not servicekit.works_at(actor, clinic_id):
        raise FlowError("You do not work at this clinic.", field="clinic")


def local_time(clinic: Clinic, moment: datetime) -> str:
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


def validate_forms(forms_signed: Sequence[str]) -> list[str]:
    unknown = set(forms_signed) - set(IntakeForm.values)
    if unknown:
        raise FlowError("Unknown form in the list of forms signed.", field="forms_signed")
    return [value for value in IntakeForm.values if value in forms_signed]


def lock(visit: Visit | int) -> Visit:
    return servicekit.lock_row(Visit, visit, related=("clinic", "patient", "appointment", "room"))


def add_event(
    visit: Visit,
    *,
    actor: Any,
    at: datetime,
    from_step: str,
    kind: str = VisitEvent.Kind.ADVANCE,
    reason: str = "",
    undoes: VisitEvent | None = None,
) -> VisitEvent:
    """Append the visit's event for its move to `visit.step`. The database then recomputes
    `visit.with_provider_at` from the event log (migration 0003's trigger); it is re-read here
    when this event can have changed it, so the returned visit shows what is stored."""
    event = VisitEvent.objects.create(
        visit=visit,
        kind=kind,
        from_step=from_step,
        to_step=visit.step,
        room=visit.room,
        at=at,
        actor=servicekit.user_or_none(actor),
        actor_label=servicekit.actor_label(actor),
        reason=reason[:255],
        undoes=undoes,
    )
    if kind == VisitEvent.Kind.UNDO or visit.step == Step.WITH_PROVIDER:
        visit.refresh_from_db(fields=["with_provider_at"])
    return event


def expect(visit: Visit, expected_step: str) -> None:
    """Refuse to act on a visit that someone moved since the caller last saw it."""
    if visit.step == expected_step:
        return
    last = visit.events.order_by("-at", "-pk").first()
    who = f" by {last.actor_label}" if last else ""
    when = f" at {local_time(visit.clinic, last.at)}" if last else ""
    raise AlreadyMoved(
        f"{visit.patient} was already moved to “{visit.get_step_display()}”{who}{when}. "
        "The board now shows where the patient is.",
        visit=visit,
    )


def record(actor: Any, visit: Visit, summary: str, before: dict[str, Any]) -> None:
    audit.record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        obj=visit,
        patient=visit.patient,
        clinic=visit.clinic_id,
        summary=summary,
        changes=audit.diff(before, audit.snapshot(visit, Visit.AUDITED_FIELDS)),
    )


def step_label(step: str) -> str:
    return Step(step).label


def _room_busy_message(room: Room) -> str:
    turn = RoomTurn.objects.filter(room=room, cleaned_at__isnull=True).first()
    if turn is not None and turn.vacated_at is not None:
        return f"{room.name} needs cleaning before the next patient: mark it clean first."
    return f"{room.name} is occupied by another patient. Choose another room."


def occupy(visit: Visit, room: Room, now: datetime) -> None:
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


def vacate(visit: Visit, now: datetime, *, undone: bool = False) -> None:
    """The patient left the room: it needs cleaning (or, for an undone rooming, is free)."""
    turns = RoomTurn.objects.filter(visit=visit, vacated_at__isnull=True)
    if undone:
        turns.update(vacated_at=now, cleaned_at=now, undone=True)
    else:
        turns.update(vacated_at=now)
    visit.room = None


def reoccupy(visit: Visit, now: datetime) -> None:
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
        occupy(visit, turn.room, now)
    except RoomUnavailable as error:
        raise RoomUnavailable(
            f"Cannot undo: {turn.room.name} has been turned over since. {error.message}",
            field="room",
        ) from error
