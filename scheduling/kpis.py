"""Scheduling's metrics, as parts for one clinic and one local day (formulas: shared/KPIS.md).

Registered in the KPI catalogue (`clinicops.kpis.registry`); a period's figure is recomputed
from the daily parts, never averaged from daily ratios.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import Extract
from django.utils import timezone

from clinicops.core.models import Clinic
from clinicops.kpis.registry import (
    Drilldown,
    Kind,
    Metric,
    Source,
    Unit,
    by_local_day,
    register,
)

from . import availability, tnaa
from .models import Appointment, AppointmentType, ClinicClosure, ProviderTimeOff, TemplateBlock

Status = Appointment.Status


def _day_appointments(clinic: Clinic, day: date) -> Any:
    start, end = availability.day_bounds_utc(day, clinic.tz)
    return Appointment.objects.filter(clinic=clinic, start__gte=start, start__lt=end)


def no_show_rate_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(no-shows, appointments not cancelled before the late-cancel window) starting that day.

    Late cancellations stay in the denominator. An appointment cancelled because it was
    rescheduled does not: its replacement is counted instead.
    """
    appointments = _day_appointments(clinic, day)
    denominator = (
        appointments.exclude(status=Status.CANCELLED).count()
        + appointments.filter(status=Status.CANCELLED, late_cancel=True)
        .exclude(cancel_reason=Appointment.CancelReason.RESCHEDULED)
        .count()
    )
    numerator = appointments.filter(status=Status.NO_SHOW).count()
    return numerator, denominator


def _counted_for_no_show() -> Q:
    """Appointments in the no-show denominator: not cancelled, or cancelled late (not moved)."""
    return ~Q(status=Status.CANCELLED) | (
        Q(status=Status.CANCELLED, late_cancel=True)
        & ~Q(cancel_reason=Appointment.CancelReason.RESCHEDULED)
    )


def no_show_rate_range(clinic: Clinic, first: date, last: date) -> dict[date, tuple[int, int]]:
    """`no_show_rate_parts` for every local day first..last in one GROUP BY (for rollups)."""
    rows = by_local_day(
        Appointment.objects.filter(clinic=clinic),
        "start",
        clinic=clinic,
        first=first,
        last=last,
        n=Count("pk", filter=Q(status=Status.NO_SHOW)),
        d=Count("pk", filter=_counted_for_no_show()),
    )
    return {day: (row["n"], row["d"]) for day, row in rows.items()}


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _subtract(
    interval: tuple[datetime, datetime], holes: Iterable[tuple[datetime, datetime]]
) -> int:
    """Minutes of `interval` not covered by `holes`."""
    start, end = interval
    covered: list[tuple[datetime, datetime]] = []
    for hole_start, hole_end in sorted(holes):
        s, e = max(start, hole_start), min(end, hole_end)
        if s >= e:
            continue
        if covered and s <= covered[-1][1]:
            covered[-1] = (covered[-1][0], max(covered[-1][1], e))
        else:
            covered.append((s, e))
    return _minutes(end - start) - sum(_minutes(e - s) for s, e in covered)


