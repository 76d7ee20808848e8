"""What the revenue services share: the error they raise and the audit entry they write."""

from __future__ import annotations

from typing import Any

from django.db import models

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent


class RevenueError(Exception):
    """A refused write: `message` says what to change, `field` names the input it is about."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def record(
    actor: Any,
    obj: models.Model,
    summary: str,
    *,
    action: str = AuditEvent.Action.UPDATE,
    changes: dict[str, Any] | None = None,
) -> None:
    """The audit entry of a write about a patient's visit, claim or batch (last in the
    transaction)."""
    audit.record(
        actor=actor,
        action=action,
        obj=obj,
        patient=getattr(obj, "patient_id", None),
        clinic=getattr(obj, "clinic_id", None),
        summary=summary,
        changes=changes,
    )
