"""Patient-flow reads, scoped to the clinics the user works in.

The boards are polled every few seconds by every desk and nurse station, so each is a fixed
handful of queries however many patients are in the clinic. The flow board reads its visits
(with their patient, appointment, provider and room joined), the arrivals still expected and
the free rooms in one round trip (`_board_reads`); the thresholds are cached.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple, cast

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import Q, QuerySet

from clinicops.core.models import Clinic, Room, Staff, User
from clinicops.core.refcache import Reference
from scheduling import availability
from scheduling.models import Appointment, AppointmentType

from .models import (
    ACTIVE_STEPS,
    FINAL_STEPS,
    FORWARD,
    RoomTurn,
    Step,
    StepThreshold,
    Visit,
    VisitEvent,
)

GROUPS = {"step": "Step", "provider": "Provider", "none": "No grouping"}
SORTS = {"time": "Appointment time", "waiting": "Longest in step", "patient": "Patient name"}


# The thresholds change a few times a year and every board poll reads them: cached, replaced
# on any change (clinicops.core.refcache; watched in apps.py).
THRESHOLDS = Reference("flow-thresholds")


def thresholds_for(clinic: Clinic) -> dict[str, tuple[int, int]]:
    """Amber and red minutes per active step: the clinic's own, else the defaults."""

    def compute() -> dict[str, tuple[int, int]]:
        values = dict(StepThreshold.DEFAULTS)
        for step, amber, red in StepThreshold.objects.filter(clinic=clinic).values_list(
            "step", "amber_minutes", "red_minutes"
        ):
            values[step] = (amber, red)
        return values

    return THRESHOLDS.cached(str(clinic.pk), compute)  # type: ignore[no-any-return]


def alert_level(step: str, minutes: int, thresholds: dict[str, tuple[int, int]]) -> str:
    """ "red", "amber" or "" for a visit that has been `minutes` in `step`."""
    limits = thresholds.get(step)
    if limits is None:
        return ""
    amber, red = limits
    if minutes >= red:
        return "red"
    if minutes >= amber:
        return "amber"
    return ""


@dataclass(slots=True)
class BoardRow:
    """One visit on the board, flattened to what the row shows (the board is re-rendered every
    few seconds on every screen, so no model instances and no per-row lookups)."""

    visit_id: int
    patient_id: int
    name: str  # "Last, First"
    full_name: str  # "First Last", for the buttons' accessible names
    walk_in: bool
    start: datetime
    appt_time: str
    provider_id: int
    provider: str
    step: str
    step_label: str
    step_since: datetime
    since_time: str
    room: str
    booked_room_id: int | None
    minutes: int
    level: str = ""
    limit: int = 0  # the threshold passed, for the row's words ("over 15")
    next_step: str = ""
    next_label: str = ""
    # Links, filled in by the view (URLs are its business).
    url: str = ""
    action_url: str = ""
    room_options: str = ""


@dataclass
class BoardGroup:
    key: str
    label: str
    rows: list[BoardRow]


@dataclass(slots=True)
class ArrivalRow:
    """An appointment of today not checked in yet."""

    appointment_id: int
    patient_id: int
    name: str
    full_name: str
    appt_time: str
    type_name: str
    provider: str
    minutes_late: int
    url: str = ""


@dataclass
class StepCount:
    step: str
    label: str
    count: int
    alerts: int = 0


@dataclass
class FlowBoard:
    clinic: Clinic
    day: date
    now: datetime
    group: str
    sort: str
    groups: list[BoardGroup]
    finished: list[BoardRow]
    counts: list[StepCount]
    arrivals: list[ArrivalRow]
    free_rooms: list[tuple[int, str]]
    thresholds: dict[str, tuple[int, int]]
    patient_ids: list[int] = field(default_factory=list)

    @property
    def active_count(self) -> int:
        return sum(len(g.rows) for g in self.groups)