def template_utilization_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(minutes booked, bookable template minutes) for one day.

    Booked: appointments not cancelled (no-shows count as booked), closure day or not: time
    booked on a day the clinic then closed was still booked (shared/KPIS.md). Bookable:
    regular, same-day-hold and buffer blocks of the template in effect, net of time off;
    nothing on a closure day. Meant for past days.
    """
    booked = sum(
        _minutes(end - start)
        for start, end in _day_appointments(clinic, day)
        .exclude(status=Status.CANCELLED)
        .values_list("start", "end")
    )
    if ClinicClosure.objects.filter(clinic=clinic, day=day).exists():
        return booked, 0
    tz = clinic.tz
    templates = availability.load_templates(clinic=clinic, start=day, end=day)
    day_start, day_end = availability.day_bounds_utc(day, tz)
    time_off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for provider_id, start, end in ProviderTimeOff.objects.filter(
        provider_id__in=list(templates), start__lt=day_end, end__gt=day_start
    ).values_list("provider_id", "start", "end"):
        time_off[provider_id].append((start, end))
    bookable = 0
    for provider_id, provider_templates in templates.items():
        template = availability.template_for_day(provider_templates, day)
        if template is None:
            continue
        for block in template.blocks_by_weekday.get(day.weekday(), ()):
            if block.kind == TemplateBlock.Kind.ADMIN:
                continue
            interval = (
                availability.local_datetime(day, block.start_time, tz),
                availability.local_datetime(day, block.end_time, tz),
            )
            bookable += _subtract(interval, time_off[provider_id])
    return booked, bookable


def template_utilization_range(
    clinic: Clinic, first: date, last: date
) -> dict[date, tuple[int, int]]:
    """`template_utilization_parts` for every local day first..last: booked minutes in one
    GROUP BY, the templates, closures and time off read once."""
    booked = by_local_day(
        Appointment.objects.filter(clinic=clinic).exclude(status=Status.CANCELLED),
        "start",
        clinic=clinic,
        first=first,
        last=last,
        minutes=Sum(_WHOLE_MINUTES),
    )
    tz = clinic.tz
    closed = set(
        ClinicClosure.objects.filter(clinic=clinic, day__gte=first, day__lte=last).values_list(
            "day", flat=True
        )
    )
    templates = availability.load_templates(
        clinic=clinic, start=first, end=last, kinds=_BOOKABLE_FOR_UTILIZATION
    )
    range_start = availability.local_datetime(first, time(0), tz)
    range_end = availability.local_datetime(last + timedelta(days=1), time(0), tz)
    time_off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for provider_id, start, end in ProviderTimeOff.objects.filter(
        provider_id__in=list(templates), start__lt=range_end, end__gt=range_start
    ).values_list("provider_id", "start", "end"):
        time_off[provider_id].append((start, end))
    found: dict[date, tuple[int, int]] = {}
    bounds: dict[tuple[date, time], datetime] = {}

    def at(day: date, clock: time) -> datetime:
        key = (day, clock)
        if key not in bounds:
            bounds[key] = availability.local_datetime(day, clock, tz)
        return bounds[key]

    day = first
    while day <= last:
        bookable = 0
        if day not in closed:
            for provider_id, provider_templates in templates.items():
                template = availability.template_for_day(provider_templates, day)
                if template is None:
                    continue
                off = time_off.get(provider_id, ())
                for block in template.blocks_by_weekday.get(day.weekday(), ()):
                    interval = (at(day, block.start_time), at(day, block.end_time))
                    if off:
                        bookable += _subtract(interval, off)
                    else:
                        bookable += _minutes(interval[1] - interval[0])
        minutes = int(booked.get(day, {}).get("minutes") or 0)
        if minutes or bookable:
            found[day] = (minutes, bookable)
        day += timedelta(days=1)
    return found


_BOOKABLE_FOR_UTILIZATION = (
    TemplateBlock.Kind.REGULAR,
    TemplateBlock.Kind.SAME_DAY_HOLD,
    TemplateBlock.Kind.BUFFER,
)
# An appointment's length in whole minutes, as `_minutes` counts it.
_WHOLE_MINUTES = Func(
    Extract(ExpressionWrapper(F("end") - F("start"), output_field=DurationField()), "epoch")
    / Value(60),
    function="floor",
    output_field=FloatField(),
)


class TnaaValue(NamedTuple):
    provider_id: int
    appointment_type_id: int
    days: int


def tnaa_measure_time(clinic: Clinic) -> time:
    """The clinic's local time of day at which TNAA is measured (KPI settings; 07:00)."""
    from clinicops.kpis.models import KpiSettings

    return KpiSettings.measure_time_of(clinic)


def _tnaa_values(
    history: tnaa.ScheduleHistory, day: date, at: datetime, horizon_days: int
) -> list[TnaaValue]:
    return [
        TnaaValue(
            found.provider_id,
            found.appointment_type_id,
            horizon_days if found.days is None else found.days,
        )
        for found in history.measure(day, at)
    ]


