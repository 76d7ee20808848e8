"""Workforce Celery tasks: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="workforce.tasks.autofill_week")
def autofill_week(run_id: int) -> str:
    from .services import autofill_runs

    run = autofill_runs.execute(run_id)
    return str(run.status)