def free_rooms(*, clinic: Clinic) -> list[Room]:
    """Active rooms with no patient in them and nothing left to clean."""
    busy = RoomTurn.objects.filter(room__clinic=clinic, cleaned_at__isnull=True).values("room_id")
    return list(Room.objects.filter(clinic=clinic, is_active=True).exclude(pk__in=busy))


def clock(moment: datetime, tz: tzinfo, *, seconds: bool = False) -> str:
    """09:05 (or 09:05:30): a wall-clock time at the clinic, as the templates' `|clock`."""
    local = moment.astimezone(tz)
    sec = f":{local.second:02d}" if seconds else ""
    return f"{local.hour:02d}:{local.minute:02d}{sec}"


_STEP_LABELS = {step: Step(step).label for step in Step.values}
_NEXT = {step: (to, _STEP_LABELS[to]) for step, to in FORWARD.items()}


# The three reads of the board as the parts of one UNION ALL (one round trip instead of three;
# each part keeps its own filter and scoping). Which part a row is from is its first column
# (1, 2, 3 in _BOARD_SQL); the parts' columns line up as in _BoardRead.
_VISIT, _ARRIVAL, _ROOM = 1, 2, 3


class _BoardRead(NamedTuple):
    part: int
    pk: int
    patient_id: int | None
    first: str | None
    last: str | None
    walk_in: bool | None
    start: datetime | None  # the appointment's start
    number: int | None  # a visit's booked room id; a free room's place in the name order
    provider_id: int | None
    provider_first: str | None
    provider_last: str | None
    provider_username: str | None
    text: str | None  # a visit's step, an arrival's visit type, a room's name
    step_since: datetime | None
    room: str | None  # a visit's room's name


# Every desk and nurse station polls the board every 10 seconds, and building and compiling
# this union with the ORM was half of a poll's CPU: it is one constant statement
# (docs/decisions/0043). The visits and the arrivals are scoped as `for_user` scopes them (the
# user's clinics, every clinic for a superuser) on top of the current clinic; the free rooms
# are the clinic's, as `free_rooms` reads them. test_board_reads holds each part to the same
# rows as the models' querysets.
_BOARD_SQL = """
SELECT 1, v.id, v.patient_id, p.first_name, p.last_name, v.is_walk_in, a.start,
       a.room_id, a.provider_id, pu.first_name, pu.last_name, pu.username, v.step,
       v.step_since, r.name
FROM patientflow_visit v
JOIN core_patient p ON p.id = v.patient_id
JOIN scheduling_appointment a ON a.id = v.appointment_id
JOIN core_staff s ON s.id = a.provider_id
JOIN core_user pu ON pu.id = s.user_id
LEFT JOIN core_room r ON r.id = v.room_id
WHERE v.clinic_id = %(clinic)s AND (%(all_clinics)s OR v.clinic_id = ANY(%(clinics)s))
  AND v.checked_in_at >= %(start)s AND v.checked_in_at < %(end)s
UNION ALL
SELECT 2, a.id, a.patient_id, p.first_name, p.last_name, NULL, a.start, NULL,
       a.provider_id, pu.first_name, pu.last_name, pu.username, t.name, NULL, NULL
FROM scheduling_appointment a
JOIN core_patient p ON p.id = a.patient_id
JOIN core_staff s ON s.id = a.provider_id
JOIN core_user pu ON pu.id = s.user_id
JOIN scheduling_appointmenttype t ON t.id = a.appointment_type_id
WHERE a.clinic_id = %(clinic)s AND (%(all_clinics)s OR a.clinic_id = ANY(%(clinics)s))
  AND a.start >= %(start)s AND a.start < %(end)s AND a.status = ANY(%(expected)s)
UNION ALL
SELECT 3, r.id, NULL, NULL, NULL, NULL, NULL, ROW_NUMBER() OVER (ORDER BY r.name, r.id),
       NULL, NULL, NULL, NULL, r.name, NULL, NULL
FROM core_room r
WHERE r.clinic_id = %(clinic)s AND r.is_active
  AND r.id NOT IN (
    SELECT rt.room_id FROM patientflow_roomturn rt JOIN core_room busy ON busy.id = rt.room_id
    WHERE rt.cleaned_at IS NULL AND busy.clinic_id = %(clinic)s
  )
"""
# Still expected: booked or confirmed (an arrived appointment has its visit).
_EXPECTED = [Appointment.Status.BOOKED.value, Appointment.Status.CONFIRMED.value]


