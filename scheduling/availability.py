"""Open slots: where templates, closures, time off, bookings and rooms leave room for a visit.

One search answers the front desk ("next 3 slots for a follow-up"), the booking service (is
this exact slot on the template?) and the TNAA metric. It reads the small reference data
(templates and blocks, closures, time off, rooms) together with the first two days' live
bookings in one round trip, then walks the days in order, loading further bookings a chunk of
days at a time (each chunk twice as long as the one before), and stops as soon as it has
enough slots. With 20 providers and 100,000 appointments the everyday search takes about
10-20 ms (bench/availability.py).

Times: template blocks are clinic-local wall-clock times. Each day's block is placed with
zoneinfo on that date and converted to UTC, so a block at 08:00 stays at 08:00 local on
daylight-saving days; stepping through a block is done in real (UTC) minutes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate, groupby
from operator import itemgetter
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import BigIntegerField, Q, Value
from django.db.models.functions import Cast, Extract
from django.utils import timezone

from clinicops.core.models import Clinic, Room, Staff

from .models import (
    MAX_APPOINTMENT_LENGTH,
    Appointment,
    AppointmentType,
    ClinicClosure,
    ScheduleTemplate,
    TemplateBlock,
)

DEFAULT_HORIZON_DAYS = 90
# Bookings are loaded a chunk of days at a time, a chunk twice as long as the one before:
# most searches end on the first day or two, and a long search costs a handful of queries.
FIRST_CHUNK_DAYS = 2
MAX_CHUNK_DAYS = 28

MORNING = (time(0), time(12))
AFTERNOON = (time(12), time(23, 59, 59))


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime
    provider_id: int
    end: datetime
    block_id: int
    kind: str
    room_id: int | None = None

    def local_start(self, clinic: Clinic) -> datetime:
        return self.start.astimezone(clinic.tz)


@dataclass
class _Block:
    id: int
    template_id: int
    weekday: int
    start_time: time
    end_time: time
    slot: timedelta
    kind: str
    hold_release: timedelta
    overbook_limit: int
    type_ids: frozenset[int]

    def accepts(self, type_id: int) -> bool:
        return not self.type_ids or type_id in self.type_ids


@dataclass
class _Template:
    id: int
    provider_id: int
    effective_from: date
    effective_to: date | None
    blocks_by_weekday: dict[int, list[_Block]] = field(default_factory=lambda: defaultdict(list))

    def covers(self, day: date) -> bool:
        ends_after = self.effective_to is None or day <= self.effective_to
        return self.effective_from <= day and ends_after


class _Busy:
    """Busy intervals of one resource in epoch seconds, sorted by start, for O(log n) checks.

    `reach[i]` is the latest end among the first i+1 intervals, so overlapping intervals (an
    overbook, time off over a booking) need no merging: [s, e) is free exactly when every
    interval that starts before e has ended by s.
    """

    __slots__ = ("reach", "starts")

    def __init__(self, starts: list[int], ends: list[int]) -> None:
        self.starts = starts
        self.reach = list(accumulate(ends, max))

    @classmethod
    def of(cls, intervals: Iterable[tuple[int, int]]) -> _Busy:
        ordered = sorted(intervals)
        return cls([s for s, _ in ordered], [e for _, e in ordered])

    def is_free(self, start: int, end: int) -> bool:
        i = bisect_left(self.starts, end)
        return i == 0 or self.reach[i - 1] <= start


_NOTHING_BUSY = _Busy([], [])


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def local_datetime(day: date, at: time, tz: object) -> datetime:
    """`day` at wall-clock `at` in `tz`, as an aware UTC datetime."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)  # type: ignore[arg-type]


def day_bounds_utc(day: date, tz: object) -> tuple[datetime, datetime]:
    """[local midnight of `day`, local midnight of the next day) in UTC."""
    return local_datetime(day, time(0), tz), local_datetime(day + timedelta(days=1), time(0), tz)


