"""A manager fills and publishes next week's roster in a real browser; the heat map, the
auto-fill proposal, my shifts and time off render. Screenshots: artifacts/screenshots/roster-*."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from clinicops.celery import app as celery_app
from clinicops.core import roles
from clinicops.core.models import Clinic
from clinicops.core.tests.factories import DEMO_PASSWORD, ClinicFactory, StaffFactory
from workforce.models import (
    Assignment,
    CoverageRule,
    RosterRole,
    RosterWeek,
    ShiftTemplate,
    StaffContract,
)

from .conftest import ConsoleLog

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser
Screenshot = Callable[["Page", str], list[Path]]


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def snap(screenshot: Screenshot, page: Page, name: str) -> None:
    screenshot(page, name)
    page.evaluate(
        "() => document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))"
    )


@pytest.fixture
def clinic_setup(transactional_db: None) -> tuple[Clinic, dt.date]:
    clinic = ClinicFactory(name="Riverside Family Clinic", short_name="Riverside")
    StaffFactory(
        roles=[roles.MANAGER],
        clinics=[clinic],
        user__username="boss",
        user__first_name="Dana",
        user__last_name="Whitfield",
    )
    names = [
        ("Ana", "Lee", RosterRole.FRONT_DESK),
        ("Bo", "Chen", RosterRole.FRONT_DESK),
        ("Cy", "Diaz", RosterRole.FRONT_DESK),
        ("Di", "Egan", RosterRole.MEDICAL_ASSISTANT),
        ("Ed", "Ford", RosterRole.MEDICAL_ASSISTANT),
    ]
    for first, last, role in names:
        staff = StaffFactory(
            roles=[roles.FRONT_DESK if role == RosterRole.FRONT_DESK else roles.NURSE],
            clinics=[clinic],
            user__username=first.lower(),
            user__first_name=first,
            user__last_name=last,
        )
        StaffContract.objects.create(staff=staff, role=role, contract_minutes_week=32 * 60)
    for name, role, start, end in (
        ("Desk early", RosterRole.FRONT_DESK, 7, 15),
        ("Desk late", RosterRole.FRONT_DESK, 12, 20),
        ("MA day", RosterRole.MEDICAL_ASSISTANT, 8, 16),
    ):
        ShiftTemplate.objects.create(
            clinic=clinic,
            name=name,
            role=role,
            start_time=dt.time(start),
            end_time=dt.time(end),
            break_minutes=30,
            weekdays=[0, 1, 2, 3, 4],
        )
    CoverageRule.objects.create(
        clinic=clinic,
        role=RosterRole.FRONT_DESK,
        kind="fixed",
        weekdays=[0, 1, 2, 3, 4],
        start_time=dt.time(8),
        end_time=dt.time(19),
        count=1,
    )
    CoverageRule.objects.create(
        clinic=clinic,
        role=RosterRole.MEDICAL_ASSISTANT,
        kind="fixed",
        weekdays=[0, 1, 2, 3, 4],
        start_time=dt.time(9),
        end_time=dt.time(15),
        count=1,
    )
    today = clinic.today()
    return clinic, today + dt.timedelta(days=7 - today.weekday())


def test_manager_fills_and_publishes_a_week(
    page: Page, console: ConsoleLog, screenshot: Screenshot, clinic_setup: tuple[Clinic, dt.date]
) -> None:
    clinic, monday = clinic_setup
    celery_app.conf.task_always_eager = True
    try:
        log_in(page, "boss")
        page.get_by_role("link", name="Roster", exact=True).first.click()
        expect(
            page.get_by_role(
                "heading", name=f"Roster: week of {monday:%a} {monday.day} {monday:%b %Y}"
            )
        ).to_be_visible()

        # Keyboard only: choose a shift in Ana's Monday cell and press Add.
        select = page.get_by_label(f"Shift for Ana Lee on {monday:%a} {monday.day} {monday:%b}")
        select.focus()
        select.select_option(label="Desk early 07:00\u201315:00")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.get_by_text(f"Added Ana Lee on Desk early, {monday:%a %d %b}.")).to_be_visible()
        snap(screenshot, page, "roster-week-grid")

        page.get_by_role("link", name="Coverage heat map").click()
        expect(page.get_by_text("Computed at")).to_be_visible()
        page.get_by_role(
            "button", name=f"Front desk {monday:%a} {monday.day} {monday:%b} 8:00"
        ).click()
        expect(page.get_by_role("heading", name="On (1)")).to_be_visible()
        snap(screenshot, page, "roster-heatmap")

        page.get_by_role("link", name="Week grid").click()
        page.get_by_role("button", name="Fill the gaps").click()
        expect(page.get_by_role("heading", name="Result: optimal")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("proven optimal")).to_be_visible()
        snap(screenshot, page, "roster-autofill")
        page.get_by_role("button", name="Accept all").click()
        expect(page.get_by_text("Applied the proposal:")).to_be_visible()
        assert Assignment.objects.filter(source="autofill").exists()
        assert Assignment.objects.filter(source="manager").count() == 1

        expect(page.get_by_role("heading", name="Rule check: no violations")).to_be_visible()
        page.get_by_role("button", name="Publish the week").click()
        expect(page.get_by_text("as version 1")).to_be_visible()
        week = RosterWeek.objects.get(clinic=clinic, week_start=monday)
        assert week.status == "published"
        assert week.versions.count() == 1

        page.get_by_role("link", name="Print view").click()  # opens in a new tab; stay here
        page.goto("/roster/mine/")
        expect(page.get_by_role("heading", name="My shifts", exact=True)).to_be_visible()

        # Ana sees her shift, and asks for time off.
        page.get_by_role("button", name="Log out").click()
        log_in(page, "ana")
        page.goto("/roster/mine/")
        expect(page.get_by_role("cell", name="Desk early (Front desk)").first).to_be_visible()
        snap(screenshot, page, "roster-my-shifts")
        page.get_by_role("link", name="Time off").click()
        page.get_by_label("First day off").fill((monday + dt.timedelta(days=14)).isoformat())
        page.get_by_label("Last day off").fill((monday + dt.timedelta(days=15)).isoformat())
        page.get_by_role("button", name="Ask").click()
        expect(page.get_by_text("a manager will decide")).to_be_visible()
        snap(screenshot, page, "roster-time-off")
    finally:
        celery_app.conf.task_always_eager = False
    assert console.csp_violations == []
    assert console.errors == []
