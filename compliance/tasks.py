"""Background work of the compliance module: the nightly anomaly hints and the quarterly
access reviews. Both are idempotent (one hint per clinic, user, rule and day; one quarterly
review per clinic and quarter), so a retried or duplicated task changes nothing."""

from __future__ import annotations

from datetime import date, datetime

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from clinicops.core import nightly
from clinicops.core.models import Clinic

from . import access_review, anomalies
from .models import AccessReview


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def compute_anomaly_hints(clinic_id: int, day: str) -> int:
    """The hints of one clinic's local day (ISO date); returns how many are new."""
    clinic = Clinic.objects.filter(pk=clinic_id, is_active=True).first()
    if clinic is None:
        return 0
    return len(anomalies.compute_hints(clinic, date.fromisoformat(day)))


def anomaly_clinics_due(now: datetime) -> list[tuple[int, date]]:
    return nightly.clinics_due(now, int(getattr(settings, "ANOMALY_LOCAL_HOUR", 3)))


@shared_task(ignore_result=True)
def dispatch_anomaly_hints() -> int:
    """Hourly (beat): enqueue yesterday's hints for each clinic whose local ANOMALY_LOCAL_HOUR
    came in the hour just ended (the DST-proof rule of clinicops.core.nightly)."""
    due = anomaly_clinics_due(timezone.now())
    for clinic_id, day in due:
        compute_anomaly_hints.delay(clinic_id, day.isoformat())
    return len(due)


def quarterly_reviews_due(now: datetime) -> list[Clinic]:
    """Active clinics with no quarterly review for the quarter it is now where they are.

    Decided on the clinic's local date, not on an hour matching: a DST night or a beat that
    was down on the 1st only delays the review to the next hourly run, never skips it.
    """
    due = []
    for clinic in Clinic.objects.filter(is_active=True).order_by("pk"):
        period = access_review.quarter_of(timezone.localtime(now, clinic.tz).date())
        if not AccessReview.objects.filter(clinic=clinic, period=period).exists():
            due.append(clinic)
    return due


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def start_quarterly_access_reviews() -> int:
    """Hourly (beat): start this quarter's access review of each clinic that has none yet."""
    now = timezone.now()
    made = 0
    for clinic in quarterly_reviews_due(now):
        access_review.start_review(
            clinic=clinic, actor=None, trigger=AccessReview.Trigger.QUARTERLY, now=now
        )
        made += 1
    return made
