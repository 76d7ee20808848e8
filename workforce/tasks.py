"""Workforce Celery tasks: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="workforce.tasks.autofill_week")
def autofill_week(run_id: int) -> str:
    from .services import autofill_runs

    run = autofill_runs.execute(run_id)
    return str(run.status)


@shared_task(name="workforce.tasks.send_credential_alerts")
def send_credential_alerts() -> int:
    """Daily: the credential expiry alerts due (60, 30, 7 days), each sent once."""
    from django.utils import timezone

    from .services.credentials import send_alerts

    return send_alerts(today=timezone.localdate())