def tnaa_days_values(
    clinic: Clinic,
    day: date,
    *,
    now: datetime | None = None,
    horizon_days: int = availability.DEFAULT_HORIZON_DAYS,
) -> list[TnaaValue]:
    """Third next available, in days, per provider and appointment type, measured on `day`.

    Measured at the clinic's measurement time that morning (`tnaa_measure_time`), from the
    booking history as it stood then (`scheduling.tnaa`), so the nightly run and a backfill
    months later give the same values; `now` measures at another instant of that day. A
    measurement instant still in the future is taken now. A provider with fewer than three
    open slots in the horizon scores the horizon: a floor, not an exclusion, so the busiest
    providers are not dropped from the mean.
    """
    if now is None:
        now = min(tnaa.measurement_instant(clinic, day, tnaa_measure_time(clinic)), timezone.now())
    history = tnaa.ScheduleHistory(clinic, day, day, horizon_days=horizon_days)
    return _tnaa_values(history, day, now, horizon_days)


def tnaa_days_range(
    clinic: Clinic,
    first: date,
    last: date,
    *,
    horizon_days: int = availability.DEFAULT_HORIZON_DAYS,
) -> dict[date, list[TnaaValue]]:
    """`tnaa_days_values` for every local day first..last, the history loaded once."""
    history = tnaa.ScheduleHistory(clinic, first, last, horizon_days=horizon_days)
    measure_time = tnaa_measure_time(clinic)
    right_now = timezone.now()
    found: dict[date, list[TnaaValue]] = {}
    day = first
    while day <= last:
        at = min(tnaa.measurement_instant(clinic, day, measure_time), right_now)
        values = _tnaa_values(history, day, at, horizon_days)
        if values:
            found[day] = values
        day += timedelta(days=1)
    return found


def tnaa_period_figure(values: Iterable[TnaaValue]) -> float | None:
    """The period's TNAA: the mean over providers of each provider's mean daily value."""
    by_provider: dict[int, list[int]] = defaultdict(list)
    for value in values:
        by_provider[value.provider_id].append(value.days)
    if not by_provider:
        return None
    means = [sum(days) / len(days) for days in by_provider.values()]
    return sum(means) / len(means)


# Drill-downs: the records behind each figure for local days first..last (the dashboard shows
# them, exports them as CSV and audits the patients among them).


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def no_show_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """Every appointment in the no-show rate's denominator, the no-shows (its numerator) first."""
    start = availability.day_bounds_utc(first, clinic.tz)[0]
    end = availability.day_bounds_utc(last, clinic.tz)[1]
    appointments = list(
        Appointment.objects.filter(clinic=clinic, start__gte=start, start__lt=end)
        .filter(_counted_for_no_show())
        .select_related("patient", "provider__user", "appointment_type")
        .order_by("start", "pk")
    )
    appointments.sort(key=lambda a: a.status != Status.NO_SHOW)  # stable: by time within
    return Drilldown(
        columns=("No-show", "Start", "Patient MRN", "Provider", "Type", "Status", "Late cancel"),
        rows=tuple(
            (
                "yes" if a.status == Status.NO_SHOW else "no",
                a.start.astimezone(clinic.tz),
                a.patient.mrn,
                str(a.provider),
                a.appointment_type.name,
                a.get_status_display(),
                "yes" if a.status == Status.CANCELLED and a.late_cancel else "",
            )
            for a in appointments
        ),
        patient_ids=tuple(a.patient_id for a in appointments),
        caption="Appointments counted in the no-show rate (no-shows / these), no-shows first",
    )


def _utilization_by_provider(clinic: Clinic, day: date) -> dict[int, list[int]]:
    """{provider id: [minutes booked, bookable template minutes]} of one local day, by the rule
    of `template_utilization_parts` (whose totals these add up to): on a closure day the
    bookable minutes are 0 but the minutes still booked count."""
    by_provider: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for provider_id, start, end in (
        _day_appointments(clinic, day)
        .exclude(status=Status.CANCELLED)
        .values_list("provider_id", "start", "end")
    ):
        by_provider[provider_id][0] += _minutes(end - start)
    if ClinicClosure.objects.filter(clinic=clinic, day=day).exists():
        return dict(by_provider)
    tz = clinic.tz
    templates = availability.load_templates(clinic=clinic, start=day, end=day)
    day_start, day_end = availability.day_bounds_utc(day, tz)
    time_off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for provider_id, start, end in ProviderTimeOff.objects.filter(
        provider_id__in=list(templates), start__lt=day_end, end__gt=day_start
    ).values_list("provider_id", "start", "end"):
        time_off[provider_id].append((start, end))
    for provider_id, provider_templates in templates.items():
        template = availability.template_for_day(provider_templates, day)
        if template is None:
            continue
        for block in template.blocks_by_weekday.get(day.weekday(), ()):
            if block.kind == TemplateBlock.Kind.ADMIN:
                continue
            interval = (
                availability.local_datetime(day, block.start_time, tz),
                availability.local_datetime(day, block.end_time, tz),
            )
            by_provider[provider_id][1] += _subtract(interval, time_off[provider_id])
    return dict(by_provider)


