"""Revenue Celery tasks: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="revenue.tasks.send_denial_digest")
def send_denial_digest() -> int:
    """The weekly mail to each owner of open denials (Mondays, settings.CELERY_BEAT_SCHEDULE)."""
    from .services import denials

    return denials.send_weekly_digest()
