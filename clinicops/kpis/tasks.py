"""The nightly rollup under Celery: an hourly dispatcher fans out one task per clinic and day.

Beat runs `dispatch_nightly_rollups` every hour. Each clinic whose local 02:00 fell within
the hour just begun gets one `rollup_clinic_days` task for yesterday and the KPI_TRAILING_DAYS
days before it (one range computation per metric for the 8 days, not 8; `rollup_clinic_day`
stays for tasks queued before that change), then tasks for every older day whose source data changed
since it was rolled up (the change triggers' marks, `changes.py`) and for every day of the
last KPI_COMPLETENESS_DAYS missing a row (a rollup lost with a killed worker). Each task
recomputes whole clinic-days idempotently, so a duplicate, a retry or a redelivery is harmless.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from clinicops.core import nightly
from clinicops.core.models import Clinic

from . import changes, services

DEFAULT_TRAILING_DAYS = 7
DEFAULT_LOCAL_HOUR = 2


def clinics_due(now: datetime, *, hour: int | None = None) -> list[tuple[int, date]]:
    """(clinic id, yesterday in that clinic) for each active clinic whose local `hour`
    (KPI_ROLLUP_LOCAL_HOUR) o'clock fell in the clock hour ending at `now`: the DST-proof rule
    of `clinicops.core.nightly`, shared with every nightly dispatcher."""
    return nightly.clinics_due(now, settings.KPI_ROLLUP_LOCAL_HOUR if hour is None else hour)


def days_to_roll(yesterday: date, trailing_days: int | None = None) -> list[date]:
    """Yesterday and the trailing window before it, newest first."""
    trailing = settings.KPI_TRAILING_DAYS if trailing_days is None else trailing_days
    return [yesterday - timedelta(days=i) for i in range(max(trailing, 0) + 1)]


# Every rollup task is safe to run twice (an upsert of whole clinic-days), so it is
# acknowledged only once done (acks_late) and re-queued if its worker dies under it
# (reject_on_worker_lost): a SIGKILLed worker loses nothing. It must end well inside the
# broker's visibility timeout (settings.CELERY_BROKER_TRANSPORT_OPTIONS), after which Redis
# hands an unacknowledged task to another worker: hence the time limits.
ROLLUP_TASK = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 5,
    "ignore_result": True,
    "soft_time_limit": 240,
    "time_limit": 300,
}
# Days of changes or gaps per task: a month computes in a few seconds with range functions.
CHUNK_DAYS = 31


@shared_task(**ROLLUP_TASK)
def rollup_clinic_day(clinic_id: int, day: str) -> int:
    """Recompute every metric of one clinic's local day (ISO date); safe to run twice."""
    return services.rollup_clinic_day(clinic_id=clinic_id, day=date.fromisoformat(day))


@shared_task(**ROLLUP_TASK)
def rollup_clinic_days(clinic_id: int, days: list[str]) -> int:
    """Recompute every metric of one clinic's local `days` (ISO dates); safe to run twice."""
    clinic = Clinic.objects.filter(pk=clinic_id, is_active=True).first()
    if clinic is None:
        return 0
    return services.rollup_clinic_days(
        clinic=clinic, days=[date.fromisoformat(day) for day in days]
    )


def catch_up_days(clinic: Clinic, yesterday: date, rolled: list[date]) -> list[date]:
    """The days the night must re-roll beyond `rolled`: each past day whose source data
    changed since it was rolled up (whatever its age), and each day of the last
    KPI_COMPLETENESS_DAYS missing a metric's row (a rollup lost with its worker)."""
    horizon = yesterday - timedelta(days=max(settings.KPI_COMPLETENESS_DAYS, 0))
    days = set(changes.changed_days(clinic=clinic, through=yesterday))
    days |= set(changes.missing_days(clinic=clinic, first=horizon, last=yesterday))
    return sorted(days - set(rolled))


def _chunks(days: list[date]) -> list[list[date]]:
    return [days[i : i + CHUNK_DAYS] for i in range(0, len(days), CHUNK_DAYS)]


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def dispatch_nightly_rollups(now: str | None = None, queue: str | None = None) -> int:
    """Enqueue the rollups of each clinic whose night has come; returns how many tasks.

    Per clinic: one task for yesterday and the KPI_TRAILING_DAYS before it, then tasks of up
    to a month for the days found by `catch_up_days` (late changes, lost rows).
    `now` (ISO datetime) replaces the clock; `queue` routes the fan-out, for example to
    dedicated KPI workers.
    """
    instant = datetime.fromisoformat(now) if now else timezone.now()
    options = {"queue": queue} if queue else {}
    count = 0
    for clinic_id, yesterday in clinics_due(instant):
        rolled = days_to_roll(yesterday)
        # The night's days in one task: each metric's range function runs once for the run of
        # days (the stockout rate's opening balance sums the ledger once, not once per day).
        rollup_clinic_days.apply_async(
            (clinic_id, [day.isoformat() for day in sorted(rolled)]), **options
        )
        count += 1
        clinic = Clinic.objects.get(pk=clinic_id)
        for chunk in _chunks(catch_up_days(clinic, yesterday, rolled)):
            rollup_clinic_days.apply_async(
                (clinic_id, [day.isoformat() for day in chunk]), **options
            )
            count += 1
    return count


# --- the weekly digest ------------------------------------------------------------------


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, OSError),
    retry_backoff=True,
    max_retries=5,
    ignore_result=True,
)
def send_weekly_digest(clinic_id: int, week_start: str) -> bool:
    """Email one clinic's digest of the week starting `week_start` (ISO date), at most once."""
    from . import digest

    sent = digest.send_weekly_digest(clinic_id=clinic_id, week_start=date.fromisoformat(week_start))
    return sent is not None


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def dispatch_weekly_digests(now: str | None = None) -> int:
    """Hourly: enqueue the digest of each clinic where it is now Monday KPI_DIGEST_LOCAL_HOUR
    o'clock (the last complete week); returns how many were enqueued."""
    from . import digest

    instant = datetime.fromisoformat(now) if now else timezone.now()
    count = 0
    for clinic_id, yesterday in clinics_due(instant, hour=settings.KPI_DIGEST_LOCAL_HOUR):
        today = yesterday + timedelta(days=1)
        if today.weekday() != 0:
            continue
        send_weekly_digest.delay(clinic_id, digest.digest_week(today).isoformat())
        count += 1
    return count