def load_templates(
    *,
    clinic: Clinic,
    start: date,
    end: date,
    provider_ids: Iterable[int] | None = None,
    kinds: Iterable[str] | None = None,
) -> dict[int, list[_Template]]:
    """Provider id -> their templates covering [start, end], latest start first, with their
    blocks (only those of `kinds`, when given). Two queries."""
    templates_qs = ScheduleTemplate.objects.filter(clinic=clinic).covering(start, end)
    if provider_ids is not None:
        templates_qs = templates_qs.filter(provider_id__in=list(provider_ids))
    templates = {
        pk: _Template(id=pk, provider_id=pid, effective_from=start_day, effective_to=end_day)
        for pk, pid, start_day, end_day in templates_qs.values_list(
            "id", "provider_id", "effective_from", "effective_to"
        )
    }
    if not templates:
        return {}
    blocks_qs = TemplateBlock.objects.filter(template_id__in=templates)
    if kinds is not None:
        blocks_qs = blocks_qs.filter(kind__in=list(kinds))
    rows = (
        blocks_qs.order_by()
        .values_list(
            "id",
            "template_id",
            "weekday",
            "start_time",
            "end_time",
            "slot_minutes",
            "kind",
            "hold_release_hours",
            "overbook_limit",
        )
        .annotate(type_ids=ArrayAgg("appointment_types", default=Value([])))
    )
    for pk, template_id, weekday, start_time, end_time, slot, kind, release, limit, types in rows:
        templates[template_id].blocks_by_weekday[weekday].append(
            _Block(
                id=pk,
                template_id=template_id,
                weekday=weekday,
                start_time=start_time,
                end_time=end_time,
                slot=timedelta(minutes=slot),
                kind=kind,
                hold_release=timedelta(hours=release),
                overbook_limit=limit,
                type_ids=frozenset(t for t in types if t is not None),
            )
        )
    return _by_provider(templates)


def template_for_day(templates: list[_Template], day: date) -> _Template | None:
    """The template in effect on `day`: the latest-starting one that covers it."""
    for template in templates:
        if template.covers(day):
            return template
    return None


# The search's own queries, written out so that they can run together in one round trip
# (psycopg pipeline mode): on a busy server the wait for each round trip, not the queries
# themselves, is what a search costs. They read only scheduling's tables; rooms come through
# the ORM. Times come back as epoch seconds, which parse as plain integers.
_PROVIDERS_SQL = """
    SELECT t.provider_id FROM scheduling_scheduletemplate t
    WHERE t.clinic_id = %(clinic)s AND t.effective_from <= %(last)s
      AND (t.effective_to IS NULL OR t.effective_to >= %(first)s)
      AND (%(provider)s::bigint IS NULL OR t.provider_id = %(provider)s::bigint)
"""
_TEMPLATES_SQL = """
    SELECT t.id, t.provider_id, t.effective_from, t.effective_to,
           b.id, b.weekday, b.start_time, b.end_time, b.slot_minutes, b.kind,
           b.hold_release_hours, b.overbook_limit,
           COALESCE(array_agg(bt.appointmenttype_id)
                    FILTER (WHERE bt.appointmenttype_id IS NOT NULL), '{}')
    FROM scheduling_scheduletemplate t
    LEFT JOIN scheduling_templateblock b ON b.template_id = t.id AND b.kind = ANY(%(kinds)s)
    LEFT JOIN scheduling_templateblock_appointment_types bt ON bt.templateblock_id = b.id
    WHERE t.clinic_id = %(clinic)s AND t.effective_from <= %(last)s
      AND (t.effective_to IS NULL OR t.effective_to >= %(first)s)
      AND (%(provider)s::bigint IS NULL OR t.provider_id = %(provider)s::bigint)
    GROUP BY t.id, b.id
"""
_CLOSURES_SQL = """
    SELECT day FROM scheduling_clinicclosure
    WHERE clinic_id = %(clinic)s AND day >= %(first)s AND day <= %(last)s
"""
_TIME_OFF_SQL = f"""
    SELECT provider_id, extract(epoch FROM start)::bigint, extract(epoch FROM "end")::bigint
    FROM scheduling_providertimeoff
    WHERE provider_id IN ({_PROVIDERS_SQL})
      AND start < %(window_end)s AND "end" > %(window_start)s
"""  # noqa: S608 - constant SQL, values are parameters
_PROVIDER_BOOKINGS_SQL = f"""
    SELECT provider_id, extract(epoch FROM start)::bigint, extract(epoch FROM "end")::bigint
    FROM scheduling_appointment
    WHERE provider_id IN ({_PROVIDERS_SQL}) AND status = ANY(%(live)s)
      AND start < %(chunk_end)s AND start >= %(chunk_floor)s AND "end" > %(chunk_start)s
"""  # noqa: S608 - constant SQL, values are parameters


