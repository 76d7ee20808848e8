"""The day/week grid: rows of one time unit, cells spanning the rows their time takes."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduling import availability, screens
from scheduling.models import Appointment, TemplateBlock
from scheduling.tests.conftest import MONDAY, local
from scheduling.tests.factories import AppointmentFactory, TemplateBlockFactory

pytestmark = pytest.mark.django_db

DST_SUNDAY = dt.date(2027, 3, 14)  # New York springs forward at 02:00


def grid_for(clinic, provider, day, *, now, appointments=(), time_off=()):
    templates = availability.load_templates(
        clinic=clinic, start=day, end=day, provider_ids=[provider.pk]
    )
    source = screens.ColumnSource(
        label=str(provider),
        day=day,
        provider=provider,
        appointments=list(appointments),
        template=availability.template_for_day(templates.get(provider.pk, []), day),
        time_off=list(time_off),
    )
    return screens.build_grid([source], clinic=clinic, now=now)


def cells(grid) -> list[tuple[str, int, str]]:
    """(kind, rows, local start) of every cell, top to bottom."""
    found = []
    for row in grid.rows:
        for cell in row.cells:
            start = f"{row.minute // 60:02d}:{row.minute % 60:02d}"
            found.append((cell.kind, cell.rows, start))
    return found


def test_a_day_of_20_minute_slots_has_20_minute_rows(clinic, provider, monday_block, now):
    grid = grid_for(clinic, provider, MONDAY, now=now)

    assert grid.unit == 20
    assert len(grid.rows) == 12  # 08:00 to 12:00
    assert cells(grid)[:2] == [("open", 1, "08:00"), ("open", 1, "08:20")]
    assert [r.label for r in grid.rows if r.label] == ["08:00", "09:00", "10:00", "11:00"]
    assert [r.time for r in grid.rows[:3]] == ["08:00", "08:20", "08:40"]


def test_an_appointment_spans_its_rows_and_hides_the_slots_under_it(
    clinic, provider, visit, monday_block, now
):
    visit.duration_minutes = 40
    visit.save()
    appointment = AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 9)
    )

    grid = grid_for(clinic, provider, MONDAY, now=now, appointments=[appointment])

    laid_out = cells(grid)
    assert ("appointments", 2, "09:00") in laid_out
    assert ("open", 1, "09:20") not in laid_out
    assert ("open", 1, "09:40") in laid_out
    assert sum(rows for _, rows, _ in laid_out) == 12  # every row covered exactly once


def test_overlapping_appointments_share_one_cell(clinic, provider, visit, monday_block, now):
    first = AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 9)
    )
    overbook = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(MONDAY, 9, 10),
        end=local(MONDAY, 9, 30),
        is_overbook=True,
        overbook_reason="urgent",
    )

    grid = grid_for(clinic, provider, MONDAY, now=now, appointments=[first, overbook])

    [shared] = [c for r in grid.rows for c in r.cells if c.kind == "appointments"]
    assert shared.appointments == [first, overbook]
    assert grid.unit == 10
    assert shared.rows == 3  # 09:00 to 09:30


def test_cancelled_appointments_leave_their_slot_open(clinic, provider, visit, monday_block, now):
    cancelled = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(MONDAY, 9),
        status=Appointment.Status.CANCELLED,
        cancel_reason="patient",
    )
    grid = grid_for(clinic, provider, MONDAY, now=now, appointments=[cancelled])
    assert ("open", 1, "09:00") in cells(grid)


def test_odd_minutes_fall_back_to_5_minute_rows(clinic, provider, visit, monday_block, now):
    odd = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(MONDAY, 9, 3),
        end=local(MONDAY, 9, 23),
    )
    grid = grid_for(clinic, provider, MONDAY, now=now, appointments=[odd])
    assert grid.unit == 5
    assert ("appointments", 5, "09:00") in cells(grid)  # 09:00 to 09:25, snapped outwards


def test_a_whole_day_off_does_not_stretch_the_grid(clinic, provider, monday_block, now):
    day_off = (local(MONDAY, 0), local(MONDAY + dt.timedelta(days=1), 0))
    grid = grid_for(clinic, provider, MONDAY, now=now, time_off=[day_off])

    assert grid.rows[0].minute == 8 * 60
    assert len(grid.rows) == 12
    assert cells(grid) == [("time_off", 12, "08:00")]


def test_admin_time_and_past_and_held_slots(clinic, provider, template, monday_block):
    TemplateBlockFactory(
        template=template,
        weekday=0,
        start_time=dt.time(12),
        end_time=dt.time(13),
        kind=TemplateBlock.Kind.ADMIN,
    )
    TemplateBlockFactory(
        template=template,
        weekday=0,
        start_time=dt.time(13),
        end_time=dt.time(14),
        kind=TemplateBlock.Kind.SAME_DAY_HOLD,
        hold_release_hours=2,
    )

    grid = grid_for(clinic, provider, MONDAY, now=local(MONDAY, 9, 30))

    laid_out = cells(grid)
    assert ("past", 1, "09:00") in laid_out
    assert ("open", 1, "09:40") in laid_out
    assert ("admin", 3, "12:00") in laid_out
    assert ("held", 1, "13:00") in laid_out  # opens at 11:00


def test_a_block_at_eight_stays_at_eight_on_a_daylight_saving_day(clinic, provider, template, now):
    TemplateBlockFactory(template=template, weekday=DST_SUNDAY.weekday())

    grid = grid_for(clinic, provider, DST_SUNDAY, now=now)

    assert grid.rows[0].label == "08:00"
    first = grid.rows[0].cells[0]
    assert first.kind == "open"
    assert first.start == dt.datetime(2027, 3, 14, 12, 0, tzinfo=dt.UTC)  # 08:00 EDT
    assert len(grid.rows) == 12


# --- the day view opens at the clinic's current time ----------------------------------------


def now_rows(grid) -> list[str]:
    return [row.time for row in grid.rows if row.is_now]


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (9, 0, "09:00"),
        (9, 19, "09:00"),
        (9, 20, "09:20"),
        (11, 59, "11:40"),
        (15, 0, "11:40"),  # after the day's rows: the last one
    ],
)
def test_the_row_of_the_clinics_current_time_is_marked_today(
    clinic, provider, monday_block, hour, minute, expected
):
    now = local(MONDAY, hour, minute)
    grid = grid_for(clinic, provider, MONDAY, now=now)
    row = screens.mark_now(grid, clinic=clinic, day=MONDAY, now=now)
    assert row is not None
    assert now_rows(grid) == [expected]


def test_no_row_is_marked_on_another_day_or_before_the_day_begins(clinic, provider, monday_block):
    tuesday_morning = local(MONDAY + dt.timedelta(days=1), 9)
    grid = grid_for(clinic, provider, MONDAY, now=tuesday_morning)
    assert screens.mark_now(grid, clinic=clinic, day=MONDAY, now=tuesday_morning) is None
    early = local(MONDAY, 6, 30)
    assert screens.mark_now(grid, clinic=clinic, day=MONDAY, now=early) is None
    assert now_rows(grid) == []


def test_the_clinics_time_zone_decides_today_and_the_row_at_midnight(
    clinic, provider, monday_block
):
    """00:30 UTC Tuesday is still Monday 19:30 in New York: Monday's grid, its last row."""
    now = dt.datetime.combine(MONDAY + dt.timedelta(days=1), dt.time(0, 30), tzinfo=dt.UTC)
    grid = grid_for(clinic, provider, MONDAY, now=now)
    assert screens.mark_now(grid, clinic=clinic, day=MONDAY, now=now) is not None
    assert now_rows(grid) == ["11:40"]


def test_the_row_on_the_spring_forward_day_is_by_the_wall_clock(clinic, provider, template):
    """On 14 Mar 2027 New York skips 02:00-03:00: 10:05 EDT is the 10:00 row, as on the wall."""
    TemplateBlockFactory(template=template, weekday=DST_SUNDAY.weekday())
    now = local(DST_SUNDAY, 10, 5)
    grid = grid_for(clinic, provider, DST_SUNDAY, now=now)
    screens.mark_now(grid, clinic=clinic, day=DST_SUNDAY, now=now)
    assert now_rows(grid) == ["10:00"]
