"""Overdue corrective actions: an hourly dispatcher and one alert task per clinic.

Beat runs `dispatch_overdue_alerts` hourly (a crontab at :20); it enqueues `alert_overdue` for
each clinic whose local INCIDENT_ALERT_LOCAL_HOUR (07:00) fell in the hour just ended, by the
DST-proof rule every nightly dispatcher shares (`clinicops.core.nightly`): each clinic once per
local day, the day the clocks change included. The alert itself is sent once per action and
overdue spell (`incidents.alert_overdue_actions`), so a duplicate or retried task sends nothing.
Imported by `ComplianceConfig.ready()` (Celery autodiscovers only `tasks` modules).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from clinicops.core import nightly
from clinicops.core.models import Clinic

from . import incidents


def clinics_due(now: datetime, hour: int | None = None) -> list[tuple[int, date]]:
    """(clinic id, the clinic's local today) for each clinic whose alert hour has come."""
    local_hour = settings.INCIDENT_ALERT_LOCAL_HOUR if hour is None else hour
    return [
        (clinic_id, yesterday + timedelta(days=1))
        for clinic_id, yesterday in nightly.clinics_due(now, local_hour)
    ]


@shared_task(
    name="compliance.tasks.alert_overdue_actions",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, OSError),
    retry_backoff=True,
    max_retries=5,
)
def alert_overdue(clinic_id: int, today: str) -> int:
    """Alert the clinic's newly overdue actions as of its local `today` (ISO date)."""
    clinic = Clinic.objects.filter(pk=clinic_id, is_active=True).first()
    if clinic is None:
        return 0
    return incidents.alert_overdue_actions(clinic=clinic, today=date.fromisoformat(today))


@shared_task(
    name="compliance.tasks.dispatch_overdue_alerts",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def dispatch_overdue_alerts(now: str | None = None) -> int:
    """Enqueue the overdue-action alerts of each clinic whose morning has come."""
    instant = datetime.fromisoformat(now) if now else timezone.now()
    due = clinics_due(instant)
    for clinic_id, today in due:
        alert_overdue.delay(clinic_id, today.isoformat())
    return len(due)
