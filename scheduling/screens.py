"""What the front desk's scheduling screens show: the day and week grids, and two small writes.

Built on `selectors`, `availability` and `services` (owned by the scheduling model); nothing
here decides whether a booking is allowed. The grid is a table: each cell spans as many rows
as its time takes, so the layout needs no inline style under the strict CSP.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User

from . import availability, selectors
from .models import (
    Appointment,
    AppointmentType,
    ClinicClosure,
    ProviderTimeOff,
    TemplateBlock,
    WaitlistOffer,
)

# Row heights the stylesheet knows, largest first: a grid uses the largest that every time on
# it is a multiple of, so a day of 20-minute slots gets 20-minute rows.
UNITS = (60, 30, 20, 15, 10, 5)
DAY_MINUTES = 24 * 60

_SLOT_KINDS = frozenset({"open", "held", "past"})


@dataclass
class Cell:
    """One table cell of the grid, `rows` rows tall."""

    kind: str  # appointments, open, held, past, admin, buffer, time_off, empty
    rows: int = 1
    start: datetime | None = None
    end: datetime | None = None
    appointments: list[ScheduledAppointment] = field(default_factory=list)
    label: str = ""
    provider_id: int | None = None
    type_id: int | None = None  # the block's only accepted type, to preselect when booking
    is_hold: bool = False
    # Filled in by `link_grid`, so the template does no lookups per cell (a busy day has
    # hundreds of them).
    time: str = ""
    url: str = ""
    links_html: str = ""  # the appointments' links, escaped


@dataclass
class ColumnSource:
    """Everything one column (a provider on a day) is drawn from."""

    label: str
    day: date
    provider: Staff
    appointments: list[ScheduledAppointment]
    template: Any  # availability's template in effect that day, or None
    time_off: list[tuple[datetime, datetime]]
    closure: str | None = None
    sublabel: str = ""

    @property
    def works(self) -> bool:
        """Whether the provider's template has any block on this day."""
        return self.template is not None and bool(
            self.template.blocks_by_weekday.get(self.day.weekday())
        )


_NO_HTML = SafeString("")


@dataclass
class GridRow:
    minute: int
    time: str
    label: str  # the time, on the rows that show it (every half hour or hour)
    is_hour: bool
    cells: list[Cell]
    # The row's cells as HTML, made by `link_grid` (the grid's template prints it as it is).
    cells_html: SafeString = _NO_HTML
    # The row the clinic's clock is in (today only): the day view opens scrolled to it.
    is_now: bool = False


@dataclass
class Grid:
    columns: list[ColumnSource]
    rows: list[GridRow]
    unit: int

    @property
    def is_empty(self) -> bool:
        return not self.rows

    @property
    def body_html(self) -> SafeString:
        """The table's rows (the template's loop over them was a fifth of the day view's
        time); read by the template, after `link_grid` and `mark_now`."""
        html = []
        for row in self.rows:
            if row.is_now:
                css = (
                    ' class="is-now is-hour" data-now'
                    if row.is_hour
                    else ' class="is-now" data-now'
                )
            else:
                css = ' class="is-hour"' if row.is_hour else ""
            hidden = "" if row.label else ' class="visually-hidden"'
            html.append(
                f'<tr{css}><th scope="row" class="sched-grid__time"><span{hidden}>'
                f"{escape(row.time)}</span></th>{row.cells_html}</tr>"
            )
        # Every value went through escape() (cells_html by cell_html); the rest is markup.
        return mark_safe("\n".join(html))  # noqa: S308


@dataclass
class _Item:
    kind: str
    start_min: int
    end_min: int
    cell: Cell


def _minute(moment: datetime, day: date, tz: Any) -> int:
    """Minutes since local midnight of `day` (clamped to the day)."""
    local = moment.astimezone(tz)
    if local.date() < day:
        return 0
    if local.date() > day:
        return DAY_MINUTES
    return local.hour * 60 + local.minute


