"""Compliance's metric for the weekly dashboard: incident closure days (median), as raw values
per clinic and day.

An incident counts on the clinic-local day it was closed; its value is the number of
clinic-local calendar days from the day it was reported to the day it was closed (closed the
day it was reported: 0). Calendar days, not elapsed hours divided by 24, so a 23- or 25-hour DST
day is one day like any other. A reopened incident counts only on the day it was last closed
(reopening clears `closed_at`; the change triggers mark the old day for re-roll).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from clinicops.core.models import Clinic
from clinicops.kpis.registry import Drilldown, Kind, Metric, Source, Unit, day_bounds, register

from .models import Incident


def _closed(clinic: Clinic, first: date, last: date) -> QuerySet[Incident]:
    start, end = day_bounds(clinic, first)[0], day_bounds(clinic, last)[1]
    return Incident.objects.filter(
        clinic=clinic, status=Incident.Status.CLOSED, closed_at__gte=start, closed_at__lt=end
    )


def closure_days(incident: Incident, clinic: Clinic) -> int:
    """Clinic-local calendar days from report to close."""
    assert incident.closed_at is not None  # noqa: S101 - only closed incidents are measured
    tz = clinic.tz
    return (
        incident.closed_at.astimezone(tz).date() - incident.reported_at.astimezone(tz).date()
    ).days


def incident_closure_days(clinic: Clinic, day: date) -> list[int]:
    """Days from report to close of each incident closed on the clinic-local `day`."""
    return [
        closure_days(incident, clinic)
        for incident in _closed(clinic, day, day).only("reported_at", "closed_at").order_by("pk")
    ]


# The range version's one statement: each closed incident's local closing day and its days
# from report to close, as `closure_days` counts them (local calendar dates, so a DST day is
# a day like any other).
_CLOSURE_SQL = """
    SELECT day, (day - (reported_at AT TIME ZONE %(tz)s)::date)
    FROM (SELECT id, reported_at, (closed_at AT TIME ZONE %(tz)s)::date AS day
          FROM compliance_incident
          WHERE clinic_id = %(clinic)s AND status = %(closed)s
            AND closed_at >= %(start)s AND closed_at < %(end)s) closed
    ORDER BY id
"""


def incident_closure_range(clinic: Clinic, first: date, last: date) -> dict[date, list[int]]:
    """`incident_closure_days` of every local day first..last, in one query."""
    found: dict[date, list[int]] = {}
    params: dict[str, Any] = {
        "tz": clinic.time_zone,
        "clinic": clinic.pk,
        "closed": Incident.Status.CLOSED.value,
        "start": day_bounds(clinic, first)[0],
        "end": day_bounds(clinic, last)[1],
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLOSURE_SQL, params)
        for day, days in cursor.fetchall():
            found.setdefault(day, []).append(days)
    return found


def incident_closure_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """The incidents closed in the period, fewest days first; the middle row(s) marked."""
    tz = clinic.tz
    incidents = sorted(
        _closed(clinic, first, last),
        key=lambda i: (closure_days(i, clinic), i.closed_at, i.pk),
    )
    n = len(incidents)
    middle = {(n - 1) // 2, n // 2} if n else set()
    return Drilldown(
        columns=(
            "Median",
            "Incident",
            "Category",
            "Harm",
            "Reported",
            "Closed",
            "Closed with a reason",
            "Days",
        ),
        rows=tuple(
            (
                "median" if index in middle else "",
                f"#{i.pk} {i.title}",
                i.get_category_display(),
                i.get_harm_display(),
                i.reported_at.astimezone(tz),
                i.closed_at.astimezone(tz) if i.closed_at else None,
                "yes" if i.close_reason else "no",
                closure_days(i, clinic),
            )
            for index, i in enumerate(incidents)
        ),
        patient_ids=tuple(i.patient_id for i in incidents),
        caption="Incidents closed in the period: clinic-local days from report to close",
    )


register(
    Metric(
        key="incident_closure_days",
        label="Incident closure time (median)",
        unit=Unit.DAYS,
        kind=Kind.MEDIAN,
        compute=incident_closure_days,
        compute_range=incident_closure_range,
        drilldown=incident_closure_drilldown,
        sources=(Source("compliance.Incident", clinic="clinic", day="closed_at"),),
        default_target=Decimal(30),
        description="Median days from an incident's report to its closing.",
        definition=(
            "Median, over the incidents and near misses closed during the period, of the "
            "clinic-local calendar days from the day the incident was reported to the day it "
            "was closed (closed the day it was reported counts 0; a DST day is one day). An "
            "incident counts on the local day it was last closed: a reopened incident leaves "
            "the day it was first closed. Closings with a stated reason count like the others. "
            "Not in shared/KPIS.md; the median is taken over every incident of the period, "
            "never of daily medians."
        ),
    )
)
