"""The nurse's tablet in a real browser: touch taps, a wedge scan, log, undo, below par.

Chromium at 768x1024 with touch emulation (a 10-inch tablet held upright). Screenshots go to
artifacts/screenshots/supplies-*.png, portrait, plus the tablet turned to landscape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import DEMO_PASSWORD, PatientFactory, RoomFactory, StaffFactory
from supplies.models import LocationItem, StockLocation, StockMovement, UsageSubmission
from supplies.services import orders, usage
from supplies.tests.factories import (
    ItemBarcodeFactory,
    LocationItemFactory,
    StockLocationFactory,
    SupplyItemFactory,
    SupplyRoomFactory,
)

from .conftest import SCREENSHOTS, TABLET, TIMEOUT_MS, ConsoleLog

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request, Route
    from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.browser

LANDSCAPE = {"width": 1024, "height": 768}
SCAN_CODE = "00812345000009"
PENDING_LOG = "clinicops.supplies.pending-log"  # supplies.js keeps an unanswered log here


@pytest.fixture
def tablet_page(browser: Browser, live_server: LiveServer, console: ConsoleLog) -> Iterator[Page]:
    """A touch tablet held upright: 768x1024, touch events, not a phone."""
    context = browser.new_context(
        viewport=TABLET, has_touch=True, is_mobile=False, base_url=live_server.url
    )
    context.set_default_timeout(TIMEOUT_MS)
    new_page = context.new_page()
    new_page.on("console", console.record)
    new_page.on("pageerror", lambda error: console.page_errors.append(str(error)))
    yield new_page
    context.close()


def shot(page: Page, name: str, *, landscape: bool = False, full: bool = False) -> Path:
    """What the nurse sees (the viewport, the log bar at its foot), or the whole page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"supplies-{name}-{'landscape' if landscape else 'tablet'}.png"
    if landscape:
        page.set_viewport_size(LANDSCAPE)
    # caret="initial": hiding the caret would leave style="" on every input, which htmx then
    # copies while settling a swap, and the CSP refuses.
    page.screenshot(path=str(path), full_page=full, caret="initial")
    if landscape:
        page.set_viewport_size(TABLET)
    return path


@pytest.fixture
def ward(clinic: Clinic, make_user: Callable[..., User]) -> dict[str, object]:
    """A clinic with a supply room, the Exam 2 cart stocked, and a patient roomed in Exam 2."""
    nurse = make_user(roles.NURSE, username="nurse", first_name="Grace", last_name="Kim")
    manager = make_user(roles.MANAGER, username="manager")
    exam2 = RoomFactory(clinic=clinic, name="Exam 2")
    room = SupplyRoomFactory(clinic=clinic)
    cart = StockLocationFactory(clinic=clinic, name="Exam 2 cart", room=exam2)
    StockLocationFactory(clinic=clinic, name="Procedure cart")
    # name, sku, on hand at the cart, par, reorder point
    catalogue = [
        ("Gauze sponge 4x4 in", "G44", 7, 20, 5),
        ("Exam gloves nitrile M", "GLV-M", 6, 10, 4),
        ("Alcohol prep pad", "ALC", 15, 40, 10),
        ("Saline flush 10 mL", "SF10", 4, 10, 3),
        ("Adhesive bandage", "BND", 12, 20, 5),
        ("Tongue depressor", "TONG", 25, 30, 10),
        ("Syringe 3 mL", "SYR3", 9, 15, 5),
        ("Paper tape 1 in", "TAPE", 3, 4, 1),
    ]
    items: dict[str, LocationItem] = {}
    for name, sku, on_hand, par, reorder in catalogue:
        item = SupplyItemFactory(name=name, sku=sku)
        stocked = LocationItemFactory(
            location=room, item=item, par=par * 10, reorder_point=par * 2, max_quantity=par * 15
        )
        orders.receive_stock(
            actor=manager, location_item=stocked, quantity=par * 5, reason="opening"
        )
        li = LocationItemFactory(
            location=cart, item=item, par=par, reorder_point=reorder, max_quantity=par * 2
        )
        orders.receive_stock(actor=manager, location_item=li, quantity=on_hand, reason="opening")
        items[sku] = li
    ItemBarcodeFactory(item=items["SF10"].item, code=SCAN_CODE)
    # a few earlier logs, so the most used tiles come first
    usage.log_usage(
        actor=manager,
        location=cart,
        lines=[usage.UsageLine(items["G44"].item_id, 1)],
        idempotency_key="history-1",
    )
    orders.receive_stock(actor=manager, location_item=items["G44"], quantity=1, reason="found")
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    _room_patient(clinic, exam2, patient)
    return {"nurse": nurse, "cart": cart, "items": items, "patient": patient}


