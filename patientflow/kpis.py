"""Patient-flow metrics for one clinic and one local day, as raw minutes (shared/KPIS.md).

Each function returns the day's raw durations, never a median: a week's median is taken
over the week's raw values, which the KPI engine collects day by day. Registering them with
the engine is the KPI engine's job; nothing here registers anything.

A visit belongs to the day it was checked in on (in the clinic's time zone). Its timeline is
its step events with every undone step removed, so a mistaken click and its undo leave no
trace in the figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection

from clinicops.core.models import Clinic
from clinicops.kpis.registry import Drilldown, Kind, Metric, Source, Unit, register
from scheduling import availability

from .models import ACTIVE_STEPS, Step, Visit, VisitEvent

MINUTE = Decimal(60)
CENTS = Decimal("0.01")


def minutes_between(start: datetime, end: datetime) -> Decimal:
    """Minutes from `start` to `end`, to the hundredth, never negative."""
    seconds = Decimal(str((end - start) / timedelta(seconds=1)))
    return max(Decimal(0), (seconds / MINUTE).quantize(CENTS))


@dataclass(frozen=True)
class VisitTimes:
    """One visit's effective timeline: each step and when it was entered."""

    visit_id: int
    scheduled_start: datetime
    checked_in_at: datetime
    is_walk_in: bool
    steps: list[tuple[str, datetime]]

    def entered(self, step: str) -> datetime | None:
        """When the visit first entered `step`, or None."""
        return next((at for s, at in self.steps if s == step), None)

    def durations(self) -> list[tuple[str, Decimal]]:
        """(step, minutes spent in it) for each step the visit has left."""
        return [
            (step, minutes_between(at, next_at))
            for (step, at), (_, next_at) in zip(self.steps, self.steps[1:], strict=False)
        ]


def effective_steps(events: list[VisitEvent]) -> list[tuple[str, datetime]]:
    """(step, entered at) from a visit's events, oldest first, leaving out undone steps."""
    undone = {e.undoes_id for e in events if e.kind == VisitEvent.Kind.UNDO}
    return [
        (e.to_step, e.at)
        for e in events
        if e.kind == VisitEvent.Kind.ADVANCE and e.pk not in undone
    ]


def visit_times(clinic: Clinic, day: date) -> list[VisitTimes]:
    """The effective timelines of the visits checked in at `clinic` on local `day`."""
    start, end = availability.day_bounds_utc(day, clinic.tz)
    visits = list(
        Visit.objects.filter(clinic=clinic, checked_in_at__gte=start, checked_in_at__lt=end)
        .select_related("appointment")
        .order_by("checked_in_at", "pk")
    )
    events: dict[int, list[VisitEvent]] = defaultdict(list)
    for event in VisitEvent.objects.filter(visit__in=visits).order_by("visit_id", "at", "pk"):
        events[event.visit_id].append(event)
    return [
        VisitTimes(
            visit_id=visit.pk,
            scheduled_start=visit.appointment.start,
            checked_in_at=visit.checked_in_at,
            is_walk_in=visit.is_walk_in,
            steps=effective_steps(events[visit.pk]),
        )
        for visit in visits
    ]


# The range versions read the visit's own times, one row per visit checked in over the range
# (index visit_clinic_checked_in): `checked_in_at`, `with_provider_at` (the first effective
# "with provider", which the database keeps from the event log: migration 0003) and
# `checked_out_at` (written with the checkout event, in the same transaction, same instant).
# Reading the event log instead hashed the whole event table once per chunk.
#
# One row per local day: the minutes of its visits in check-in order (the per-day functions'
# order, so the stored parts are the same whichever path computed them), as `minutes_between`
# gives them: never negative, to the hundredth, ties to even as Python's Decimal.quantize
# rounds (Postgres's round() takes ties away from zero). Integer arithmetic on the span in
# microseconds (timestamps are exact to the microsecond): q hundredths of a minute (600,000
# us each) and a remainder r, rounded up past half and to even at half.
_DOOR_TO_PROVIDER_SQL = """
    SELECT day,
           array_agg((q + CASE WHEN r > 300000 OR (r = 300000 AND q %% 2 = 1) THEN 1 ELSE 0 END)
                     / 100.0 ORDER BY checked_in_at, id)::float8[]
    FROM (SELECT day, checked_in_at, id, us / 600000 AS q, us %% 600000 AS r
          FROM (SELECT (v.checked_in_at AT TIME ZONE %(tz)s)::date AS day, v.checked_in_at, v.id,
                       greatest(0, (extract(epoch FROM v.with_provider_at - v.checked_in_at)
                                    * 1000000)::bigint) AS us
                FROM patientflow_visit v
                WHERE v.clinic_id = %(clinic)s
                  AND v.checked_in_at >= %(start)s AND v.checked_in_at < %(end)s
                  AND v.with_provider_at IS NOT NULL) spans) parts
    GROUP BY day
"""
# The same for cycle time: from check-in, or the scheduled start of a patient who came early
# (a walk-in counts from check-in), to checkout.
_CYCLE_TIME_SQL = """
    SELECT day,
           array_agg((q + CASE WHEN r > 300000 OR (r = 300000 AND q %% 2 = 1) THEN 1 ELSE 0 END)
                     / 100.0 ORDER BY checked_in_at, id)::float8[]
    FROM (SELECT day, checked_in_at, id, us / 600000 AS q, us %% 600000 AS r
          FROM (SELECT (v.checked_in_at AT TIME ZONE %(tz)s)::date AS day, v.checked_in_at, v.id,
                       greatest(0, (extract(epoch FROM v.checked_out_at - CASE
                           WHEN NOT v.is_walk_in AND a.start > v.checked_in_at THEN a.start
                           ELSE v.checked_in_at END) * 1000000)::bigint) AS us
                FROM patientflow_visit v
                JOIN scheduling_appointment a ON a.id = v.appointment_id
                WHERE v.clinic_id = %(clinic)s
                  AND v.checked_in_at >= %(start)s AND v.checked_in_at < %(end)s
                  AND v.checked_out_at IS NOT NULL) spans) parts
    GROUP BY day
"""


