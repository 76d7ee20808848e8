"""Compliance verbs: auditing the audit log's own use (the chain check is clinicops.audit)."""

from __future__ import annotations

from django.db import transaction

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, User


def record_audit_log_access(
    *,
    actor: User,
    clinic: Clinic | None,
    action: str,
    filters: str,
    patient_ids: list[int] | None,
    rows: int,
) -> AuditEvent:
    """Audit one look at (SEARCH) or download of (EXPORT) the audit log itself."""
    verb = "export" if action == AuditEvent.Action.EXPORT else "search"
    single_patient = patient_ids[0] if patient_ids and len(patient_ids) == 1 else None
    with transaction.atomic():
        return audit.record(
            actor=actor,
            action=action,
            object_type="compliance.auditevent",
            patient=single_patient,
            clinic=clinic if single_patient is None else None,
            summary=f"Audit log {verb}: {filters}; {rows} event(s)",
            changes={"patient_ids": patient_ids} if patient_ids else {},
        )