def _room_patient(clinic: Clinic, room, patient) -> None:
    from patientflow.models import Visit
    from scheduling.tests.factories import AppointmentFactory

    now = timezone.now()
    appointment = AppointmentFactory(
        clinic=clinic,
        patient=patient,
        provider=StaffFactory(roles=[roles.PROVIDER], clinics=[clinic]),
        start=now,
    )
    Visit.objects.create(
        clinic=clinic,
        appointment=appointment,
        patient=patient,
        step="roomed",
        step_since=now,
        room=room,
        checked_in_at=now,
    )


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").tap()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def tile(page: Page, name: str):
    return page.locator("[data-tile]").filter(has_text=name)


def quantity(page: Page, name: str):
    return page.get_by_label(re.compile(f"^Quantity of {re.escape(name)}"))


def small_touch_targets(page: Page) -> list[str]:
    """Visible controls on the tablet screen smaller than 44x44 CSS pixels."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll(
            '.tablet button, .tablet a, .tablet input:not([type=hidden]), .tablet .chip__label'
          ))
          .filter((el) => {
            if (el.classList.contains('chip__input')) return false;
            const r = el.getBoundingClientRect();
            return r.width > 0 && r.height > 0 && (r.width < 44 || r.height < 44);
          })
          .map((el) => (el.textContent || el.name || el.id).trim() + ' '
            + Math.round(el.getBoundingClientRect().width) + 'x'
            + Math.round(el.getBoundingClientRect().height))"""
    )


