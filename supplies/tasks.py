"""Nightly supplies work: reorder suggestions, expiry alerts.

Beat runs `dispatch_nightly` hourly on the hour; it enqueues one `run_nightly` per clinic whose
local SUPPLIES_NIGHTLY_LOCAL_HOUR (01:00) o'clock fell in the hour just ended, by the DST-proof
rule of `clinicops.core.nightly`: each clinic's night runs once, the night the clocks skip an
hour included, and an hour before the KPI rollup (02:00) that reads the day's stock. Every
step is idempotent, so a retried or duplicated task changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from clinicops.core import nightly
from clinicops.core.models import Clinic

from .services import nightly as nightly_services


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def run_nightly(clinic_id: int, day: str) -> dict[str, int]:
    """Run the nightly work for one clinic and the local day that just ended (ISO date)."""
    clinic = Clinic.objects.filter(pk=clinic_id, is_active=True).first()
    if clinic is None:
        return {}
    return nightly_services.run_nightly(clinic=clinic, day=date.fromisoformat(day))


def clinics_due(now: datetime, hour: int) -> list[tuple[int, date]]:
    """(clinic id, the local day that just ended) for each clinic whose local `hour` o'clock
    fell in the clock hour ending at `now`: the DST-proof rule every nightly dispatcher shares
    (`clinicops.core.nightly`), so the spring-forward night is not skipped."""
    return nightly.clinics_due(now, hour)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def dispatch_nightly() -> int:
    """Enqueue the nightly work of each clinic whose night has come; returns how many."""
    due = clinics_due(timezone.now(), settings.SUPPLIES_NIGHTLY_LOCAL_HOUR)
    for clinic_id, day in due:
        run_nightly.delay(clinic_id, day.isoformat())
    return len(due)