def _values_range(clinic: Clinic, first: date, last: date, sql: str) -> dict[date, list[float]]:
    """{local check-in day: minutes} by `sql`, whose rows are (local day, minutes[]): as
    floats, which the engine stores (float8[]); each is the double nearest the rounded
    hundredth, as float(minutes_between(...)) is."""
    tz = clinic.tz
    params = {
        "tz": clinic.time_zone,
        "clinic": clinic.pk,
        "start": availability.day_bounds_utc(first, tz)[0],
        "end": availability.day_bounds_utc(last, tz)[1],
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def door_to_provider_range(clinic: Clinic, first: date, last: date) -> dict[date, list[float]]:
    """`door_to_provider_minutes` for every local day first..last (one query)."""
    return _values_range(clinic, first, last, _DOOR_TO_PROVIDER_SQL)


def cycle_time_range(clinic: Clinic, first: date, last: date) -> dict[date, list[float]]:
    """`cycle_time_minutes` for every local day first..last (one query)."""
    return _values_range(clinic, first, last, _CYCLE_TIME_SQL)


def door_to_provider_minutes(clinic: Clinic, day: date) -> list[Decimal]:
    """Minutes from check-in to first "with provider", per visit that reached a provider."""
    values = []
    for times in visit_times(clinic, day):
        seen = times.entered(Step.WITH_PROVIDER)
        if seen is not None:
            values.append(minutes_between(times.checked_in_at, seen))
    return values


def cycle_time_minutes(clinic: Clinic, day: date) -> list[Decimal]:
    """Minutes from check-in to checkout, per checked-out visit.

    A patient who came early is counted from the scheduled start (IHI: the clinic is not
    slow because a patient arrived 20 minutes before their time). A walk-in's appointment is
    booked around their arrival, so they are counted from check-in.
    """
    values = []
    for times in visit_times(clinic, day):
        out = times.entered(Step.CHECKED_OUT)
        if out is None:
            continue
        start = times.checked_in_at
        if not times.is_walk_in and times.scheduled_start > start:
            start = times.scheduled_start
        values.append(minutes_between(start, out))
    return values


def step_wait_minutes(clinic: Clinic, day: date) -> dict[str, list[Decimal]]:
    """Minutes spent in each step of the visit (checked in, roomed, ...), per visit that left it."""
    waits: dict[str, list[Decimal]] = {step: [] for step in ACTIVE_STEPS}
    for times in visit_times(clinic, day):
        for step, minutes in times.durations():
            if step in waits:
                waits[step].append(minutes)
    return waits


def wait_in_step_minutes(clinic: Clinic, day: date, step: str) -> list[Decimal]:
    """The raw waits of one step, for an engine that wants one metric per step."""
    return step_wait_minutes(clinic, day)[step]


# Drill-downs: the visits behind each median for local days first..last, with their minutes.


def _visits_with_minutes(
    clinic: Clinic, first: date, last: date, minutes: Callable[[VisitTimes], Decimal | None]
) -> list[tuple[VisitTimes, Decimal]]:
    found = []
    day = first
    while day <= last:
        for times in visit_times(clinic, day):
            value = minutes(times)
            if value is not None:
                found.append((times, value))
        day += timedelta(days=1)
    return sorted(found, key=lambda pair: (pair[1], pair[0].checked_in_at))


def _median_drilldown(
    clinic: Clinic,
    found: list[tuple[VisitTimes, Decimal]],
    *,
    until: str,
    until_step: str,
    caption: str,
) -> Drilldown:
    """One row per visit, fewest minutes first; the middle row (two, for an even count) is
    marked: the median is its value (their mean)."""
    patients = dict(
        Visit.objects.filter(pk__in=[t.visit_id for t, _ in found]).values_list("pk", "patient_id")
    )
    mrns = dict(
        Visit.objects.filter(pk__in=[t.visit_id for t, _ in found]).values_list(
            "pk", "patient__mrn"
        )
    )
    n = len(found)
    middle = {(n - 1) // 2, n // 2} if n else set()
    tz = clinic.tz
    rows = tuple(
        (
            "median" if i in middle else "",
            times.checked_in_at.astimezone(tz),
            mrns.get(times.visit_id, ""),
            "yes" if times.is_walk_in else "no",
            times.scheduled_start.astimezone(tz),
            times.entered(until_step).astimezone(tz),  # type: ignore[union-attr]
            value,
        )
        for i, (times, value) in enumerate(found)
    )
    return Drilldown(
        columns=("Median", "Checked in", "Patient MRN", "Walk-in", "Scheduled", until, "Minutes"),
        rows=rows,
        patient_ids=tuple(patients.get(t.visit_id) for t, _ in found),
        caption=caption,
    )


def door_to_provider_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """The visits that reached a provider, with their minutes from check-in."""

    def minutes(times: VisitTimes) -> Decimal | None:
        seen = times.entered(Step.WITH_PROVIDER)
        return None if seen is None else minutes_between(times.checked_in_at, seen)

    return _median_drilldown(
        clinic,
        _visits_with_minutes(clinic, first, last, minutes),
        until="With provider",
        until_step=Step.WITH_PROVIDER,
        caption="Visits that reached a provider: minutes from check-in, fewest first",
    )


def cycle_time_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """The checked-out visits, with their minutes by the rule of `cycle_time_minutes`."""

    def minutes(times: VisitTimes) -> Decimal | None:
        out = times.entered(Step.CHECKED_OUT)
        if out is None:
            return None
        start = times.checked_in_at
        if not times.is_walk_in and times.scheduled_start > start:
            start = times.scheduled_start
        return minutes_between(start, out)

    return _median_drilldown(
        clinic,
        _visits_with_minutes(clinic, first, last, minutes),
        until="Checked out",
        until_step=Step.CHECKED_OUT,
        caption=(
            "Checked-out visits: minutes from check-in (or the scheduled time, if early) to "
            "checkout, fewest first"
        ),
    )


# What the flow metrics read (registry.Source): a late change to a past visit reaches its tile.
VISIT_SOURCES = (
    Source("patientflow.Visit", clinic="clinic", day="checked_in_at"),
    Source("patientflow.VisitEvent", clinic="visit__clinic", day="visit__checked_in_at"),
    # cycle time starts at the scheduled time of a patient who came early
    Source("scheduling.Appointment", clinic="clinic", day="start"),
)

register(
    Metric(
        key="door_to_provider_min",
        label="Door-to-provider (median)",
        unit=Unit.MINUTES,
        kind=Kind.MEDIAN,
        compute=door_to_provider_minutes,
        drilldown=door_to_provider_drilldown,
        sources=VISIT_SOURCES,
        compute_range=door_to_provider_range,
        default_target=20,
        description="Median minutes from check-in to first 'with provider'.",
        definition=(
            "Median, over the visits checked in during the period, of the minutes from "
            "check-in to the first step 'with provider' (an undone step does not count). "
            "The median is taken over every visit of the period, never of daily medians."
        ),
    )
)
register(
    Metric(
        key="cycle_time_min",
        label="Visit cycle time (median)",
        unit=Unit.MINUTES,
        kind=Kind.MEDIAN,
        compute=cycle_time_minutes,
        drilldown=cycle_time_drilldown,
        sources=VISIT_SOURCES,
        compute_range=cycle_time_range,
        default_target=45,
        description="Median minutes from check-in (or the scheduled time, if early) to checkout.",
        definition=(
            "Median, over the visits checked in during the period and checked out, of the "
            "minutes from check-in to checkout; a patient with an appointment who came early "
            "is counted from the scheduled time. Differs from shared/KPIS.md on purpose: a "
            "walk-in is counted from check-in even when the slot the desk booked for them "
            "starts later, because a walk-in had no scheduled time: the slot is the clinic's "
            "choice, and the wait for it is part of the visit."
        ),
    )
)
