"""Revenue Celery tasks: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(name="revenue.tasks.send_denial_digest")
def send_denial_digest() -> int:
    """The weekly mail to each owner of open denials (Mondays, settings.CELERY_BEAT_SCHEDULE)."""
    from .services import denials

    return denials.send_weekly_digest()


@shared_task(
    name="revenue.tasks.check_export_batch",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def check_export_batch(batch_id: int) -> str:
    """pyx12 over a stored 837P batch; the verdict is kept on the batch. Idempotent: a batch
    already checked (or gone) is left as it is."""
    from .services import batch_check

    batch = batch_check.check_batch(batch_id)
    return "missing" if batch is None else str(batch.check_status)


@shared_task(name="revenue.tasks.requeue_unchecked_batches", ignore_result=True)
def requeue_unchecked_batches() -> int:
    """Every few minutes (beat): queue the check of each batch whose check was never queued
    (the broker was down at export) or was lost."""
    from .services import batch_check

    return batch_check.requeue_unchecked()