def test_a_nurse_logs_by_tap_and_scan_undoes_and_sees_below_par(
    tablet_page: Page, console: ConsoleLog, ward: dict[str, object]
) -> None:
    page = tablet_page
    items: dict[str, LocationItem] = ward["items"]  # type: ignore[assignment]
    cart: StockLocation = ward["cart"]  # type: ignore[assignment]

    # given the nurse on the tablet, who picks the Exam 2 cart
    log_in(page, "nurse")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Supplies").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Where are you logging?")
    shot(page, "01-pick-location", full=True)
    page.get_by_role("link", name=re.compile("^Exam 2 cart")).tap()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Exam 2 cart")
    expect(tile(page, "Gauze sponge")).to_be_visible()
    # the most used item comes first, and the roomed patient is offered
    expect(page.locator("[data-tile]").first).to_contain_text("Gauze sponge")
    expect(page.get_by_text("Quimby, Harriet")).to_be_visible()
    assert small_touch_targets(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    shot(page, "02-tablet")
    shot(page, "02-tablet", landscape=True)

    # when she taps three items (gauze twice) for the roomed patient, and logs them
    page.get_by_text("Quimby, Harriet").tap()
    tile(page, "Gauze sponge").locator(".tile__add").tap()
    tile(page, "Gauze sponge").locator(".tile__add").tap()
    tile(page, "Exam gloves").locator(".tile__add").tap()
    tile(page, "Alcohol prep pad").locator(".tile__add").tap()
    expect(quantity(page, "Gauze sponge")).to_have_value("2")
    expect(quantity(page, "Exam gloves")).to_have_value("1")
    expect(page.locator("[data-summary]")).to_contain_text("Gauze sponge 4x4 in \u00d7 2")
    shot(page, "03-tapped")
    page.get_by_role("button", name="Log", exact=True).tap()

    # then the log is confirmed in large type, with the low-stock warning for gauze
    feedback = page.locator("#log-feedback")
    expect(feedback).to_contain_text("Logged at Exam 2 cart for Harriet Quimby")
    expect(feedback).to_contain_text("Gauze sponge 4x4 in is low")
    expect(quantity(page, "Gauze sponge")).to_have_value("")
    shot(page, "04-logged")

    # when she scans a saline flush: the wedge types the code and Enter, no extra tap
    scan = page.get_by_label("Scan or type a barcode")
    scan.tap()
    page.keyboard.type(SCAN_CODE, delay=5)
    page.keyboard.press("Enter")
    expect(quantity(page, "Saline flush")).to_have_value("1")
    expect(scan).to_have_value("")
    expect(scan).to_be_focused()
    shot(page, "05-scanned")
    page.get_by_role("button", name="Log", exact=True).tap()
    expect(feedback).to_contain_text("Saline flush 10 mL is low")

    # and undoes that entry
    page.get_by_role("button", name="Undo this entry").tap()
    expect(feedback).to_contain_text("Undone: put back")
    shot(page, "06-undone")

    # then on hand shows the taps and not the undone scan
    for sku, expected in (("G44", 5), ("GLV-M", 5), ("ALC", 14), ("SF10", 4)):
        items[sku].refresh_from_db()
        assert items[sku].on_hand == expected, sku
    assert UsageSubmission.objects.filter(location=cart, undone_at__isnull=False).count() == 1
    assert StockMovement.objects.filter(kind=StockMovement.Kind.RETURN).count() == 1

    # and the below-par board lists the gauze (at its reorder point) and not the saline
    page.get_by_role("navigation", name="Supplies").get_by_role("link", name="Below par").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Below par")
    cart_section = page.locator("section").filter(
        has=page.get_by_role("heading", name="Exam 2 cart")
    )
    gauze_row = cart_section.get_by_role("row").filter(has_text="Gauze sponge")
    expect(gauze_row).to_contain_text("15")  # refill to par 20 from 5
    expect(cart_section.get_by_role("row").filter(has_text="Saline flush")).to_have_count(0)
    shot(page, "07-below-par", full=True)

    # when she refills the gauze with one tap
    gauze_row.get_by_role("button", name=re.compile("^Refill 15")).tap()
    expect(page.locator("#below-par")).to_contain_text("Moved 15 each of Gauze sponge")
    expect(cart_section.get_by_role("row").filter(has_text="Gauze sponge")).to_have_count(0)
    items["G44"].refresh_from_db()
    assert items["G44"].on_hand == 20
    shot(page, "08-refilled", full=True)

    assert console.csp_violations == []
    assert console.errors == [], "\n".join(console.messages)


def test_use_beyond_the_books_is_logged_flagged_and_a_count_fixes_the_books(
    tablet_page: Page, console: ConsoleLog, ward: dict[str, object]
) -> None:
    page = tablet_page
    items: dict[str, LocationItem] = ward["items"]  # type: ignore[assignment]
    cart: StockLocation = ward["cart"]  # type: ignore[assignment]
    log_in(page, "nurse")
    page.goto(f"/supplies/use/{cart.pk}/")

    # when she logs more tape than the cart's books hold (3)
    quantity(page, "Paper tape").fill("5")
    page.get_by_role("button", name="Log", exact=True).tap()

    # then the use is logged, the 2 beyond the books are posted as found and flagged
    feedback = page.locator("#log-feedback")
    expect(feedback).to_contain_text(
        "Logged 5 Paper tape 1 in; 2 were not on the books and are flagged for review."
    )
    shot(page, "09-found")
    items["TAPE"].refresh_from_db()
    assert items["TAPE"].on_hand == 0
    assert StockMovement.objects.get(kind=StockMovement.Kind.FOUND).quantity == 2

    # when she counts what is really there (6, a box was in the drawer)
    page.get_by_label("Counted now").fill("6")
    page.get_by_label("Reason for the difference").select_option("found")
    page.get_by_role("button", name="Save count").tap()
    expect(feedback).to_contain_text("Counted Paper tape 1 in at Exam 2 cart: 6")
    expect(feedback).to_contain_text("On hand was 0; it is now 6.")

    # then the next log takes from the counted stock
    quantity(page, "Paper tape").fill("5")
    page.get_by_role("button", name="Log", exact=True).tap()
    expect(feedback).to_contain_text("Logged at Exam 2 cart")
    items["TAPE"].refresh_from_db()
    assert items["TAPE"].on_hand == 1

    assert console.csp_violations == []
    assert console.errors == [], "\n".join(console.messages)


def test_a_log_whose_answer_was_lost_is_resent_after_a_reload_and_logged_once(
    tablet_page: Page, console: ConsoleLog, ward: dict[str, object]
) -> None:
    page = tablet_page
    items: dict[str, LocationItem] = ward["items"]  # type: ignore[assignment]
    cart: StockLocation = ward["cart"]  # type: ignore[assignment]
    nurse: User = ward["nurse"]  # type: ignore[assignment]
    log_in(page, "nurse")
    page.goto(f"/supplies/use/{cart.pk}/")
    sent: list[dict[str, list[str]]] = []

    def lose_the_first_answer(route: Route, request: Request) -> None:
        if request.method != "POST":
            route.continue_()
            return
        sent.append(parse_qs(request.post_data or ""))
        if len(sent) == 1:
            route.fetch()  # the server stores the log (a blip after the commit) ...
            route.abort("connectionreset")  # ... and its answer never reaches the tablet
        else:
            route.continue_()

    page.route(re.compile(rf"/supplies/use/{cart.pk}/$"), lose_the_first_answer)

    # when she taps gauze twice and logs, and the answer is lost
    tile(page, "Gauze sponge").locator(".tile__add").tap()
    tile(page, "Gauze sponge").locator(".tile__add").tap()
    page.get_by_role("button", name="Log", exact=True).tap()

    # then the tablet says so and keeps the log, under the key the server stored it with
    feedback = page.locator("#log-feedback")
    expect(feedback).to_contain_text("Not confirmed yet")
    shot(page, "10-not-confirmed")
    key = sent[0]["idempotency_key"][0]
    assert UsageSubmission.objects.filter(user=nurse, idempotency_key=key).count() == 1
    kept = json.loads(page.evaluate(f"localStorage.getItem({PENDING_LOG!r})"))
    assert (kept["key"], kept["fields"]) == (key, {f"qty_{items['G44'].pk}": "2", "visit": ""})

    # when she reloads the page (which renders a new key)
    page.reload()

    # then the kept log is sent again with its own key, and the server logs it once
    expect(feedback).to_contain_text("This tap had already been logged; nothing was logged twice.")
    assert len(sent) == 2
    assert sent[1]["idempotency_key"] == [key]
    assert sent[1][f"qty_{items['G44'].pk}"] == ["2"]
    assert page.evaluate(f"localStorage.getItem({PENDING_LOG!r})") is None
    assert UsageSubmission.objects.filter(user=nurse).count() == 1
    items["G44"].refresh_from_db()
    assert items["G44"].on_hand == 5
    # and the last logs, read from the ledger, show it once
    mine = page.locator("[data-last-logs] li").filter(has_text="by you")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("2 \u00d7 Gauze sponge 4x4 in")
    shot(page, "11-resent-after-reload")

    # a reload with nothing kept sends nothing
    page.reload()
    expect(page.locator("[data-last-logs]")).to_be_visible()
    page.wait_for_load_state("load")
    assert len(sent) == 2

    assert console.csp_violations == []
    lost = ("ERR_CONNECTION_RESET", "htmx:sendError", "htmx:afterRequest")
    assert [m for m in console.errors if not any(t in m for t in lost)] == []