def _board_reads(
    *, user: User | AnonymousUser, clinic: Clinic, day: date
) -> tuple[list[_BoardRead], list[_BoardRead], list[tuple[int, str]]]:
    """Today's visits, the appointments still expected, and the free rooms (by name)."""
    start, end = availability.day_bounds_utc(day, clinic.tz)
    params: dict[str, Any] = {
        "clinic": clinic.pk,
        "all_clinics": user.is_authenticated and user.is_superuser,
        # Nobody's clinics for an anonymous user: no visit, no appointment (for_user's none()).
        "clinics": list(getattr(user, "clinic_ids", ())) if user.is_authenticated else [],
        "start": start,
        "end": end,
        "expected": _EXPECTED,
    }
    read: dict[int, list[_BoardRead]] = {_VISIT: [], _ARRIVAL: [], _ROOM: []}
    with connection.cursor() as cursor:
        cursor.execute(_BOARD_SQL, params)
        for row in cursor.fetchall():
            read[row[0]].append(_BoardRead(*row))
    read[_ARRIVAL].sort(key=lambda r: (r.start, r.pk))
    read[_ROOM].sort(key=lambda r: r.number or 0)
    return read[_VISIT], read[_ARRIVAL], [(r.pk, r.text or "") for r in read[_ROOM]]


def _board_rows(reads: list[_BoardRead], *, tz: tzinfo, now: datetime) -> list[BoardRow]:
    rows = []
    for read in reads:
        step = read.text or ""
        # A visit's part: its appointment's start and its step's time are never NULL.
        appt_start, step_since = cast(datetime, read.start), cast(datetime, read.step_since)
        next_step, next_label = _NEXT.get(step, ("", ""))
        rows.append(
            BoardRow(
                visit_id=read.pk,
                patient_id=read.patient_id or 0,
                name=f"{read.last}, {read.first}",
                full_name=f"{read.first} {read.last}",
                walk_in=bool(read.walk_in),
                start=appt_start,
                appt_time=clock(appt_start, tz),
                provider_id=read.provider_id or 0,
                provider=f"{read.provider_first} {read.provider_last}".strip()
                or (read.provider_username or ""),
                step=step,
                step_label=_STEP_LABELS[step],
                step_since=step_since,
                since_time=clock(step_since, tz),
                room=read.room or "—",
                booked_room_id=read.number,
                minutes=max(0, int((now - step_since) / timedelta(minutes=1))),
                next_step=next_step,
                next_label=next_label,
            )
        )
    return rows


def _sort_key(sort: str) -> Callable[[BoardRow], Any]:
    if sort == "waiting":
        return lambda row: (-row.minutes, row.start, row.visit_id)
    if sort == "patient":
        return lambda row: (row.name.lower(), row.visit_id)
    return lambda row: (row.start, row.visit_id)


