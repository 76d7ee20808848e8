"""Background work of the audit trail."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError
from redis.exceptions import RedisError

from . import sealer, services


# The name it had in `compliance`: the beat schedule and any message already queued keep working.
@shared_task(
    name="compliance.tasks.verify_audit_chain",
    autoretry_for=(OSError, OperationalError, RedisError),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def verify_audit_chain() -> dict[str, int | None]:
    """Hourly (settings.CELERY_BEAT_SCHEDULE): verify the chain, alert once on a break."""
    result = services.check_audit_chain()
    return {"checked": result.checked, "broken_at": result.broken.seq if result.broken else None}


@shared_task(name="audit.tasks.seal_audit_trail", ignore_result=True)
def seal_audit_trail() -> dict[str, int | bool]:
    """Every few seconds (settings.CELERY_BEAT_SCHEDULE): chain the committed unsealed rows.

    A second run while one is sealing returns at once (the sealer's advisory lock); nothing is
    retried, because the next beat seals whatever is left.
    """
    result = sealer.seal_pending()
    return {"sealed": result.sealed, "head": result.head_seq, "busy": result.busy}


@shared_task(
    name="audit.tasks.publish_audit_witness",
    autoretry_for=(OSError, OperationalError),
    retry_backoff=True,
    max_retries=5,
)
def publish_audit_witness(email: bool = False) -> int | None:
    """Hourly to the witness file; daily (email=True) also to the compliance officers."""
    entry = services.publish_witness(email=email)
    return entry.seq if entry else None