def _column_items(source: ColumnSource, *, tz: Any, now: datetime) -> list[_Item]:
    day = source.day
    items: list[_Item] = []
    for appointment in source.appointments:
        if appointment.status == Appointment.Status.CANCELLED:
            continue  # their time is free again; they are listed under the grid
        items.append(
            _Item(
                "appointments",
                _minute(appointment.start, day, tz),
                _minute(appointment.end, day, tz),
                Cell("appointments", appointments=[appointment]),
            )
        )
    for start, end in source.time_off:
        items.append(
            _Item(
                "time_off",
                _minute(start, day, tz),
                _minute(end, day, tz),
                Cell("time_off", label="Time off"),
            )
        )
    if source.closure is None and source.template is not None:
        items.extend(_block_items(source, tz=tz, now=now))
    return [item for item in items if item.end_min > item.start_min]


def _block_items(source: ColumnSource, *, tz: Any, now: datetime) -> list[_Item]:
    """The template's blocks that day: admin and buffer spans, and the bookable slots."""
    day = source.day
    items: list[_Item] = []
    for block in source.template.blocks_by_weekday.get(day.weekday(), ()):
        start_min = block.start_time.hour * 60 + block.start_time.minute
        end_min = block.end_time.hour * 60 + block.end_time.minute
        if block.kind == TemplateBlock.Kind.ADMIN:
            items.append(_Item("admin", start_min, end_min, Cell("admin", label="Admin / lunch")))
            continue
        if block.kind == TemplateBlock.Kind.BUFFER:
            items.append(_Item("buffer", start_min, end_min, Cell("buffer", label="Buffer")))
            continue
        is_hold = block.kind == TemplateBlock.Kind.SAME_DAY_HOLD
        only_type = next(iter(block.type_ids)) if len(block.type_ids) == 1 else None
        slot_start = availability.local_datetime(day, block.start_time, tz)
        block_end = availability.local_datetime(day, block.end_time, tz)
        while slot_start + block.slot <= block_end:
            slot_end = slot_start + block.slot
            if slot_start < now:
                kind = "past"
            elif is_hold and now < slot_start - block.hold_release:
                kind = "held"
            else:
                kind = "open"
            items.append(
                _Item(
                    kind,
                    _minute(slot_start, day, tz),
                    _minute(slot_end, day, tz),
                    Cell(
                        kind,
                        label=str(source.provider),
                        start=slot_start,
                        end=slot_end,
                        provider_id=source.provider.pk,
                        type_id=only_type,
                        is_hold=is_hold,
                    ),
                )
            )
            slot_start = slot_end
    return items


def _unit(boundaries: Iterable[int]) -> int:
    values = list(boundaries)
    for unit in UNITS:
        if all(value % unit == 0 for value in values):
            return unit
    return UNITS[-1]