def _pipelined(queries: list[tuple[str, Any]]) -> list[list[tuple[Any, ...]]]:
    """Run independent queries in one round trip; return each one's rows."""
    connection.ensure_connection()
    cursors = [connection.cursor() for _ in queries]
    try:
        with connection.connection.pipeline():
            for cursor, (sql, params) in zip(cursors, queries, strict=True):
                cursor.execute(sql, params)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


_ROOM_BOOKINGS_SQL = """
    SELECT room_id, extract(epoch FROM start)::bigint, extract(epoch FROM "end")::bigint
    FROM scheduling_appointment
    WHERE room_id = ANY(%(rooms)s) AND status = ANY(%(live)s)
      AND start < %(chunk_end)s AND start >= %(chunk_floor)s AND "end" > %(chunk_start)s
"""


def _rooms_query(clinic: Clinic, room_kind: str) -> Any:
    """The clinic's active rooms of a kind, as ORM-built SQL for `_pipelined`."""
    return (
        Room.objects.filter(clinic=clinic, kind=room_kind, is_active=True).order_by().values("pk")
    )


def _first_room_bookings_query(
    clinic: Clinic, room_kind: str, chunk_start: datetime, chunk_end: datetime
) -> tuple[str, Any]:
    """The first chunk's room bookings, before the room ids are known (rooms by subquery)."""
    return (
        Appointment.objects.filter(
            room__in=_rooms_query(clinic, room_kind),
            status__in=Appointment.LIVE_STATUSES,
            start__lt=chunk_end,
            start__gte=chunk_start - MAX_APPOINTMENT_LENGTH,
            end__gt=chunk_start,
        )
        .order_by()
        .annotate(
            s=Cast(Extract("start", "epoch"), BigIntegerField()),
            e=Cast(Extract("end", "epoch"), BigIntegerField()),
        )
        .values_list("room_id", "s", "e")
        .query.sql_with_params()
    )


def _busy(
    rows: list[tuple[int, int, int]], extra: dict[int, list[tuple[int, int]]] | None = None
) -> dict[int, _Busy]:
    """Per id, its busy intervals (plus `extra` ones, such as time off)."""
    rows.sort()
    busy: dict[int, _Busy] = {}
    for rid, group in groupby(rows, key=itemgetter(0)):
        items = list(group)
        if extra and rid in extra:
            busy[rid] = _Busy.of([*((s, e) for _, s, e in items), *extra[rid]])
        else:
            busy[rid] = _Busy([s for _, s, _ in items], [e for _, _, e in items])
    for rid, intervals in (extra or {}).items():
        busy.setdefault(rid, _Busy.of(intervals))
    return busy


def _templates_from_rows(rows: Iterable[tuple[Any, ...]]) -> dict[int, list[_Template]]:
    templates: dict[int, _Template] = {}
    for row in rows:
        template_id, provider_id, effective_from, effective_to, block_id = row[:5]
        template = templates.get(template_id)
        if template is None:
            template = templates[template_id] = _Template(
                id=template_id,
                provider_id=provider_id,
                effective_from=effective_from,
                effective_to=effective_to,
            )
        if block_id is None:  # a template with no (matching) blocks still takes over its days
            continue
        weekday, start_time, end_time, slot, kind, release, limit, types = row[5:]
        template.blocks_by_weekday[weekday].append(
            _Block(
                id=block_id,
                template_id=template_id,
                weekday=weekday,
                start_time=start_time,
                end_time=end_time,
                slot=timedelta(minutes=slot),
                kind=kind,
                hold_release=timedelta(hours=release),
                overbook_limit=limit,
                type_ids=frozenset(types),
            )
        )
    return _by_provider(templates)


def _by_provider(templates: dict[int, _Template]) -> dict[int, list[_Template]]:
    by_provider: dict[int, list[_Template]] = defaultdict(list)
    for template in templates.values():
        for blocks in template.blocks_by_weekday.values():
            blocks.sort(key=lambda b: b.start_time)
        by_provider[template.provider_id].append(template)
    for provider_templates in by_provider.values():
        provider_templates.sort(key=lambda t: t.effective_from, reverse=True)
    return by_provider


