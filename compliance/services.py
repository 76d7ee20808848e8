"""Compliance verbs: auditing the audit log's own use, and the scheduled chain check."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.db import transaction

from clinicops.core import roles
from clinicops.core.models import Clinic, User

from . import audit
from .audit import ChainAnchor, ChainVerification, verify_chain
from .models import AuditEvent

logger = logging.getLogger(__name__)

# Kept in the cache (Redis), outside the database: the newest head verified intact, and the
# break already reported, so a retried or repeated check does not mail the officers twice.
ANCHOR_CACHE_KEY = "compliance:audit-chain:anchor"
REPORTED_CACHE_KEY = "compliance:audit-chain:reported-break"


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


def load_chain_anchor() -> ChainAnchor | None:
    """The newest (seq, hash) an earlier check found intact, if one was kept."""
    value = cache.get(ANCHOR_CACHE_KEY)
    if not isinstance(value, dict):
        return None
    return ChainAnchor(seq=int(value["seq"]), hash=str(value["hash"]))


def check_audit_chain() -> ChainVerification:
    """Verify the chain; on a break, log it and email the compliance officers once per break."""
    result = verify_chain(anchor=load_chain_anchor())
    if result.broken is None:
        if result.head is not None:
            cache.set(
                ANCHOR_CACHE_KEY, {"seq": result.head.seq, "hash": result.head.hash}, timeout=None
            )
        cache.delete(REPORTED_CACHE_KEY)
        return result
    logger.error(
        "Audit chain broken at %s (%d events before it intact)",
        result.broken.describe(),
        result.checked,
    )
    if cache.get(REPORTED_CACHE_KEY) != result.broken.seq and _email_compliance_officers(result):
        cache.set(REPORTED_CACHE_KEY, result.broken.seq, timeout=None)
    return result


def _email_compliance_officers(result: ChainVerification) -> bool:
    assert result.broken is not None  # noqa: S101 - only called for a break
    recipients = sorted(
        set(
            get_user_model()
            .objects.filter(groups__name=roles.COMPLIANCE, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not recipients:
        logger.error("No active compliance officer has an email address to alert.")
        return False
    body = (
        f"The scheduled check of the ClinicOps audit trail found a break at "
        f"{result.broken.describe()}.\n\n"
        f"{result.checked} event(s) before it verified intact. Events from the break on can no "
        f"longer be trusted to be as they were recorded.\n\n"
        f"Re-run `manage.py verify_audit_chain` to confirm, preserve a copy of the database and "
        f"its logs, and open an incident. This message is sent once per break."
    )
    EmailMessage(
        subject=f"[ClinicOps] Audit trail integrity check failed at event #{result.broken.seq}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    ).send()
    return True