def _snap(item: _Item, unit: int) -> None:
    item.start_min = item.start_min // unit * unit
    item.end_min = max(-(-item.end_min // unit) * unit, item.start_min + unit)


def _merge_appointments(items: list[_Item]) -> list[_Item]:
    """Overlapping appointments (declared overbooks, a no-show and a walk-in) share one cell."""
    merged: list[_Item] = []
    for item in sorted(items, key=lambda i: (i.start_min, i.end_min)):
        if merged and item.start_min < merged[-1].end_min:
            last = merged[-1]
            last.end_min = max(last.end_min, item.end_min)
            last.cell.appointments.extend(item.cell.appointments)
        else:
            merged.append(item)
    return merged


def _place(placed: dict[int, Cell], taken: list[bool], cell: Cell, top: int, bottom: int) -> None:
    cell.rows = bottom - top
    placed[top] = cell
    for row in range(top, bottom):
        taken[row] = True


def _lay_out(items: list[_Item], *, first: int, unit: int, row_count: int) -> tuple:
    """Place one column's items: appointments, then time off and admin/buffer blocks in what
    is left, then the slots that are wholly free."""
    placed: dict[int, Cell] = {}
    taken = [False] * row_count
    appointments = _merge_appointments([i for i in items if i.kind == "appointments"])
    rest = [i for i in items if i.kind != "appointments"]
    order = {"time_off": 0, "admin": 1, "buffer": 1}
    rest.sort(key=lambda i: (order.get(i.kind, 2), i.start_min))
    for item in appointments + rest:
        top = max((item.start_min - first) // unit, 0)
        bottom = min((item.end_min - first) // unit, row_count)
        if top >= bottom:
            continue
        if item.kind == "appointments":
            _place(placed, taken, item.cell, top, bottom)
        elif item.kind in _SLOT_KINDS:
            if not any(taken[top:bottom]):
                _place(placed, taken, item.cell, top, bottom)
        else:
            row = top
            while row < bottom:
                if taken[row]:
                    row += 1
                    continue
                end = row
                while end < bottom and not taken[end]:
                    end += 1
                _place(placed, taken, Cell(item.cell.kind, label=item.cell.label), row, end)
                row = end
    return placed, taken


def build_grid(sources: Sequence[ColumnSource], *, clinic: Clinic, now: datetime) -> Grid:
    """Lay the columns' appointments, time off, blocks and slots out as table rows."""
    tz = clinic.tz
    per_column = [_column_items(source, tz=tz, now=now) for source in sources]
    all_items = [item for items in per_column for item in items]
    # A day of time off alone would stretch the grid over 24 hours: the working day sets it.
    framing = [i for i in all_items if i.kind != "time_off"] or all_items
    if not framing:
        return Grid(list(sources), [], UNITS[0])
    unit = _unit(b for item in framing for b in (item.start_min, item.end_min))
    for item in all_items:
        _snap(item, unit)
    first = min(item.start_min for item in framing) // 60 * 60
    last = min(-(-max(item.end_min for item in framing) // 60) * 60, DAY_MINUTES)
    row_count = (last - first) // unit
    columns = [_lay_out(items, first=first, unit=unit, row_count=row_count) for items in per_column]

    label_every = 30 if 30 % unit == 0 else 60
    rows: list[GridRow] = []
    for index in range(row_count):
        minute = first + index * unit
        cells: list[Cell] = []
        for placed, taken in columns:
            cell = placed.get(index)
            if cell is not None:
                cells.append(cell)
            elif not taken[index]:
                cells.append(Cell("empty"))
        time = f"{minute // 60:02d}:{minute % 60:02d}"
        rows.append(
            GridRow(
                minute=minute,
                time=time,
                label=time if minute % label_every == 0 else "",
                is_hour=minute % 60 == 0,
                cells=cells,
            )
        )
    return Grid(list(sources), rows, unit)


# A sentinel id: the appointment's address is made once per grid, not reversed per link.
_PK = 2_147_483_647


def mark_now(grid: Grid, *, clinic: Clinic, day: date, now: datetime) -> GridRow | None:
    """Mark the row that holds the clinic's current wall-clock time, when `day` is the clinic's
    today (the last row once the day's rows are over; none before they begin)."""
    local = now.astimezone(clinic.tz)
    if local.date() != day or not grid.rows:
        return None
    minute = local.hour * 60 + local.minute
    if minute < grid.rows[0].minute:
        return None
    row = next((r for r in grid.rows if r.minute <= minute < r.minute + grid.unit), grid.rows[-1])
    row.is_now = True
    return row


def link_grid(grid: Grid, *, clinic: Clinic, can_book: bool) -> Grid:
    """Give each cell its local time, its appointments' links and, for an open slot that the
    user may book, the booking page's address prefilled with the slot; then write each row's
    cells as HTML (a busy day has hundreds of cells: in the template language they were most
    of the day view's time, docs/benchmarks.md)."""
    tz = clinic.tz
    book = reverse("scheduling:book")
    appointment_url = reverse("scheduling:appointment", args=[_PK])
    for row in grid.rows:
        for cell in row.cells:
            if cell.start is not None:
                local = cell.start.astimezone(tz)
                cell.time = f"{local.hour:02d}:{local.minute:02d}"
                if can_book and cell.kind == "open":
                    # As urlencode(..., safe=":") writes it: every value is digits, - or :.
                    cell.url = (
                        f"{book}?provider={cell.provider_id}"
                        f"&start={local.date().isoformat()}T{cell.time}"
                    )
                    if cell.type_id is not None:
                        cell.url += f"&appointment_type={cell.type_id}"
            if cell.appointments:
                cell.links_html = "".join(
                    _link_html(a, appointment_url.replace(str(_PK), str(a.pk)), tz)
                    for a in cell.appointments
                )
        row.cells_html = mark_safe("\n".join(cell_html(cell) for cell in row.cells))  # noqa: S308
    return grid


def _link_html(a: ScheduledAppointment, url: str, tz: Any) -> str:
    """One appointment's link in its cell; every value from the database is escaped."""
    local = a.start.astimezone(tz)
    time = f"{local.hour:02d}:{local.minute:02d}"
    patient, type_name = escape(a.patient_name), escape(a.type_name)
    status = escape(a.get_status_display())
    overbook = (
        ' <span class="appt__status appt__status--overbook">Overbook</span>'
        if a.is_overbook
        else ""
    )
    return (
        f'<a class="appt appt-type-{a.appointment_type_id} appt--{escape(a.status)}" '
        f'href="{escape(url)}" title="{time} {patient} · {type_name} · {status}">'
        f'<span class="appt__time">{time}</span> '
        f'<span class="appt__patient">{patient}</span>'
        f'<span class="appt__meta">{type_name} · <span class="appt__status">{status}</span>'
        f"{overbook}</span></a>"
    )


def cell_html(cell: Cell) -> str:
    """One grid cell as a table cell; every value from the database is escaped (the standard
    library's html.escape, the same characters Django's escape replaces, without its lazy-
    string wrapper: the grid escapes hundreds of values)."""
    kind = cell.kind
    if kind == "empty":
        return '<td class="sched-cell--empty"></td>'
    rows = int(cell.rows)
    if kind == "appointments":
        single = " sched-cell--single" if len(cell.appointments) == 1 else ""
        return f'<td rowspan="{rows}" class="sched-cell--appts{single}">{cell.links_html}</td>'
    time = escape(cell.time)
    if kind == "open":
        if cell.url:
            word = "Same-day" if cell.is_hold else "Open"
            inner = (
                f'<a class="slot-link" href="{escape(cell.url)}">{time} '
                f'<span class="slot-link__word">{word}</span><span class="visually-hidden">: '
                f"book {escape(cell.label)} at {time}</span></a>"
            )
        else:
            inner = f'<span class="slot-label">{time} open</span>'
        return f'<td rowspan="{rows}" class="sched-cell--open">{inner}</td>'
    if kind == "held":
        return (
            f'<td rowspan="{rows}" class="sched-cell--held"><span class="slot-label '
            f'slot-label--held">{time} held for same day</span></td>'
        )
    if kind == "past":
        return f'<td rowspan="{rows}" class="sched-cell--past"></td>'
    return (
        f'<td rowspan="{rows}" class="sched-cell--{escape(kind)}"><span class="sched-cell__label">'
        f"{escape(cell.label)}</span></td>"
    )


# --- what the grids are drawn from -------------------------------------------------------


def clinic_providers(clinic: Clinic) -> QuerySet[Staff]:
    """Staff at the clinic who see patients: the provider role, or a schedule template here."""
    return (
        Staff.objects.filter(clinics=clinic)
        .filter(Q(user__groups__name=roles.PROVIDER) | Q(templates__clinic=clinic))
        .select_related("user")
        .distinct()
        .order_by("user__last_name", "user__first_name", "pk")
    )


def _time_off(provider_ids: list[int], start: datetime, end: datetime) -> dict[int, list]:
    found: dict[int, list[tuple[datetime, datetime]]] = {}
    for pid, off_start, off_end in ProviderTimeOff.objects.filter(
        provider_id__in=provider_ids, start__lt=end, end__gt=start
    ).values_list("provider_id", "start", "end"):
        found.setdefault(pid, []).append((off_start, off_end))
    return found


@dataclass
class DayReference:
    """What a day's grid needs besides its appointments (cached: scheduling.refcache), and
    what the day view shows around it: the legend's types and the filter's providers (one
    cache round trip for the page, not three)."""

    providers: list[Staff]  # with a template in effect that day
    templates: dict[int, list[Any]]  # provider id -> templates covering the day, with blocks
    time_off: dict[int, list[tuple[datetime, datetime]]]  # every provider's, that day
    closure: ClinicClosure | None
    types: list[AppointmentType] | None = None  # the clinic's active types
    clinic_providers: list[Staff] | None = None  # as `clinic_providers(clinic)` lists them


def day_reference(*, user: User, clinic: Clinic, day: date) -> DayReference:
    """The day's providers, templates, time off and closure at the clinic; the same for every
    user of the clinic, so it is cached per clinic and day (checked: the user works there)."""
    from . import refcache

    if clinic.pk not in user.clinic_ids and not user.is_superuser:
        return DayReference(providers=[], templates={}, time_off={}, closure=None)

    def compute() -> DayReference:
        providers_qs = selectors.providers_for_clinic(user=user, clinic=clinic, day=day)
        day_start, day_end = availability.day_bounds_utc(day, clinic.tz)
        time_off: dict[int, list[tuple[datetime, datetime]]] = {}
        # Every provider's (a column can be a provider with an appointment but no template).
        for pid, off_start, off_end in ProviderTimeOff.objects.filter(
            start__lt=day_end, end__gt=day_start
        ).values_list("provider_id", "start", "end"):
            time_off.setdefault(pid, []).append((off_start, off_end))
        return DayReference(
            providers=list(providers_qs),
            templates=availability.load_templates(clinic=clinic, start=day, end=day),
            time_off=time_off,
            closure=ClinicClosure.objects.filter(clinic=clinic, day=day).first(),
            types=list(AppointmentType.objects.filter(clinic=clinic, is_active=True)),
            clinic_providers=list(clinic_providers(clinic)),
        )

    # Held in the process while current: every day view reads it, and none changes it (the
    # grid is built from it into new objects; the filter lists its providers).
    return refcache.held(f"day:{clinic.pk}:{day.isoformat()}", compute)  # type: ignore[no-any-return]


# The columns the day and week views read of an appointment (the grid, the cancelled list,
# the audit entry), as plain values: a busy day's 60 appointments were 300 model instances
# (the appointment, its patient, provider, provider's user and type), most of the day view's
# Python time. A value the views show must be read here.
_ROW_COLUMNS = (
    *("pk", "patient_id", "provider_id", "appointment_type_id", "start", "end"),
    *("status", "cancel_reason", "late_cancel", "is_overbook"),
    *("patient__first_name", "patient__last_name", "appointment_type__name"),
    *("provider__title", "provider__user_id", "provider__user__username"),
    *("provider__user__first_name", "provider__user__last_name"),
)
_STATUS_LABELS = dict(Appointment.Status.choices)
_CANCEL_LABELS = dict(Appointment.CancelReason.choices)


@dataclass(slots=True)
class ScheduledAppointment:
    """An appointment as the day and week views show it: flat values, no model instances."""

    pk: int
    patient_id: int
    provider_id: int
    appointment_type_id: int
    start: datetime
    end: datetime
    status: str
    cancel_reason: str
    late_cancel: bool
    is_overbook: bool
    patient_name: str  # "Last, First", as str(Patient)
    type_name: str
    provider_name: str  # as str(Staff)

    def get_status_display(self) -> str:
        return _STATUS_LABELS.get(self.status, self.status)

    def get_cancel_reason_display(self) -> str:
        return _CANCEL_LABELS.get(self.cancel_reason, self.cancel_reason)


def scheduled_appointments(
    queryset: QuerySet[Appointment],
) -> tuple[list[ScheduledAppointment], dict[int, Staff]]:
    """The rows of `queryset` (already scoped), and each provider they name as a Staff row
    with its user (a column's heading: only the fields read here are loaded, others defer)."""
    return _scheduled_rows(queryset.values_list(*_ROW_COLUMNS), db=queryset.db)


def _scheduled_rows(
    rows: Iterable[Sequence[Any]], *, db: str
) -> tuple[list[ScheduledAppointment], dict[int, Staff]]:
    """`scheduled_appointments` of rows read as `_ROW_COLUMNS` lists them."""
    appointments: list[ScheduledAppointment] = []
    providers: dict[int, Staff] = {}
    for (
        pk,
        patient_id,
        provider_id,
        type_id,
        start,
        end,
        status,
        cancel_reason,
        late_cancel,
        is_overbook,
        first,
        last,
        type_name,
        title,
        user_id,
        username,
        p_first,
        p_last,
    ) in rows:
        provider_name = f"{p_first} {p_last}".strip() or username
        appointments.append(
            ScheduledAppointment(
                pk,
                patient_id,
                provider_id,
                type_id,
                start,
                end,
                status,
                cancel_reason,
                late_cancel,
                is_overbook,
                f"{last}, {first}",
                type_name,
                provider_name,
            )
        )
        if provider_id not in providers:
            staff = Staff.from_db(db, ["id", "user_id", "title"], [provider_id, user_id, title])
            staff.user = User.from_db(
                db,
                ["id", "username", "first_name", "last_name"],
                [user_id, username, p_first, p_last],
            )
            providers[provider_id] = staff
    return appointments, providers


# The day view's read as one constant statement: the clinic's appointments starting in
# [start, end) (one provider's, when given) as `_ROW_COLUMNS` lists them, by start and
# provider (as `selectors.appointments_for_day`), and the clinic's open waitlist offers still
# ahead (as `selectors.open_waitlist_offers`) when the user may see them. The day view is
# reloaded all day long: building and compiling the same ORM query on every request was the
# largest part of its own CPU time (docs/benchmarks.md, issue 18). The count rides on the
# appointments' rows (a day without appointments is one row of NULLs), a round trip less.
# Scoped by the clinic's id: `day_schedule` checks that the user works there.
_DAY_SQL = """
    SELECT w.offers,
           a.id, a.patient_id, a.provider_id, a.appointment_type_id, a.start, a."end",
           a.status, a.cancel_reason, a.late_cancel, a.is_overbook,
           p.first_name, p.last_name, t.name,
           s.title, s.user_id, u.username, u.first_name, u.last_name
      FROM (SELECT CASE WHEN %(count_offers)s THEN (
                SELECT count(*)
                  FROM scheduling_waitlistoffer o
                  JOIN scheduling_waitlistentry e ON e.id = o.entry_id
                 WHERE e.clinic_id = %(clinic)s AND o.status = %(open)s AND o.start > %(now)s
            ) END AS offers) w
      LEFT JOIN (scheduling_appointment a
                 JOIN core_patient p ON p.id = a.patient_id
                 JOIN scheduling_appointmenttype t ON t.id = a.appointment_type_id
                 JOIN core_staff s ON s.id = a.provider_id
                 JOIN core_user u ON u.id = s.user_id)
        ON a.clinic_id = %(clinic)s AND a.start >= %(start)s AND a.start < %(end)s
           AND (%(provider)s::bigint IS NULL OR a.provider_id = %(provider)s::bigint)
     ORDER BY a.start, a.provider_id
"""


def _day_rows(
    *,
    user: User,
    clinic: Clinic,
    day: date,
    provider: Staff | None,
    now: datetime,
    count_offers: bool,
) -> tuple[list[ScheduledAppointment], dict[int, Staff], int]:
    """The day's appointments and their providers (`scheduled_appointments` of
    `selectors.appointments_for_day`), and the number of open waitlist offers (0 unless
    `count_offers`): one statement."""
    if clinic.pk not in user.clinic_ids and not user.is_superuser:
        return [], {}, 0
    start, end = availability.day_bounds_utc(day, clinic.tz)
    params = {
        "count_offers": count_offers,
        "clinic": clinic.pk,
        "open": WaitlistOffer.Status.OPEN,
        "now": now,
        "start": start,
        "end": end,
        "provider": provider.pk if provider is not None else None,
    }
    with connection.cursor() as cursor:
        cursor.execute(_DAY_SQL, params)
        rows = cursor.fetchall()
    offers = rows[0][0] or 0
    appointments, providers = _scheduled_rows(
        (row[1:] for row in rows if row[1] is not None), db=connection.alias
    )
    return appointments, providers, offers


@dataclass
class DaySchedule:
    grid: Grid
    appointments: list[ScheduledAppointment]
    cancelled: list[ScheduledAppointment]
    closure: ClinicClosure | None
    reference: DayReference | None = None
    open_offers: int = 0  # the clinic's open waitlist offers (the day view, when asked)


def day_schedule(
    *,
    user: User,
    clinic: Clinic,
    day: date,
    provider: Staff | None,
    now: datetime,
    count_offers: bool = False,
) -> DaySchedule:
    """The clinic's day: one column per provider scheduled (or booked) that day; with
    `count_offers`, also the number of open waitlist offers (read with the appointments)."""
    appointments, booked_with, offers = _day_rows(
        user=user,
        clinic=clinic,
        day=day,
        provider=provider,
        now=now,
        count_offers=count_offers,
    )
    reference = day_reference(user=user, clinic=clinic, day=day)
    providers = {p.pk: p for p in reference.providers}
    for pk, staff in booked_with.items():
        providers.setdefault(pk, staff)
    if provider is not None:
        providers = {provider.pk: provider}
    ordered = sorted(providers.values(), key=lambda s: (s.user.last_name, s.user.first_name, s.pk))
    templates = reference.templates
    time_off = reference.time_off
    closure = reference.closure
    by_provider: dict[int, list[ScheduledAppointment]] = {}
    for appointment in appointments:
        by_provider.setdefault(appointment.provider_id, []).append(appointment)
    sources = [
        ColumnSource(
            label=str(p),
            sublabel=p.title,
            day=day,
            provider=p,
            appointments=by_provider.get(p.pk, []),
            template=availability.template_for_day(templates.get(p.pk, []), day),
            time_off=time_off.get(p.pk, []),
            closure=(closure.reason or "Clinic closed") if closure else None,
        )
        for p in ordered
    ]
    return DaySchedule(
        grid=build_grid(sources, clinic=clinic, now=now),
        appointments=appointments,
        cancelled=[a for a in appointments if a.status == Appointment.Status.CANCELLED],
        closure=closure,
        reference=reference,
        open_offers=offers,
    )


def week_schedule(
    *, user: User, clinic: Clinic, provider: Staff, week_start: date, now: datetime
) -> DaySchedule:
    """One provider's week: a column per day (weekend days only when something is on them)."""
    week_end = week_start + timedelta(days=6)
    appointments, _ = scheduled_appointments(
        selectors.appointments_for_provider_week(
            user=user, clinic=clinic, provider=provider, week_start=week_start
        )
    )
    templates = availability.load_templates(
        clinic=clinic, start=week_start, end=week_end, provider_ids=[provider.pk]
    ).get(provider.pk, [])
    start, _ = availability.day_bounds_utc(week_start, clinic.tz)
    _, end = availability.day_bounds_utc(week_end, clinic.tz)
    time_off = _time_off([provider.pk], start, end).get(provider.pk, [])
    closures = {
        c.day: c.reason or "Clinic closed"
        for c in ClinicClosure.objects.filter(clinic=clinic, day__range=(week_start, week_end))
    }
    sources = []
    for offset in range(7):
        day = week_start + timedelta(days=offset)
        template = availability.template_for_day(templates, day)
        on_day = [a for a in appointments if a.start.astimezone(clinic.tz).date() == day]
        has_blocks = template is not None and template.blocks_by_weekday.get(day.weekday())
        if day.weekday() >= 5 and not has_blocks and not on_day:
            continue
        sources.append(
            ColumnSource(
                label=f"{day:%a} {day.day} {day:%b}",
                day=day,
                provider=provider,
                appointments=on_day,
                template=template,
                time_off=time_off,
                closure=closures.get(day),
            )
        )
    return DaySchedule(
        grid=build_grid(sources, clinic=clinic, now=now),
        appointments=appointments,
        cancelled=[a for a in appointments if a.status == Appointment.Status.CANCELLED],
        closure=None,
    )


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


# --- audit of list screens and the notes write ---------------------------------------------


def record_list_view(
    *,
    actor: User,
    clinic: Clinic,
    appointments: Sequence[Appointment | ScheduledAppointment],
    summary: str,
) -> AuditEvent | None:
    """One audit entry for a screen that listed appointments (names, times, visit types).

    One entry per screen, not one per row: the day view is reloaded all day long. The ids of
    the appointments and patients shown are kept in the entry's changes.
    """
    if not appointments:
        return None
    # One INSERT, atomic on its own: no BEGIN and COMMIT round trips (a read's entry).
    return audit.record(
        actor=actor,
        action=AuditEvent.Action.VIEW,
        object_type="scheduling.appointment",
        clinic=clinic,
        summary=f"{summary}: {len(appointments)} appointment(s) shown",
        changes={
            "appointment_ids": [a.pk for a in appointments],
            "patient_ids": sorted({a.patient_id for a in appointments}),
        },
    )


def update_appointment_notes(*, actor: User, appointment: Appointment, notes: str) -> Appointment:
    """Replace an appointment's notes (the front desk's free text), audited with the change."""
    with transaction.atomic():
        locked = Appointment.objects.select_for_update(of=("self",)).get(pk=appointment.pk)
        if not actor.is_superuser and locked.clinic_id not in actor.clinic_ids:
            raise PermissionError("You do not work at this clinic.")
        if locked.notes == notes:
            return locked
        before = audit.snapshot(locked, ["notes"])
        locked.notes = notes
        locked.save(update_fields=["notes", "updated_at"])
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=locked,
            patient=locked.patient_id,
            clinic=locked.clinic_id,
            summary="Appointment notes changed",
            changes=audit.diff(before, audit.snapshot(locked, ["notes"])),
        )
        return locked
