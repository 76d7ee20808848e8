"""Background work of the audit trail."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError
from redis.exceptions import RedisError

from . import services


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
