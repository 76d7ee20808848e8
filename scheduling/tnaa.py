"""Third next available as the schedule stood at a past instant, rebuilt from history.

The TNAA metric is a measurement of the schedule at a fixed time each morning (shared/KPIS.md),
so it must not depend on when it is computed: the nightly run (hours later) and a backfill
(months later) must both see the bookings as they stood at the measurement instant T. This
module loads, once for a run of days, everything that decides an open slot, each with the
time it came into being and, for appointments, the time it stopped holding its slot:

- an appointment holds its slot from its booking (its first status event, or `created_at`,
  whichever is earlier) until it was cancelled or marked a no-show (the first event to that
  status). A no-show marked after T still held its slot at T; a cancellation before T did not.
  Rows without events (imports, fixtures) fall back to `cancelled_at` for a cancellation and
  to the appointment's end for a no-show (it cannot be marked before it starts). A
  cancellation taken back within seconds (undo) leaves the appointment live: it counts as
  holding its slot throughout;
- schedule templates count from their `created_at` (blocks are written with their template);
- time off counts from its `created_at`.

Limits (no history is stored for them, so their state *now* is used for every T): clinic
closures, appointment types' active flag and duration, rooms' active flag, a template's
`effective_to` edited after its creation, and deleted time off. docs/decisions/0017-kpi-
definitions.md lists them.

Everything else follows `availability.third_next_available_days`: regular blocks only (same-day
holds are excluded), the type's duration must fit in the block, slots before T are not open,
days from the day of T (0) to the third open slot; the horizon when fewer than three.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Value

from clinicops.core.models import Clinic, Room

from .availability import DEFAULT_HORIZON_DAYS, local_datetime
from .models import (
    MAX_APPOINTMENT_LENGTH,
    AppointmentType,
    ClinicClosure,
    ProviderTimeOff,
    ScheduleTemplate,
    TemplateBlock,
)

FOREVER = 2**62

# Each appointment overlapping the window, with when it started and stopped holding its slot
# (epoch seconds). One pass over the status events, grouped, joined by hash.
_HISTORY_SQL = """
    WITH ev AS (
        SELECT e.appointment_id,
               min(e.at) AS first_at,
               min(e.at) FILTER (WHERE e.to_status IN ('cancelled', 'no_show')) AS freed_at
        FROM scheduling_appointmentevent e
        JOIN scheduling_appointment a ON a.id = e.appointment_id
        WHERE {where}
        GROUP BY e.appointment_id
    )
    SELECT a.{owner}, extract(epoch FROM a.start)::bigint, extract(epoch FROM a."end")::bigint,
           (a.start AT TIME ZONE %(tz)s)::date,
           ((a."end" - interval '1 microsecond') AT TIME ZONE %(tz)s)::date,
           extract(epoch FROM LEAST(a.created_at, ev.first_at))::bigint,
           extract(epoch FROM CASE
               WHEN a.status NOT IN ('cancelled', 'no_show') THEN NULL
               WHEN ev.freed_at IS NOT NULL THEN ev.freed_at
               WHEN a.status = 'cancelled' THEN COALESCE(a.cancelled_at, a.created_at)
               WHEN a.status = 'no_show' THEN a."end"
           END)::bigint
    FROM scheduling_appointment a
    LEFT JOIN ev ON ev.appointment_id = a.id
    WHERE {where}
