"""Moving a visit through its steps, changing its room, and undoing the last step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.core.models import Room, User

from ..models import (
    ACTIVE_STEPS,
    IN_ROOM_STEPS,
    NEXT_STEPS,
    Step,
    Visit,
    VisitEvent,
)
from . import common
from .common import FlowError, IllegalStep


def illegal(from_step: str, to_step: str) -> IllegalStep:
    if to_step == Step.CHECKED_OUT:
        return IllegalStep(
            f"A visit at “{common.step_label(from_step)}” cannot be checked out: checkout is for a "
            "patient ready for checkout.",
            field="step",
        )
    if from_step not in ACTIVE_STEPS:
        return IllegalStep(
            f"This visit is over (“{common.step_label(from_step)}”); it cannot move on.",
            field="step",
        )
    return IllegalStep(
        f"A visit at “{common.step_label(from_step)}” cannot go to “{common.step_label(to_step)}”.",
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
        locked = common.lock(visit)
        common.require_clinic(actor, locked.clinic_id)
        common.expect(locked, expected_step)
        from_step = locked.step
        if to_step == Step.CHECKED_OUT or to_step not in NEXT_STEPS[from_step]:
            raise illegal(from_step, to_step)
        if to_step == Step.SENT_ELSEWHERE and not reason:
            raise FlowError("Say where the patient was sent.", field="reason")
        before = audit.snapshot(locked, Visit.AUDITED_FIELDS)
        if to_step in IN_ROOM_STEPS and from_step not in IN_ROOM_STEPS:
            if room is None:
                raise FlowError("Choose the room the patient goes to.", field="room")
            common.occupy(locked, room, now)
        elif from_step in IN_ROOM_STEPS and to_step not in IN_ROOM_STEPS:
            common.vacate(locked, now)
        locked.step = to_step
        locked.step_since = now
        locked.save(update_fields=["step", "step_since", "room"])
        common.add_event(locked, actor=actor, at=now, from_step=from_step, reason=reason)
        where = f" in {locked.room.name}" if locked.room and to_step == Step.ROOMED else ""
        common.record(
            actor,
            locked,
            f"{common.step_label(from_step)} → {common.step_label(to_step)}{where}"
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
        locked = common.lock(visit)
        common.require_clinic(actor, locked.clinic_id)
        common.expect(locked, expected_step)
        if locked.step not in IN_ROOM_STEPS:
            raise IllegalStep("Only a patient in a room can change rooms.", field="room")
        if room.pk == locked.room_id:
            raise FlowError(f"The patient is already in {room.name}.", field="room")
        before = audit.snapshot(locked, Visit.AUDITED_FIELDS)
        left = locked.room
        common.vacate(locked, now)
        common.occupy(locked, room, now)
        locked.save(update_fields=["room"])
        common.add_event(
            locked, actor=actor, at=now, from_step=locked.step, kind=VisitEvent.Kind.ROOM_CHANGE
        )
        common.record(
            actor, locked, f"Moved from {left.name if left else '-'} to {room.name}", before
        )
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
        locked = common.lock(visit)
        common.require_clinic(actor, locked.clinic_id)
        common.expect(locked, expected_step)
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
            common.vacate(locked, now, undone=True)
        elif from_step not in IN_ROOM_STEPS and target in IN_ROOM_STEPS:
            common.reoccupy(locked, now)
        locked.step = target
        locked.step_since = now
        locked.save(update_fields=["step", "step_since", "room"])
        common.add_event(
            locked,
            actor=actor,
            at=now,
            from_step=from_step,
            kind=VisitEvent.Kind.UNDO,
            reason=reason,
            undoes=last,
        )
        common.record(
            actor,
            locked,
            f"Undid {common.step_label(from_step)}, back to {common.step_label(target)}: {reason}",
            before,
        )
        return locked