def template_utilization_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """Minutes booked and bookable template minutes per provider and day (the figure is the
    sum of the first over the sum of the second). On a closure day nothing is bookable but
    the minutes still booked count (the rule in force), so its providers are listed with
    their booked minutes and 0 bookable, or the day as closed when nothing was booked."""
    from clinicops.core.models import Staff

    closed = set(
        ClinicClosure.objects.filter(clinic=clinic, day__gte=first, day__lte=last).values_list(
            "day", flat=True
        )
    )
    per_day = {day: _utilization_by_provider(clinic, day) for day in _days(first, last)}
    names = {
        s.pk: str(s)
        for s in Staff.objects.filter(
            pk__in={p for providers in per_day.values() for p in providers}
        ).select_related("user")
    }
    rows: list[tuple[Any, ...]] = []
    for day, providers in per_day.items():
        if day in closed and not providers:
            rows.append((day, "(clinic closed)", 0, 0, None))
            continue
        for provider_id in sorted(providers, key=lambda p: names.get(p, "")):
            booked, bookable = providers[provider_id]
            share = round(100 * booked / bookable, 1) if bookable else None
            name = names.get(provider_id, str(provider_id))
            if day in closed:
                name += " (clinic closed)"
            rows.append((day, name, booked, bookable, share))
    return Drilldown(
        columns=("Day", "Provider", "Minutes booked", "Bookable template minutes", "Booked %"),
        rows=tuple(rows),
        caption=(
            "Template minutes by provider and day: booked (no-shows included) / bookable; on "
            "a closure day nothing is bookable but minutes still booked count"
        ),
    )


def tnaa_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """Each morning's measurement per provider and appointment type, from the booking history
    as it stood at the measurement time (the same `ScheduleHistory` as the metric): the
    three open slots found, the days to the third and the day it fell on. A provider with
    fewer than three open slots in the horizon scores the horizon, as the figure does."""
    from clinicops.core.models import Staff

    horizon = availability.DEFAULT_HORIZON_DAYS
    history = tnaa.ScheduleHistory(clinic, first, last, horizon_days=horizon)
    measure_time = tnaa_measure_time(clinic)
    right_now = timezone.now()
    tz = clinic.tz
    per_day: dict[date, tuple[datetime, list[tnaa.ThirdNext]]] = {}
    for day in _days(first, last):
        at = min(tnaa.measurement_instant(clinic, day, measure_time), right_now)
        per_day[day] = (at, history.measure(day, at))
    found_all = [found for _, founds in per_day.values() for found in founds]
    names = {
        s.pk: str(s)
        for s in Staff.objects.filter(pk__in={f.provider_id for f in found_all}).select_related(
            "user"
        )
    }
    type_names = dict(
        AppointmentType.objects.filter(
            pk__in={f.appointment_type_id for f in found_all}
        ).values_list("pk", "name")
    )

    def slot(found: tnaa.ThirdNext, n: int) -> datetime | None:
        return found.slots[n].astimezone(tz) if len(found.slots) > n else None

    rows = [
        (
            day,
            at.astimezone(tz),
            names.get(found.provider_id, str(found.provider_id)),
            type_names.get(found.appointment_type_id, str(found.appointment_type_id)),
            slot(found, 0),
            slot(found, 1),
            slot(found, 2),
            horizon if found.days is None else found.days,
            None if found.days is None else day + timedelta(days=found.days),
        )
        for day, (at, founds) in per_day.items()
        for found in sorted(
            founds,
            key=lambda f: (
                names.get(f.provider_id, ""),
                type_names.get(f.appointment_type_id, ""),
            ),
        )
    ]
    return Drilldown(
        columns=(
            "Measured on",
            "Measured at",
            "Provider",
            "Appointment type",
            "First open slot",
            "Second open slot",
            "Third open slot",
            "Days to third open slot",
            "On",
        ),
        rows=tuple(rows),
        caption=(
            "Third next available appointment as measured each morning from the bookings as "
            "they stood then, per provider and type (fewer than three open slots scores "
            f"{horizon}; the figure: the mean over providers of each one's mean)"
        ),
    )