def _time_window(time_of_day: str | tuple[time, time] | None) -> tuple[time, time] | None:
    if time_of_day in (None, "", "any"):
        return None
    if time_of_day == "morning":
        return MORNING
    if time_of_day == "afternoon":
        return AFTERNOON
    if isinstance(time_of_day, tuple):
        return time_of_day
    raise ValueError(f"Unknown time of day: {time_of_day!r}")


def find_slots(
    *,
    clinic: Clinic,
    appointment_type: AppointmentType,
    count: int = 3,
    provider: Staff | int | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    time_of_day: str | tuple[time, time] | None = None,
    weekdays: Iterable[int] | None = None,
    now: datetime | None = None,
    include_same_day_holds: bool = True,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> list[Slot]:
    """The next `count` open slots for a type at a clinic, earliest first."""
    now = now or timezone.now()
    tz = clinic.tz
    today = now.astimezone(tz).date()
    first_day = max(start_date or today, today)
    last_day = end_date or (first_day + timedelta(days=horizon_days - 1))
    if last_day < first_day or count <= 0 or not appointment_type.is_active:
        return []
    window = _time_window(time_of_day)
    weekday_set = set(weekdays) if weekdays is not None else None
    provider_id = provider.pk if isinstance(provider, Staff) else provider

    window_start = local_datetime(first_day, time(0), tz)
    window_end = local_datetime(last_day + timedelta(days=1), time(0), tz)
    kinds = [TemplateBlock.Kind.REGULAR]
    if include_same_day_holds:
        kinds.append(TemplateBlock.Kind.SAME_DAY_HOLD)
    params: dict[str, Any] = {
        "clinic": clinic.pk,
        "first": first_day,
        "last": last_day,
        "provider": provider_id,
        "kinds": kinds,
        "live": list(Appointment.LIVE_STATUSES),
        "window_start": window_start,
        "window_end": window_end,
    }
    room_kind = appointment_type.room_kind

    def bookings(first: date, last: date, rooms: list[int] | None) -> list[tuple[str, Any]]:
        chunk_start = local_datetime(first, time(0), tz)
        chunk_end = local_datetime(last + timedelta(days=1), time(0), tz)
        chunk = params | {
            "chunk_start": chunk_start,
            "chunk_end": chunk_end,
            "chunk_floor": chunk_start - MAX_APPOINTMENT_LENGTH,
            "rooms": rooms,
        }
        queries = [(_PROVIDER_BOOKINGS_SQL, chunk)]
        if room_kind and rooms is None:
            queries.append(_first_room_bookings_query(clinic, room_kind, chunk_start, chunk_end))
        elif room_kind:
            queries.append((_ROOM_BOOKINGS_SQL, chunk))
        return queries

    chunk_days = FIRST_CHUNK_DAYS
    chunk_last = min(first_day + timedelta(days=chunk_days - 1), last_day)
    reference = [(_TEMPLATES_SQL, params), (_CLOSURES_SQL, params), (_TIME_OFF_SQL, params)]
    if room_kind:
        reference.append(_rooms_query(clinic, room_kind).query.sql_with_params())
    # The reference data and the first chunk's bookings: one round trip.
    results = _pipelined([*reference, *bookings(first_day, chunk_last, None)])
    templates = _templates_from_rows(results[0])
    closures = {row[0] for row in results[1]}
    time_off: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pid, start, end in results[2]:
        time_off[pid].append((start, end))
    room_ids = sorted(row[0] for row in results[3]) if room_kind else []
    if not templates or (room_kind and not room_ids):
        return []
    chunk_rows = results[len(reference) :]

    search = _DaySearch(
        tz=tz,
        now=_epoch(now),
        templates=templates,
        provider_ids=sorted(templates),
        type_id=appointment_type.pk,
        duration=appointment_type.duration_minutes * 60,
        window=window,
        include_same_day_holds=include_same_day_holds,
        room_ids=room_ids,
    )
    found: list[Slot] = []
    day = first_day
    while day <= last_day:
        if chunk_rows is None:
            chunk_last = min(day + timedelta(days=chunk_days - 1), last_day)
            chunk_rows = _pipelined(bookings(day, chunk_last, room_ids))
        search.provider_busy = _busy(chunk_rows[0], extra=time_off)
        search.room_busy = _busy(chunk_rows[1]) if room_kind else {}
        chunk_rows = None
        while day <= chunk_last:
            if day not in closures and (weekday_set is None or day.weekday() in weekday_set):
                found.extend(search.day(day))
                if len(found) >= count:
                    return found[:count]
            day += timedelta(days=1)
        chunk_days = min(chunk_days * 2, MAX_CHUNK_DAYS)
    return found


def _block_bounds(day: date, start: time, end: time, tz: Any) -> tuple[int, int, int, bool]:
    """A block's start and end on `day` in epoch seconds; the shift from epoch to seconds
    since local midnight; whether a clock change falls inside the block."""
    start_at = local_datetime(day, start, tz)
    end_at = local_datetime(day, end, tz)
    start_epoch = _epoch(start_at)
    local_offset = start.hour * 3600 + start.minute * 60 - start_epoch
    straddles = start_at.astimezone(tz).utcoffset() != end_at.astimezone(tz).utcoffset()
    return start_epoch, _epoch(end_at), local_offset, straddles


@dataclass
class _DaySearch:
    """The open slots of one day, given the bookings of the chunk that holds it."""

    tz: Any
    now: int
    templates: dict[int, list[_Template]]
    provider_ids: list[int]
    type_id: int
    duration: int
    window: tuple[time, time] | None
    include_same_day_holds: bool
    room_ids: list[int]
    provider_busy: dict[int, _Busy] = field(default_factory=dict)
    room_busy: dict[int, _Busy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._eligible: dict[tuple[int, int], list[_Block]] = {}

    def eligible_blocks(self, template: _Template, weekday: int) -> list[_Block]:
        """The template's blocks that day that could hold this type (cached per search)."""
        key = (template.id, weekday)
        if key not in self._eligible:
            self._eligible[key] = [
                block
                for block in template.blocks_by_weekday.get(weekday, ())
                if block.kind in TemplateBlock.BOOKABLE_KINDS
                and block.accepts(self.type_id)
                and (self.include_same_day_holds or block.kind != TemplateBlock.Kind.SAME_DAY_HOLD)
                and (
                    self.window is None
                    or (block.start_time < self.window[1] and block.end_time > self.window[0])
                )
            ]
        return self._eligible[key]

    def day(self, day: date) -> list[Slot]:
        found: list[tuple[int, int, int, int, str, int | None]] = []
        weekday = day.weekday()
        tz, now, duration, window = self.tz, self.now, self.duration, self.window
        if window is not None:
            window_start = window[0].hour * 3600 + window[0].minute * 60 + window[0].second
            window_end = window[1].hour * 3600 + window[1].minute * 60 + window[1].second
        # Providers mostly share block times: place each distinct block once per day.
        bounds: dict[tuple[time, time], tuple[int, int, int, bool]] = {}
        for pid in self.provider_ids:
            template = template_for_day(self.templates[pid], day)
            if template is None:
                continue
            busy = self.provider_busy.get(pid, _NOTHING_BUSY)
            for block in self.eligible_blocks(template, weekday):
                is_hold = block.kind == TemplateBlock.Kind.SAME_DAY_HOLD
                release = int(block.hold_release.total_seconds())
                step = int(block.slot.total_seconds())
                key = (block.start_time, block.end_time)
                if key not in bounds:
                    bounds[key] = _block_bounds(day, block.start_time, block.end_time, tz)
                start, block_end, local_offset, straddles = bounds[key]
                last_start = block_end - duration
                while start <= last_start:
                    slot_start, start = start, start + step
                    if slot_start < now or (is_hold and now < slot_start - release):
                        continue
                    if window is not None:
                        if straddles:
                            local = _from_epoch(slot_start).astimezone(tz).time()
                            seconds = local.hour * 3600 + local.minute * 60 + local.second
                        else:
                            seconds = slot_start + local_offset
                        if not window_start <= seconds < window_end:
                            continue
                    end = slot_start + duration
                    if not busy.is_free(slot_start, end):
                        continue
                    room_id = None
                    if self.room_ids:
                        room_id = next(
                            (
                                r
                                for r in self.room_ids
                                if self.room_busy.get(r, _NOTHING_BUSY).is_free(slot_start, end)
                            ),
                            None,
                        )
                        if room_id is None:
                            continue
                    found.append((slot_start, pid, end, block.id, block.kind, room_id))
        found.sort()
        return [
            Slot(_from_epoch(s), pid, _from_epoch(e), block_id, kind, room_id)
            for s, pid, e, block_id, kind, room_id in found
        ]


def free_rooms(*, clinic: Clinic, room_kind: str, start: datetime, end: datetime) -> list[int]:
    """Ids of the clinic's active rooms of a kind with no live appointment in [start, end)."""
    taken = Appointment.objects.filter(
        status__in=Appointment.LIVE_STATUSES, room__isnull=False, start__lt=end, end__gt=start
    ).values("room_id")
    return list(
        Room.objects.filter(clinic=clinic, kind=room_kind, is_active=True)
        .exclude(pk__in=taken)
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class BlockMatch:
    block: _Block | None
    problem: str = ""


def match_block(
    *,
    clinic: Clinic,
    provider_id: int,
    type_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    allow_buffer: bool = False,
) -> BlockMatch:
    """The template block a booking of [start, end) would sit in, or why there is none."""
    tz = clinic.tz
    day = start.astimezone(tz).date()
    if ClinicClosure.objects.filter(clinic=clinic, day=day).exists():
        return BlockMatch(None, f"The clinic is closed on {day:%A %d %B %Y}.")
    templates = load_templates(clinic=clinic, start=day, end=day, provider_ids=[provider_id])
    template = template_for_day(templates.get(provider_id, []), day)
    if template is None:
        return BlockMatch(None, "The provider has no schedule template at this clinic that day.")
    accepted_elsewhere = False
    for block in template.blocks_by_weekday.get(day.weekday(), ()):
        block_start = local_datetime(day, block.start_time, tz)
        block_end = local_datetime(day, block.end_time, tz)
        if not (block_start <= start and end <= block_end):
            continue
        if block.kind == TemplateBlock.Kind.ADMIN:
            return BlockMatch(None, "That time is admin / lunch time and cannot be booked.")
        if block.kind == TemplateBlock.Kind.BUFFER and not allow_buffer:
            return BlockMatch(None, "That time is held as a buffer for urgent add-ons.")
        if (start - block_start) % block.slot:
            return BlockMatch(
                None,
                f"Appointments in this block start every {block.slot.seconds // 60} minutes "
                f"from {block.start_time:%H:%M}.",
            )
        if not block.accepts(type_id):
            accepted_elsewhere = True
            continue
        if block.kind == TemplateBlock.Kind.SAME_DAY_HOLD and now < start - block.hold_release:
            hours = block.hold_release.total_seconds() / 3600
            return BlockMatch(
                None, f"That slot is held for same-day access; it opens {hours:g} hours before."
            )
        return BlockMatch(block)
    if accepted_elsewhere:
        return BlockMatch(None, "That block does not accept this appointment type.")
    return BlockMatch(None, "That time is outside the provider's schedule template.")


def third_next_available_days(
    *,
    clinic: Clinic,
    provider: Staff | int,
    appointment_type: AppointmentType,
    now: datetime | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> int | None:
    """IHI third next available: days from today (0) to the third open slot, holds excluded.

    None when there are fewer than three open slots within the horizon.
    """
    now = now or timezone.now()
    slots = find_slots(
        clinic=clinic,
        appointment_type=appointment_type,
        provider=provider,
        count=3,
        now=now,
        include_same_day_holds=False,
        horizon_days=horizon_days,
    )
    if len(slots) < 3:
        return None
    today = now.astimezone(clinic.tz).date()
    return (slots[2].start.astimezone(clinic.tz).date() - today).days


def providers_with_templates(clinic: Clinic, day: date) -> list[int]:
    """Ids of the providers with a template at the clinic in effect on `day`."""
    return sorted(
        set(
            ScheduleTemplate.objects.filter(clinic=clinic)
            .filter(Q(effective_from__lte=day))
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=day))
            .values_list("provider_id", flat=True)
        )
    )
