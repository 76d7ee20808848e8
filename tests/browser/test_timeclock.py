"""A nurse clocks in on the tablet kiosk (tap your name, PIN, Clock in), and a manager approves
last week's timesheet. Screenshots: artifacts/screenshots/timeclock-*."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import Clinic, Staff
from clinicops.core.tests.factories import ClinicFactory, StaffFactory
from workforce import timesheets
from workforce.models import Punch, RosterRole, StaffContract, TimesheetWeek
from workforce.services import timeclock, timesheet_weeks

from .conftest import TABLET, ConsoleLog, axe_violations, htmx_settled
from .test_roster import log_in, snap

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser
Screenshot = Callable[["Page", str], list[Path]]


@pytest.fixture
def setup(transactional_db: None) -> tuple[Clinic, Staff]:
    clinic = ClinicFactory(name="Riverside Family Clinic", short_name="Riverside")
    StaffFactory(
        roles=[roles.MANAGER],
        clinics=[clinic],
        user__username="boss",
        user__first_name="Dana",
        user__last_name="Whitfield",
    )
    StaffFactory(
        roles=[roles.FRONT_DESK],
        clinics=[clinic],
        user__username="tablet",
        user__first_name="Front",
        user__last_name="Desk",
    )
    nurse = StaffFactory(
        roles=[roles.NURSE],
        clinics=[clinic],
        user__username="nia",
        user__first_name="Nia",
        user__last_name="Nolan",
    )
    StaffContract.objects.create(staff=nurse, role=RosterRole.NURSE)
    timeclock.set_pin(actor=None, staff=nurse, pin="4321")
    # Last work week: five 9-hour days, confirmed by the nurse.
    first = timesheets.work_week_of(clinic, timezone.now() - dt.timedelta(days=7))
    for d in range(1, 6):
        day = first + dt.timedelta(days=d)
        for kind, hour in (("in", 7), ("out", 16)):
            at = dt.datetime.combine(day, dt.time(hour), tzinfo=clinic.tz)
            timeclock.punch(
                actor=None,
                staff=nurse,
                clinic=clinic,
                kind=kind,
                request_key=uuid.uuid4(),
                source="demo",
                at=at,
            )
    timesheet_weeks.confirm(actor=nurse.user, staff=nurse, clinic=clinic, first_day=first)
    return clinic, nurse


def test_nurse_clocks_in_on_the_kiosk_and_manager_approves_the_week(
    page: Page, console: ConsoleLog, screenshot: Screenshot, setup: tuple[Clinic, Staff]
) -> None:
    _clinic, nurse = setup
    page.set_viewport_size(TABLET)
    log_in(page, "tablet")
    page.goto("/roster/kiosk/")
    expect(page.get_by_role("heading", name="Time clock", exact=True)).to_be_visible()
    tile = page.get_by_role("link", name="Nia Nolan")
    box = tile.bounding_box()
    assert box is not None
    assert box["height"] >= 44  # a touch target
    assert axe_violations(page) == []
    snap(screenshot, page, "timeclock-kiosk")
    tile.click()
    expect(page.get_by_role("heading", name="Nia Nolan")).to_be_visible()
    expect(page.get_by_text("Not clocked in")).to_be_visible()
    page.get_by_label("PIN").fill("9999")
    page.get_by_role("button", name="Clock in").click()
    expect(page.get_by_text("PIN: that PIN is wrong. Nothing was recorded.")).to_be_visible()
    page.get_by_label("PIN").fill("4321")
    page.get_by_role("button", name="Clock in").click()
    expect(page.get_by_text("Clock in at")).to_be_visible()
    expect(page.get_by_text("for Nia Nolan (no rostered shift now).")).to_be_visible()
    assert axe_violations(page) == []
    snap(screenshot, page, "timeclock-kiosk-done")
    assert Punch.objects.filter(staff=nurse, source="kiosk", kind="in").count() == 1

    # The manager approves last week.
    page.set_viewport_size({"width": 1366, "height": 768})
    page.get_by_role("button", name="Log out").click()
    log_in(page, "boss")
    page.goto("/roster/timesheets/")
    row = page.get_by_role("row", name="Nia Nolan")
    expect(row).to_contain_text("45.00")
    expect(row).to_contain_text("5.00")
    assert axe_violations(page) == []
    snap(screenshot, page, "timeclock-timesheets")
    page.get_by_role("button", name="Approve Nia Nolan's week").click()
    expect(page.get_by_text("Approved and locked Nia Nolan's week")).to_be_visible()
    expect(page.get_by_text("45.00 h worked, 5.00 h overtime")).to_be_visible()
    htmx_settled(page)
    page.get_by_role("link", name="Nia Nolan").click()
    expect(page.get_by_role("heading", name="Add a correction")).to_have_count(0)
    assert axe_violations(page) == []
    snap(screenshot, page, "timeclock-timesheet")
    assert TimesheetWeek.objects.get(staff=nurse).status == "approved"
    assert console.csp_violations == []
    # The one wrong PIN is answered 400 on purpose; the browser logs that, nothing else.
    assert [e for e in console.errors if "400 (Bad Request)" not in e] == []
    assert len(console.errors) <= 1