# What each metric reads, so that a late change to a past day reaches its tile (the KPI
# engine's change triggers; registry.Source). TNAA is a measurement of the morning as it was.
APPOINTMENTS = Source("scheduling.Appointment", clinic="clinic", day="start")
UTILIZATION_SOURCES = (
    APPOINTMENTS,
    Source("scheduling.ClinicClosure", clinic="clinic", day="day"),
    Source("scheduling.ProviderTimeOff", clinic="provider__clinics", day="start", until="end"),
    Source(
        "scheduling.ScheduleTemplate", clinic="clinic", day="effective_from", until="effective_to"
    ),
    Source(
        "scheduling.TemplateBlock",
        clinic="template__clinic",
        day="template__effective_from",
        until="template__effective_to",
    ),
)

TNAA_DEFINITION = (
    "Measured once a day, at the clinic's measurement time (07:00 local unless set in the "
    "KPI settings), from the booking history as it stood at that instant: an appointment "
    "holds its slot from its booking until it is cancelled or marked a no-show, so a slot "
    "freed later does not count as open, and the nightly run and a backfill agree. Per "
    "provider and appointment type: calendar days from that day (0) to the third open "
    "regular slot (same-day holds excluded; closures, time off and templates as they stood). "
    "Where fewer than three slots are open in the 90-day horizon the provider scores 90: "
    "shared/KPIS.md does not say; a floor keeps the busiest providers in the mean instead of "
    "dropping them. The period's figure is the mean over providers of each provider's mean "
    "daily value."
)
NO_SHOW_DEFINITION = (
    "Appointments marked no-show / appointments scheduled to start in the period that were "
    "not cancelled before the clinic's late-cancel window. Differs from shared/KPIS.md on "
    "purpose: a late cancellation made to reschedule is left out of the denominator, because "
    "the visit moved rather than was lost, and its replacement appointment is counted instead "
    "(counting both would count one visit twice)."
)
UTILIZATION_DEFINITION = (
    "Minutes of appointments not cancelled (no-shows count as booked) / bookable template "
    "minutes (regular, same-day-hold and buffer blocks of the template in effect, net of "
    "closures, time off and admin blocks), past days in the period. On a closure day the "
    "bookable minutes are 0 but the minutes still booked count, as shared/KPIS.md says: "
    "bookings left on a day the clinic closed show up rather than vanish."
)


register(
    Metric(
        key="tnaa_days",
        label="Third next available appointment",
        unit=Unit.DAYS,
        kind=Kind.MEAN_OF_MEANS,
        compute=tnaa_days_values,
        drilldown=tnaa_drilldown,
        compute_range=tnaa_days_range,
        default_target=7,
        point_in_time=True,
        description="Days from today to the third open slot, per provider and type; the "
        "period's figure is the mean over providers of each one's mean daily value.",
        definition=TNAA_DEFINITION,
    )
)
register(
    Metric(
        key="no_show_rate",
        label="No-show rate",
        unit=Unit.PERCENT,
        compute=no_show_rate_parts,
        compute_range=no_show_rate_range,
        drilldown=no_show_drilldown,
        sources=(APPOINTMENTS,),
        default_target=7,
        description="No-shows / appointments not cancelled before the late-cancel window.",
        definition=NO_SHOW_DEFINITION,
    )
)
register(
    Metric(
        key="template_utilization",
        label="Template utilization",
        unit=Unit.PERCENT,
        compute=template_utilization_parts,
        drilldown=template_utilization_drilldown,
        sources=UTILIZATION_SOURCES,
        compute_range=template_utilization_range,
        target_band=(80, 85),
        default_target=85,
        description="Minutes booked (no-shows included) / bookable template minutes.",
        definition=UTILIZATION_DEFINITION,
    )
)
