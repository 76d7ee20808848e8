"""Issue 18 in a real browser: the main pages pass axe at 1366x768 and 768x1024, the main
action is visible without scrolling, the wall screen hides names, the check-in shows the
expected copay and self-pay, the tablet's Log answers with a fragment and counts down undo
from the server's time, a multi-clinic user lands on the clinic used last."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import User
from clinicops.core.tests.factories import (
    DEMO_PASSWORD,
    ClinicFactory,
    CoverageFactory,
    PatientFactory,
    RoomFactory,
)
from patientflow.services import checkin
from patientflow.tests.clock import midday_zone
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory
from supplies.services import orders
from supplies.tests.factories import LocationItemFactory, StockLocationFactory

from .conftest import LAPTOP, TABLET, axe_violations

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .conftest import ConsoleLog

    Screenshot = Callable[[Page, str], list[Path]]

pytestmark = pytest.mark.browser


@pytest.fixture
def place(make_user: Callable[..., User]) -> dict[str, Any]:
    clinic = ClinicFactory(name="Lakeside Clinic", time_zone=midday_zone())
    other = ClinicFactory(name="Northside Clinic", time_zone=midday_zone())
    desk = make_user(
        roles.FRONT_DESK,
        clinics=[clinic, other],
        username="frontdesk",
        first_name="Maria",
        last_name="Lopez",
    )
    make_user(roles.NURSE, clinics=[clinic], username="nurse", first_name="Grace")
    manager = make_user(roles.MANAGER, clinics=[clinic], username="manager")
    provider = make_user(
        roles.PROVIDER, clinics=[clinic], username="drosler", first_name="Ada", last_name="Osler"
    ).staff
    kind = AppointmentTypeFactory(clinic=clinic, name="Follow-up", duration_minutes=20)
    RoomFactory(clinic=clinic, name="Exam 1")
    now = timezone.now().astimezone(clinic.tz)
    insured = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    CoverageFactory(patient=insured, copay_amount=Decimal("25.00"))
    uninsured = PatientFactory(clinic=clinic, first_name="Bessie", last_name="Coleman")
    start = now.replace(minute=0, second=0, microsecond=0)
    appointments = [
        AppointmentFactory(
            clinic=clinic,
            patient=patient,
            provider=provider,
            appointment_type=kind,
            start=start + dt.timedelta(minutes=20 * n),
            is_overbook=True,
            overbook_reason="test",
        )
        for n, patient in enumerate((insured, uninsured, PatientFactory(clinic=clinic)))
    ]
    checkin.check_in(actor=desk, appointment=appointments[2])
    cart = StockLocationFactory(clinic=clinic, name="Exam 2")
    gauze = LocationItemFactory(location=cart, item__name="Gauze 4x4")
    orders.receive_stock(actor=manager, location_item=gauze, quantity=30, reason="opening")
    return {
        "clinic": clinic,
        "other": other,
        "appointments": appointments,
        "insured": insured,
        "cart": cart,
        "gauze": gauze,
    }


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def in_first_screen(page: Page, name: str, role: str = "button") -> None:
    """The element is inside the 1366x768 viewport as the page opens, without scrolling."""
    page.set_viewport_size(LAPTOP)
    page.evaluate("() => window.scrollTo(0, 0)")
    box = page.get_by_role(role, name=name).first.bounding_box()  # type: ignore[arg-type]
    assert box is not None, name
    assert box["y"] + box["height"] <= LAPTOP["height"], f"{name} is below the fold: {box}"


def test_front_desk_pages_pass_axe_and_show_their_main_action(
    page: Page, console: ConsoleLog, screenshot: Screenshot, place: dict[str, Any]
) -> None:
    log_in(page, "frontdesk")
    insured = place["appointments"][0]
    problems: dict[str, list[str]] = {}
    for url, name in (
        ("/scheduling/day/", "day"),
        ("/scheduling/find/", "find"),
        ("/patients/?q=quim", "search"),
        (f"/patients/{place['insured'].pk}/", "patient"),
        (f"/flow/check-in/{insured.pk}/", "check-in"),
        ("/flow/", "flow"),
        ("/flow/?wall=1", "wall"),
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        problems[name] = axe_violations(page)
        screenshot(page, f"18-{name}")
    assert {k: v for k, v in problems.items() if v} == {}

    page.goto("/scheduling/find/")
    in_first_screen(page, "Find slots")
    page.goto(f"/flow/check-in/{insured.pk}/")
    in_first_screen(page, "Check in now")
    page.goto("/flow/")
    in_first_screen(page, "Expected today", role="heading")
    assert console.errors == [], "\n".join(console.messages)


def test_check_in_prefills_the_copay_and_says_self_pay_without_insurance(
    page: Page, place: dict[str, Any]
) -> None:
    log_in(page, "frontdesk")
    insured, uninsured, _ = place["appointments"]
    page.goto(f"/flow/check-in/{insured.pk}/")
    expect(page.get_by_label("Copay collected")).to_have_value("25.00")
    expect(page.locator("[data-expected-copay]")).to_contain_text("$25.00")
    expect(
        page.get_by_label("Insurance card seen and coverage confirmed with the patient")
    ).to_be_visible()
    page.goto(f"/flow/check-in/{uninsured.pk}/")
    expect(page.get_by_text("No insurance: self-pay.")).to_be_visible()
    expect(
        page.get_by_label("Insurance card seen and coverage confirmed with the patient")
    ).to_have_count(0)
    page.get_by_label("Demographics confirmed with the patient").check()
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Demographics confirmed.")


def test_the_wall_screen_never_shows_a_full_name(page: Page, place: dict[str, Any]) -> None:
    checked_in = place["appointments"][2].patient
    log_in(page, "frontdesk")
    page.goto("/flow/?wall=1")
    board = page.locator("#flow-board")
    expect(board).to_contain_text(f"{checked_in.first_name} {checked_in.last_name[0]}.")
    expect(board).not_to_contain_text(checked_in.last_name)


def test_the_flow_board_is_one_column_on_a_tablet(page: Page, place: dict[str, Any]) -> None:
    log_in(page, "frontdesk")
    page.set_viewport_size(TABLET)
    page.goto("/flow/")
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 768 wide"


def test_a_multi_clinic_user_lands_on_the_clinic_used_last(
    page: Page, place: dict[str, Any]
) -> None:
    log_in(page, "frontdesk")
    page.get_by_label("Clinic").select_option(label="Northside Clinic")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_label("Clinic")).to_have_value(str(place["other"].pk))
    page.get_by_role("button", name="Log out").click()
    log_in(page, "frontdesk")
    expect(page.get_by_label("Clinic")).to_have_value(str(place["other"].pk))


def test_the_tablet_logs_with_a_small_answer_and_counts_undo_from_the_server(
    page: Page, console: ConsoleLog, place: dict[str, Any]
) -> None:
    log_in(page, "nurse")
    page.set_viewport_size(TABLET)
    # the tablet's own clock is an hour fast: the countdown must not care
    page.add_init_script("Date.now = (n => () => n() + 3600 * 1000)(Date.now)")
    page.goto(f"/supplies/use/{place['cart'].pk}/")
    assert axe_violations(page) == []
    answers: list[int] = []
    page.on(
        "response",
        lambda r: answers.append(len(r.body())) if r.request.method == "POST" else None,
    )
    page.get_by_role("button", name="One more Gauze 4x4").click()
    page.get_by_role("button", name="Log", exact=True).click()
    expect(page.locator("#log-feedback")).to_contain_text("Logged at Exam 2")
    expect(page.locator(f"#tile-meta-{place['gauze'].pk}")).to_contain_text("29 left")
    expect(page.locator(f"#id_qty_{place['gauze'].pk}")).to_have_value("")
    left = page.locator("[data-undo-left]")
    expect(left).to_contain_text("Possible for")
    assert "no longer" not in page.locator(".btn--undo").inner_text()
    assert answers, "no POST answered"
    assert max(answers) < 8000, answers
    assert console.errors == [], "\n".join(console.messages)


def test_header_targets_are_44px_and_empty_states_are_calm(
    page: Page, place: dict[str, Any]
) -> None:
    log_in(page, "frontdesk")
    page.goto("/scheduling/waitlist/")
    for locator in (
        page.get_by_role("button", name="Log out"),
        page.locator("a.brand"),
    ):
        box = locator.bounding_box()
        assert box is not None
        assert box["height"] >= 44, box
    html = page.content()
    assert 'd="M12 7.5v6M12 16.5v.5"' not in html  # the alarm "!" icon
