"""Background work of scheduling: thin, idempotent wrappers over the services."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task
from django.db import OperationalError

from .services import reminders


@shared_task(
    autoretry_for=(OSError, OperationalError, SMTPException),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def send_reminders() -> int:
    """Every 10 minutes (settings.CELERY_BEAT_SCHEDULE): email the reminders now due."""
    return reminders.send_due_reminders()


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def mark_no_shows() -> int:
    """Every 5 minutes: appointments with no check-in long after their end become no-shows."""
    return reminders.mark_overdue_no_shows()
