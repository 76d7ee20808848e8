"""Nightly supplies work: stockout snapshot, reorder suggestions, expiry alerts.

Beat runs `dispatch_nightly` hourly; it enqueues one `run_nightly` per clinic whose local hour
is SUPPLIES_NIGHTLY_LOCAL_HOUR, so each clinic's night starts at its own 02:00. Every step is
idempotent, so a retried or duplicated task changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from clinicops.core.models import Clinic

from . import services


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def run_nightly(clinic_id: int, day: str) -> dict[str, int]:
    """Run the nightly work for one clinic and the local day that just ended (ISO date)."""
    clinic = Clinic.objects.filter(pk=clinic_id, is_active=True).first()
    if clinic is None:
        return {}
    return services.run_nightly(clinic=clinic, day=date.fromisoformat(day))


def clinics_due(now: datetime, hour: int) -> list[tuple[int, date]]:
    """(clinic id, the local day that just ended) for each clinic whose local hour is `hour`."""
    due = []
    for clinic in Clinic.objects.filter(is_active=True):
        local = timezone.localtime(now, timezone=clinic.tz)
        if local.hour == hour:
            due.append((clinic.pk, local.date() - timedelta(days=1)))
    return due


@shared_task(acks_late=True)
def dispatch_nightly() -> int:
    """Enqueue the nightly work of each clinic whose night has come; returns how many."""
    due = clinics_due(timezone.now(), settings.SUPPLIES_NIGHTLY_LOCAL_HOUR)
    for clinic_id, day in due:
        run_nightly.delay(clinic_id, day.isoformat())
    return len(due)