def flow_board(
    *,
    user: User | AnonymousUser,
    clinic: Clinic,
    now: datetime,
    group: str = "step",
    sort: str = "time",
) -> FlowBoard:
    """Today's visits at `clinic`, grouped and sorted for the board, with alerts and counts."""
    group = group if group in GROUPS else "step"
    sort = sort if sort in SORTS else "time"
    day = now.astimezone(clinic.tz).date()
    thresholds = thresholds_for(clinic)
    visit_reads, arrival_reads, rooms = _board_reads(user=user, clinic=clinic, day=day)
    active: list[BoardRow] = []
    finished: list[BoardRow] = []
    for row in _board_rows(visit_reads, tz=clinic.tz, now=now):
        if row.step in ACTIVE_STEPS:
            row.level = alert_level(row.step, row.minutes, thresholds)
            if row.level:
                row.limit = thresholds[row.step][0 if row.level == "amber" else 1]
            active.append(row)
        else:
            finished.append(row)
    active.sort(key=_sort_key(sort))
    finished.sort(key=lambda row: (row.step_since, row.visit_id), reverse=True)

    groups: list[BoardGroup] = []
    if group == "step":
        by_step: dict[str, list[BoardRow]] = defaultdict(list)
        for row in active:
            by_step[row.step].append(row)
        groups = [BoardGroup(s, _STEP_LABELS[s], by_step[s]) for s in ACTIVE_STEPS if by_step[s]]
    elif group == "provider":
        by_provider: dict[int, list[BoardRow]] = defaultdict(list)
        names: dict[int, str] = {}
        for row in active:
            by_provider[row.provider_id].append(row)
            names[row.provider_id] = row.provider
        groups = [
            BoardGroup(f"provider-{pk}", names[pk], by_provider[pk])
            for pk in sorted(by_provider, key=lambda pk: (names[pk].lower(), pk))
        ]
    elif active:
        groups = [BoardGroup("all", "In the clinic", active)]

    tally: dict[str, list[int]] = {step: [0, 0] for step in (*ACTIVE_STEPS, *FINAL_STEPS)}
    for row in (*active, *finished):
        tally[row.step][0] += 1
        tally[row.step][1] += bool(row.level)
    counts = [StepCount(s, _STEP_LABELS[s], n, alerts) for s, (n, alerts) in tally.items()]

    tz = clinic.tz
    arrivals = [
        ArrivalRow(
            appointment_id=read.pk,
            patient_id=read.patient_id or 0,
            name=f"{read.last}, {read.first}",
            full_name=f"{read.first} {read.last}",
            appt_time=clock(read.start, tz) if read.start else "",
            type_name=read.text or "",
            provider=f"{read.provider_first} {read.provider_last}".strip()
            or (read.provider_username or ""),
            minutes_late=int((now - read.start) / timedelta(minutes=1)) if read.start else 0,
        )
        for read in arrival_reads
    ]
    patient_ids = [r.patient_id for r in (*active, *finished)] + [a.patient_id for a in arrivals]
    return FlowBoard(
        clinic=clinic,
        day=day,
        now=now,
        group=group,
        sort=sort,
        groups=groups,
        finished=finished,
        counts=counts,
        arrivals=arrivals,
        free_rooms=rooms,
        thresholds=thresholds,
        patient_ids=patient_ids,
    )


@dataclass(slots=True)
class RoomState:
    """One room on the room board, flattened to what its card shows."""

    room_id: int
    name: str
    kind: str
    state: str  # "free", "occupied" or "cleaning"
    since: datetime | None = None
    since_time: str = ""
    minutes: int = 0
    visit_id: int | None = None
    patient_id: int | None = None
    occupant: str = ""  # "Last, First"
    occupant_step: str = ""
    provider: str = ""
    turnovers: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        return {"free": "Free", "occupied": "Occupied", "cleaning": "Needs cleaning"}[self.state]

    @property
    def last_turnover(self) -> int | None:
        return self.turnovers[-1] if self.turnovers else None

    @property
    def median_turnover(self) -> float | None:
        return statistics.median(self.turnovers) if self.turnovers else None


@dataclass(slots=True)
class _Turn:
    occupied_at: datetime
    vacated_at: datetime | None
    cleaned_at: datetime | None
    undone: bool
    visit_id: int
    patient_id: int
    occupant: str
    step: str
    provider: str


_KIND_LABELS = dict(Room.Kind.choices)