"""
_WHERE = """a.{owner} = ANY(%(ids)s) AND a.start < %(end)s AND a.start >= %(floor)s
            AND a."end" > %(start)s"""


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass
class _Block:
    weekday: int
    start_time: time
    end_time: time
    step: int
    type_ids: frozenset[int]


@dataclass
class _Template:
    provider_id: int
    effective_from: date
    effective_to: date | None
    created: int
    blocks: dict[int, list[_Block]] = field(default_factory=lambda: defaultdict(list))

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )


@dataclass(frozen=True)
class ThirdNext:
    """One provider and type measured at one instant: the open slots found (up to three, UTC)
    and the days from the measurement day to the third (None: fewer than three)."""

    provider_id: int
    appointment_type_id: int
    slots: tuple[datetime, ...]
    days: int | None


class ScheduleHistory:
    """The schedule of a clinic's providers between two instants, with each row's lifetime."""

    def __init__(
        self,
        clinic: Clinic,
        first: date,
        last: date,
        *,
        horizon_days: int = DEFAULT_HORIZON_DAYS,
    ) -> None:
        self.clinic = clinic
        self.tz = clinic.tz
        self.horizon_days = horizon_days
        self.first, self.last = first, last
        self.window_start = local_datetime(first, time(0), self.tz)
        self.window_end = local_datetime(last + timedelta(days=horizon_days + 1), time(0), self.tz)
        self._load()
        self._bounds: dict[tuple[date, time, time], tuple[int, int]] = {}
        self._day_bounds: dict[date, tuple[int, int]] = {}

    # -- loading -----------------------------------------------------------------------

    def _load(self) -> None:
        clinic = self.clinic
        last_day = self.last + timedelta(days=self.horizon_days)
        templates = {
            pk: _Template(pid, start, end, _epoch(created))
            for pk, pid, start, end, created in ScheduleTemplate.objects.filter(clinic=clinic)
            .covering(self.first, last_day)
            .values_list("id", "provider_id", "effective_from", "effective_to", "created_at")
        }
        for template_id, weekday, start, end, slot, types in (
            TemplateBlock.objects.filter(
                template_id__in=list(templates), kind=TemplateBlock.Kind.REGULAR
            )
            .order_by()
            .values_list("template_id", "weekday", "start_time", "end_time", "slot_minutes")
            .annotate(type_ids=ArrayAgg("appointment_types", default=Value([])))
        ):
            templates[template_id].blocks[weekday].append(
                _Block(weekday, start, end, slot * 60, frozenset(t for t in types if t))
            )
        self.templates: dict[int, list[_Template]] = defaultdict(list)
        for template in templates.values():
            for blocks in template.blocks.values():
                blocks.sort(key=lambda b: b.start_time)
            self.templates[template.provider_id].append(template)
        for provider_templates in self.templates.values():
            provider_templates.sort(key=lambda t: t.effective_from, reverse=True)
        self.types = {
            pk: (minutes * 60, room_kind)
            for pk, minutes, room_kind in AppointmentType.objects.filter(
                clinic=clinic, is_active=True
            ).values_list("id", "duration_minutes", "room_kind")
        }
        self.closures = set(
            ClinicClosure.objects.filter(
                clinic=clinic, day__gte=self.first, day__lte=last_day
            ).values_list("day", flat=True)
        )
        providers = sorted(self.templates)
        self.time_off: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for pid, start, end, created in ProviderTimeOff.objects.filter(  # type: ignore[misc]  # django-stubs misreads this scoped manager
            provider_id__in=providers, start__lt=self.window_end, end__gt=self.window_start
        ).values_list("provider_id", "start", "end", "created_at"):
            self.time_off[pid].append((_epoch(start), _epoch(end), _epoch(created)))
        room_kinds = {kind for _, kind in self.types.values() if kind}
        self.rooms: dict[str, list[int]] = defaultdict(list)
        for pk, kind in (
            Room.objects.filter(clinic=clinic, kind__in=room_kinds, is_active=True)
            .order_by("pk")
            .values_list("pk", "kind")
        ):
            self.rooms[kind].append(pk)
        self.provider_bookings = self._bookings("provider_id", providers)
        all_rooms = [pk for pks in self.rooms.values() for pk in pks]
        self.room_bookings = self._bookings("room_id", all_rooms) if all_rooms else {}

    def _bookings(
        self, owner: str, ids: list[int]
    ) -> dict[tuple[int, date], list[tuple[int, int, int, int]]]:
        """(owner id, local day) -> [(start, end, held from, held until)] of the appointments
        overlapping that day (an appointment over midnight is listed on both days)."""
        found: dict[tuple[int, date], list[tuple[int, int, int, int]]] = defaultdict(list)
        if not ids:
            return found
        where = _WHERE.format(owner=owner)
        sql = _HISTORY_SQL.format(owner=owner, where=where)
        params: dict[str, Any] = {
            "tz": self.clinic.time_zone,
            "ids": ids,
            "start": self.window_start,
            "end": self.window_end,
            "floor": self.window_start - MAX_APPOINTMENT_LENGTH,
        }
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        one_day = timedelta(days=1)
        for oid, start, end, first_day, last_day, held_from, held_until in rows:
            held_until = FOREVER if held_until is None else held_until
            if held_until <= held_from:
                continue  # never held its slot (cancelled as it was made)
            found[(oid, first_day)].append((start, end, held_from, held_until))
            while last_day > first_day:  # over midnight: listed on each day it overlaps
                first_day += one_day
                found[(oid, first_day)].append((start, end, held_from, held_until))
        return found

    # -- measuring ---------------------------------------------------------------------

    def template_on(self, provider_id: int, day: date, at: int) -> _Template | None:
        """The provider's template in effect on `day` as it stood at instant `at`."""
        for template in self.templates.get(provider_id, ()):
            if template.created <= at and template.covers(day):
                return template
        return None

    def measured_types(self, provider_id: int, day: date, at: int) -> list[int]:
        """The active types the provider's template on `day` offers (any regular block, any
        weekday), as it stood at `at`: what TNAA is measured for. Empty without a template."""
        template = self.template_on(provider_id, day, at)
        if template is None:
            return []
        offered: set[int] = set()
        for blocks in template.blocks.values():
            for block in blocks:
                offered |= block.type_ids or set(self.types)
        return sorted(offered & set(self.types))

    def _block_bounds(self, day: date, block: _Block) -> tuple[int, int]:
        key = (day, block.start_time, block.end_time)
        found = self._bounds.get(key)
        if found is None:
            found = self._bounds[key] = (
                _epoch(local_datetime(day, block.start_time, self.tz)),
                _epoch(local_datetime(day, block.end_time, self.tz)),
            )
        return found

    def _busy(
        self, bookings: dict[tuple[int, date], list[tuple[int, int, int, int]]], key: Any, at: int
    ) -> tuple[list[int], list[int]]:
        """Starts and running max of ends of what held time on a day at instant `at`."""
        held = sorted(
            (s, e)
            for s, e, held_from, held_until in bookings.get(key, ())
            if held_from <= at < held_until
        )
        reach, ends = 0, []
        for _, e in held:
            reach = max(reach, e)
            ends.append(reach)
        return [s for s, _ in held], ends

    def _off(self, provider_id: int, day: date, at: int) -> list[tuple[int, int]]:
        bounds = self._day_bounds.get(day)
        if bounds is None:
            bounds = self._day_bounds[day] = (
                _epoch(local_datetime(day, time(0), self.tz)),
                _epoch(local_datetime(day + timedelta(days=1), time(0), self.tz)),
            )
        return [
            (s, e)
            for s, e, created in self.time_off.get(provider_id, ())
            if created <= at and s < bounds[1] and e > bounds[0]
        ]

    def third_next(self, provider_id: int, type_id: int, day: date, at: datetime) -> ThirdNext:
        """The first three open slots from instant `at` (on local `day`) for the provider and
        type, as the schedule stood at `at`."""
        now = _epoch(at)
        duration, room_kind = self.types[type_id]
        rooms = self.rooms.get(room_kind, []) if room_kind else []
        found: list[int] = []
        found_day: date | None = None
        for offset in range(self.horizon_days):
            current = day + timedelta(days=offset)
            if current in self.closures:
                continue
            template = self.template_on(provider_id, current, now)
            if template is None:
                continue
            blocks = [
                b
                for b in template.blocks.get(current.weekday(), ())
                if not b.type_ids or type_id in b.type_ids
            ]
            if not blocks:
                continue
            starts, reach = self._busy(self.provider_bookings, (provider_id, current), now)
            off = self._off(provider_id, current, now)
            room_busy = {r: self._busy(self.room_bookings, (r, current), now) for r in rooms}
            if room_kind and not rooms:
                break
            for block in blocks:
                start, block_end = self._block_bounds(current, block)
                while start + duration <= block_end:
                    slot_start, start = start, start + block.step
                    if slot_start < now:
                        continue
                    end = slot_start + duration
                    if not _free(starts, reach, slot_start, end):
                        continue
                    if any(s < end and slot_start < e for s, e in off):
                        continue
                    if room_kind and not any(_free(*room_busy[r], slot_start, end) for r in rooms):
                        continue
                    found.append(slot_start)
            if len(found) >= 3:
                found.sort()
                found_day = current
                break
        found.sort()
        slots = tuple(datetime.fromtimestamp(s, UTC) for s in found[:3])
        days = (found_day - day).days if found_day is not None else None
        return ThirdNext(provider_id, type_id, slots, days)

    def measure(self, day: date, at: datetime) -> list[ThirdNext]:
        """Every provider and type measured on `day` at instant `at` (providers by id)."""
        now = _epoch(at)
        results = []
        for provider_id in sorted(self.templates):
            for type_id in self.measured_types(provider_id, day, now):
                results.append(self.third_next(provider_id, type_id, day, at))
        return results


def _free(starts: list[int], reach: list[int], start: int, end: int) -> bool:
    """[start, end) overlaps none of the intervals (starts sorted, reach = running max end)."""
    i = bisect_left(starts, end)
    return i == 0 or reach[i - 1] <= start


def measurement_instant(clinic: Clinic, day: date, measure_time: time) -> datetime:
    """`day` at the clinic's local measurement time, in UTC (a time skipped by a spring-forward
    resolves to the instant just after the gap)."""
    return local_datetime(day, measure_time, clinic.tz)
