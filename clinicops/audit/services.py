"""The scheduled chain check: verify, keep the anchor, alert the trail's readers once per break."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import EmailMessage

from .audit import ChainAnchor, ChainVerification, verify_chain

logger = logging.getLogger(__name__)

# Kept in the cache (Redis), outside the database: the newest head verified intact, and the
# break already reported, so a retried or repeated check does not mail the officers twice.
# The keys keep the names they had when this lived in `compliance` (a running anchor survives).
ANCHOR_CACHE_KEY = "compliance:audit-chain:anchor"
REPORTED_CACHE_KEY = "compliance:audit-chain:reported-break"
# Who is mailed about a break: the active members of the groups that may read the trail (the
# Compliance officer role, clinicops.core.roles), found by permission so this app names no role.
READ_PERMISSION = ("audit", "view_auditevent")


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
            .objects.filter(
                groups__permissions__content_type__app_label=READ_PERMISSION[0],
                groups__permissions__codename=READ_PERMISSION[1],
                is_active=True,
            )
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