def room_board(*, user: User | AnonymousUser, clinic: Clinic, now: datetime) -> list[RoomState]:
    """Each active room: free, occupied (by whom, since when) or needing cleaning, and its
    turnover times today (minutes from one patient leaving to the next one entering)."""
    tz = clinic.tz
    day_start, _ = availability.day_bounds_utc(now.astimezone(tz).date(), tz)
    rooms = Room.objects.for_user(user).filter(clinic=clinic, is_active=True)
    turns = (
        RoomTurn.objects.for_user(user)
        .filter(room__clinic=clinic)
        .filter(
            Q(cleaned_at__isnull=True)
            | Q(occupied_at__gte=day_start)
            | Q(cleaned_at__gte=day_start)
        )
        .order_by("room_id", "occupied_at", "pk")
        .values_list(
            "room_id",
            "occupied_at",
            "vacated_at",
            "cleaned_at",
            "undone",
            "visit_id",
            "visit__patient_id",
            "visit__patient__first_name",
            "visit__patient__last_name",
            "visit__step",
            "visit__appointment__provider__user__first_name",
            "visit__appointment__provider__user__last_name",
        )
    )
    by_room: dict[int, list[_Turn]] = defaultdict(list)
    for room_id, occupied, vacated, cleaned, undone, visit_id, patient_id, *names in turns:
        first, last, step, p_first, p_last = names
        by_room[room_id].append(
            _Turn(
                occupied,
                vacated,
                cleaned,
                undone,
                visit_id,
                patient_id,
                f"{last}, {first}",
                step,
                f"{p_first} {p_last}".strip(),
            )
        )
    states = []
    for room_id, name, kind in rooms.values_list("pk", "name", "kind"):
        room_turns = by_room.get(room_id, [])
        state = RoomState(room_id, name, _KIND_LABELS.get(kind, kind), "free")
        real = [t for t in room_turns if not t.undone]
        for before, after in itertools.pairwise(real):
            if before.vacated_at is not None and before.vacated_at >= day_start:
                gap = after.occupied_at - before.vacated_at
                state.turnovers.append(max(0, int(gap / timedelta(minutes=1))))
        open_turn = next((t for t in room_turns if t.cleaned_at is None), None)
        if open_turn is not None and open_turn.vacated_at is None:
            state.state, state.since = "occupied", open_turn.occupied_at
            state.visit_id, state.patient_id = open_turn.visit_id, open_turn.patient_id
            state.occupant, state.provider = open_turn.occupant, open_turn.provider
            state.occupant_step = _STEP_LABELS[open_turn.step]
        elif open_turn is not None:
            state.state, state.since = "cleaning", open_turn.vacated_at
        elif room_turns:
            state.since = max(t.cleaned_at for t in room_turns if t.cleaned_at)
        if state.since is not None:
            state.minutes = max(0, int((now - state.since) / timedelta(minutes=1)))
            state.since_time = clock(state.since, tz)
        states.append(state)
    return states


@dataclass
class Timeline:
    events: list[VisitEvent]
    undone_ids: set[int]


def visit_timeline(visit: Visit) -> Timeline:
    """A visit's whole history, oldest first, with the events that were undone marked."""
    events = list(visit.events.select_related("room", "actor").order_by("at", "pk"))
    undone = {e.undoes_id for e in events if e.undoes_id is not None}
    return Timeline(events, undone)


def providers_at(*, user: User | AnonymousUser, clinic: Clinic, day: date) -> QuerySet[Staff]:
    """Providers with a schedule at the clinic on `day`."""
    if not getattr(user, "is_superuser", False) and clinic.pk not in getattr(
        user, "clinic_ids", []
    ):
        return Staff.objects.none()
    ids = availability.providers_with_templates(clinic, day)
    return (
        Staff.objects.filter(pk__in=ids)
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )


def appointment_types(*, clinic: Clinic) -> QuerySet[AppointmentType]:
    return AppointmentType.objects.filter(clinic=clinic, is_active=True).order_by("name")
