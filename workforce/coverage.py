"""Coverage against demand: how many people of each role a clinic needs in each band of a week,
from its coverage rules applied to what scheduling has booked, and how many are rostered.

Pure functions over plain data (`required`, `rostered`, `fill`) and a loader (`load_demand`).
A band is a stretch of local time (60 minutes on the heat map, 15 in the benchmark); a shift
covers a band when it runs through all of it. Required for a role in a band is
max(fixed minimums, sum of the ratio rules): fixed minimums are floors, ratios add up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from .rules import Shift


@dataclass(frozen=True)
class Rule:
    role: str
    kind: str  # fixed | per_provider | per_patients
    weekdays: frozenset[int]
    start: time
    end: time
    count: int = 1
    patients_per_person: int = 0


@dataclass(frozen=True)
class Band:
    day: date
    start: datetime  # UTC
    end: datetime  # UTC
    local_start: time

    @property
    def label(self) -> str:
        return f"{self.local_start:%H:%M}"


@dataclass(frozen=True)
class Session:
    """A provider's bookable template block on a day (UTC)."""

    provider_id: int
    start: datetime
    end: datetime


def bands_for(days: Sequence[date], tz: tzinfo, band_minutes: int = 60) -> list[Band]:
    """Every band of every local day (a DST day has 23 or 25 hours of them)."""
    bands: list[Band] = []
    for day in days:
        start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        stop = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
        while start < stop:
            end = start + timedelta(minutes=band_minutes)
            bands.append(Band(day, start, end, start.astimezone(tz).time()))
            start = end
    return bands


def required(
    rules: Iterable[Rule],
    bands: Sequence[Band],
    *,
    sessions: Iterable[Session] = (),
    appointment_starts: Iterable[datetime] = (),
    tz: tzinfo = UTC,
) -> dict[tuple[str, Band], int]:
    """People required per (role, band), only where more than zero."""
    rules = list(rules)
    sessions = list(sessions)
    per_hour: dict[datetime, int] = defaultdict(int)
    for start in appointment_starts:
        per_hour[start.astimezone(tz).replace(minute=0, second=0, microsecond=0)] += 1
    need: dict[tuple[str, Band], int] = {}
    for band in bands:
        local = band.start.astimezone(tz)
        weekday = local.weekday()
        fixed: dict[str, int] = defaultdict(int)
        ratio: dict[str, int] = defaultdict(int)
        for rule in rules:
            if weekday not in rule.weekdays:
                continue
            if not (rule.start <= band.local_start < rule.end):
                continue
            if rule.kind == "fixed":
                fixed[rule.role] = max(fixed[rule.role], rule.count)
            elif rule.kind == "per_provider":
                providers = {
                    s.provider_id for s in sessions if s.start < band.end and band.start < s.end
                }
                ratio[rule.role] += rule.count * len(providers)
            elif rule.kind == "per_patients" and rule.patients_per_person > 0:
                hour = local.replace(minute=0, second=0, microsecond=0)
                booked = per_hour.get(hour, 0)
                ratio[rule.role] += math.ceil(booked / rule.patients_per_person)
        for role in set(fixed) | set(ratio):
            value = max(fixed.get(role, 0), ratio.get(role, 0))
            if value > 0:
                need[(role, band)] = value
    return need


def covers(shift: Shift, band: Band) -> bool:
    return shift.start <= band.start and shift.end >= band.end


def rostered(shifts: Iterable[Shift], bands: Sequence[Band]) -> dict[tuple[str, Band], int]:
    """People on per (role, band): the shifts of that role running through the whole band."""
    have: dict[tuple[str, Band], int] = defaultdict(int)
    shifts = list(shifts)
    for band in bands:
        for shift in shifts:
            if covers(shift, band):
                have[(shift.role, band)] += 1
    return dict(have)


def fill(need: dict[tuple[str, Band], int], have: dict[tuple[str, Band], int]) -> tuple[int, int]:
    """(required slots filled, required slots): a slot is one person of a role in one band."""
    total = sum(need.values())
    filled = sum(min(n, have.get(key, 0)) for key, n in need.items())
    return filled, total


# ---------------------------------------------------------------------------------------------
# The loader


def load_rules(clinic_id: int) -> list[Rule]:
    from .models import CoverageRule

    return [
        Rule(
            role=r.role,
            kind=r.kind,
            weekdays=frozenset(r.weekdays),
            start=r.start_time,
            end=r.end_time,
            count=r.count,
            patients_per_person=r.patients_per_person,
        )
        for r in CoverageRule.objects.filter(clinic_id=clinic_id, is_active=True)
    ]


def load_sessions(clinic_id: int, days: Sequence[date], tz: tzinfo) -> list[Session]:
    """Providers' bookable template blocks at the clinic on `days` (scheduling's templates; the
    later-starting template of a provider wins, as in scheduling), less their time off."""
    from scheduling.models import ProviderTimeOff, ScheduleTemplate, TemplateBlock

    templates = list(
        ScheduleTemplate.objects.filter(clinic_id=clinic_id)
        .covering(days[0], days[-1])
        .prefetch_related("blocks")
        .order_by("provider_id", "-effective_from")
    )
    span_start = datetime.combine(days[0], time(0), tzinfo=tz).astimezone(UTC)
    span_end = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    offs: dict[int, list[ProviderTimeOff]] = defaultdict(list)
    for off in ProviderTimeOff._default_manager.filter(start__lt=span_end, end__gt=span_start):
        offs[off.provider_id].append(off)  # by provider: a year's span holds many
    sessions: list[Session] = []
    for day in days:
        seen: set[int] = set()
        for template in templates:
            if template.provider_id in seen or not template.covers(day):
                continue
            seen.add(template.provider_id)
            for block in template.blocks.all():
                if block.weekday != day.weekday() or block.kind not in TemplateBlock.BOOKABLE_KINDS:
                    continue
                start = datetime.combine(day, block.start_time, tzinfo=tz).astimezone(UTC)
                end = datetime.combine(day, block.end_time, tzinfo=tz).astimezone(UTC)
                pieces = [(start, end)]
                for off in offs.get(template.provider_id, ()):
                    pieces = [
                        part
                        for a, b in pieces
                        for part in ((a, min(b, off.start)), (max(a, off.end), b))
                        if part[0] < part[1]
                    ]
                sessions += [Session(template.provider_id, a, b) for a, b in pieces]
    return sessions


def load_appointment_starts(clinic_id: int, days: Sequence[date], tz: tzinfo) -> list[datetime]:
    from scheduling.models import Appointment

    span_start = datetime.combine(days[0], time(0), tzinfo=tz).astimezone(UTC)
    span_end = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return list(
        Appointment.objects.filter(
            clinic_id=clinic_id,
            status__in=Appointment.LIVE_STATUSES,
            start__gte=span_start,
            start__lt=span_end,
        ).values_list("start", flat=True)
    )


def load_demand(
    clinic_id: int, days: Sequence[date], tz: tzinfo, band_minutes: int = 60
) -> tuple[list[Band], dict[tuple[str, Band], int]]:
    bands = bands_for(days, tz, band_minutes)
    need = required(
        load_rules(clinic_id),
        bands,
        sessions=load_sessions(clinic_id, days, tz),
        appointment_starts=load_appointment_starts(clinic_id, days, tz),
        tz=tz,
    )
    return bands, need
