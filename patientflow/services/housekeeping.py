"""The board's housekeeping: a room marked clean, the step thresholds, and the audited board
view."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import servicekit, softcache
from clinicops.core.models import Clinic, Room, User

from ..models import (
    ACTIVE_STEPS,
    RoomTurn,
    StepThreshold,
)
from . import common
from .common import FlowError, RoomUnavailable


def mark_room_clean(*, actor: User, room: Room, now: datetime | None = None) -> RoomTurn | None:
    """The room is ready for the next patient; None if it was already clean."""
    now = now or timezone.now()
    common.require_clinic(actor, room.clinic_id)
    with transaction.atomic():
        turn = (
            RoomTurn.objects.select_for_update().filter(room=room, cleaned_at__isnull=True).first()
        )
        if turn is None:
            return None
        if turn.vacated_at is None:
            raise RoomUnavailable(f"{room.name} still has a patient in it.", field="room")
        turn.cleaned_at = max(now, turn.vacated_at)
        turn.cleaned_by = servicekit.user_or_none(actor)
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
    common.require_clinic(actor, clinic.pk)
    for step, (amber, red) in thresholds.items():
        if step not in ACTIVE_STEPS:
            raise FlowError("Unknown step.", field="step")
        if amber < 1 or red <= amber:
            raise FlowError(
                f"{common.step_label(step)}: red must come after amber, and amber after 0 minutes.",
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
    # One INSERT, atomic on its own: no BEGIN and COMMIT round trips (a read's entry).
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
