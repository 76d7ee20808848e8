"""A clinic day in real browsers: the desk checks a patient in with a copay, a nurse on a
tablet rooms her, the provider sees her, the desk checks her out and books the follow-up;
the desk's flow board follows every move on its own, without a reload."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Patient
from clinicops.core.tests.factories import (
    DEMO_PASSWORD,
    ClinicFactory,
    CoverageFactory,
    PatientFactory,
    PayerFactory,
    RoomFactory,
    StaffFactory,
)
from patientflow.models import Step, Visit, VisitPayment
from patientflow.services import checkin
from patientflow.tests.clock import midday_zone
from scheduling import availability
from scheduling.services import booking as scheduling_booking
from scheduling.tests.factories import (
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

from .conftest import TABLET, TIMEOUT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Request
    from pytest_django.live_server_helper import LiveServer

    from .conftest import ConsoleLog

    Screenshot = Callable[[Page, str], list[Path]]

pytestmark = pytest.mark.browser

# The board polls every 10 seconds; give it one full period and some.
POLL_WAIT_MS = 15_000


@pytest.fixture(autouse=True)
def _local_cache(settings) -> None:
    """The boards remember what they last audited in the cache; keep it to this test."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "b"}
    }


@pytest.fixture
def day(transactional_db: None) -> dict[str, object]:
    """A clinic where it is midday, its staff, three exam rooms, and a booked appointment."""
    clinic: Clinic = ClinicFactory(name="Riverside Family Clinic", time_zone=midday_zone())
    desk = StaffFactory(
        roles=[roles.FRONT_DESK],
        clinics=[clinic],
        user__username="frontdesk",
        user__first_name="Maria",
        user__last_name="Lopez",
    ).user
    StaffFactory(
        roles=[roles.NURSE],
        clinics=[clinic],
        user__username="nurse",
        user__first_name="Nia",
        user__last_name="Brooks",
    )
    provider = StaffFactory(
        roles=[roles.PROVIDER],
        clinics=[clinic],
        user__username="drosler",
        user__first_name="Ada",
        user__last_name="Osler",
    )
    for n in (1, 2, 3):
        RoomFactory(clinic=clinic, name=f"Exam {n}")
    follow_up = AppointmentTypeFactory(clinic=clinic, name="Follow-up", duration_minutes=20)
    template = ScheduleTemplateFactory(
        clinic=clinic, provider=provider, effective_from=clinic.today() - dt.timedelta(days=7)
    )
    for weekday in range(7):
        TemplateBlockFactory(
            template=template,
            weekday=weekday,
            start_time=dt.time(8),
            end_time=dt.time(18),
            slot_minutes=20,
        )
    patient: Patient = PatientFactory(
        clinic=clinic, first_name="Harriet", last_name="Quimby", phone="(555) 010-2000"
    )
    CoverageFactory(
        patient=patient, payer=PayerFactory(name="Aetna"), effective_from=dt.date(2020, 1, 1)
    )
    # Two patients already in the clinic, so the board is not a single row; Harriet is booked
    # in the test itself, through scheduling's find-a-slot screen.
    slot = availability.find_slots(
        clinic=clinic, appointment_type=follow_up, provider=provider, count=1
    )[0]
    for first, last in (("Omar", "Haddad"), ("Lena", "Fischer")):
        other = PatientFactory(clinic=clinic, first_name=first, last_name=last)
        start = slot.start + dt.timedelta(minutes=20 if first == "Omar" else 40)
        booking = scheduling_booking.book_appointment(
            actor=desk,
            clinic=clinic,
            patient=other,
            provider=provider,
            appointment_type=follow_up,
            start=start,
        )
        checkin.check_in(
            actor=desk,
            appointment=booking.appointment,
            now=timezone.now() - dt.timedelta(minutes=35 if first == "Omar" else 5),
        )
    return {"clinic": clinic, "patient": patient, "provider": provider}


@pytest.fixture
def open_context(
    browser: Browser, live_server: LiveServer, console: ConsoleLog
) -> Iterator[Callable[..., Page]]:
    """open_context(viewport) -> a page in a new browser (its own cookies), console watched."""
    contexts: list[BrowserContext] = []

    def make(viewport: dict[str, int], **options: object) -> Page:
        context = browser.new_context(viewport=viewport, base_url=live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", console.record)
        page.on("pageerror", lambda error: console.page_errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def board_row(page: Page, name: str):
    return page.locator("tr.flow-row").filter(has_text=name)


def step_cell(page: Page, name: str):
    return board_row(page, name).locator("td.flow-step")


def room_cell(page: Page, name: str):
    return board_row(page, name).locator("td").nth(4)


def test_check_in_to_checkout_with_the_board_following_along(
    page: Page,
    open_context: Callable[..., Page],
    console: ConsoleLog,
    screenshot: Screenshot,
    day: dict[str, object],
) -> None:
    patient: Patient = day["patient"]  # type: ignore[assignment]
    board_polls: list[Request] = []

    def watch(request: Request) -> None:
        is_board = request.method == "GET" and urlsplit(request.url).path == "/flow/"
        if is_board and request.headers.get("hx-request"):
            board_polls.append(request)

    page.on("request", watch)

    # given the front desk books Harriet for today through scheduling's find-a-slot screen
    log_in(page, "frontdesk")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Find a slot").click()
    page.get_by_label("Find a patient").press_sequentially("quim", delay=40)
    page.get_by_label(re.compile("Quimby, Harriet")).check()
    page.get_by_label("Appointment type").select_option(label="Follow-up (20 min)")
    page.get_by_label("Provider").select_option(label="Ada Osler")
    page.get_by_label("From").fill(timezone.now().astimezone(day["clinic"].tz).date().isoformat())
    page.get_by_role("button", name="Find slots").click()
    results = page.locator("#slot-results")
    results.get_by_role("button", name=re.compile(r"^Book ")).first.click()
    expect(results.get_by_text("Booked.")).to_be_visible()

    # and opens the flow board, where Harriet is expected
    nav.get_by_role("link", name="Flow board").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Flow board")
    expect(page.get_by_role("heading", name=re.compile("Expected today"))).to_be_visible()

    # when she checks Harriet in: demographics fixed in place, eligibility, copay, forms
    page.get_by_role("link", name="Check in Harriet Quimby").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Harriet Quimby")
    page.get_by_role("link", name="Edit demographics").click()
    phone = page.get_by_label("Phone", exact=True)
    expect(phone).to_be_visible()
    phone.fill("717 555 0142")
    page.get_by_role("button", name="Save demographics").click()
    expect(page.get_by_text("Changes saved.")).to_be_visible()
    expect(page.locator("#demographics")).to_contain_text("(717) 555-0142")
    page.get_by_role("button", name=re.compile("Mark eligibility verified today")).click()
    expect(page.get_by_text("marked verified today")).to_be_visible()
    page.get_by_label("Copay collected").fill("-25")
    page.get_by_label("Payment method").select_option(label="Card")
    page.get_by_label("Receipt number").fill("R-100")
    page.get_by_role("button", name="Check in", exact=True).click()
    # a negative copay is refused, naming the field, and nothing is checked in
    expect(
        page.get_by_role("link", name=re.compile("Copay collected: The amount cannot be negative"))
    ).to_be_visible()
    assert not Visit.objects.filter(patient=patient).exists()
    page.get_by_label("Copay collected").fill("25.00")
    page.get_by_label("Receipt number").fill("R-100")
    page.get_by_label("Consent to treat").check()
    page.get_by_label("Notice of privacy practices").check()
    page.get_by_label(re.compile("Insurance card seen")).check()
    screenshot(page, "10-check-in")
    page.get_by_role("button", name="Check in", exact=True).click()

    # then she is back on the board, Harriet checked in
    expect(
        page.get_by_text(re.compile("Quimby, Harriet is checked in|Harriet.*is checked in"))
    ).to_be_visible()
    expect(step_cell(page, "Quimby, Harriet")).to_have_text("Checked in")
    visit = Visit.objects.get(patient=patient)
    assert VisitPayment.objects.get(visit=visit).amount == 25
    assert visit.forms_signed == ["consent", "privacy"]
    page.evaluate("() => { window.__sameDocument = true; }")
    screenshot(page, "11-flow-board")

    # when a nurse on a tablet rooms Harriet from her own board, with one tap
    nurse = open_context(TABLET, has_touch=True)
    log_in(nurse, "nurse")
    nurse.goto("/flow/")
    nurse.get_by_label("Room for Harriet Quimby").select_option(label="Exam 2")
    nurse.get_by_role("button", name="Room Harriet Quimby").tap()
    expect(nurse.get_by_text("Quimby, Harriet: roomed in Exam 2.")).to_be_visible()
    expect(room_cell(nurse, "Quimby, Harriet")).to_have_text("Exam 2")
    screenshot(nurse, "12-flow-board-nurse")

    # then the desk's board shows it on its own, without a reload
    expect(step_cell(page, "Quimby, Harriet")).to_have_text("Roomed", timeout=POLL_WAIT_MS)
    expect(room_cell(page, "Quimby, Harriet")).to_have_text("Exam 2")
    assert page.evaluate("() => window.__sameDocument") is True
    assert board_polls, "the board never polled"
    assert all(r.headers.get("x-clinicops-poll") == "1" for r in board_polls)

    # when the provider sees her and sends her to checkout
    doctor = open_context({"width": 1280, "height": 800})
    log_in(doctor, "drosler")
    doctor.goto("/flow/")
    doctor.get_by_role("button", name="With provider: Harriet Quimby").click()
    expect(step_cell(doctor, "Quimby, Harriet")).to_have_text("With provider")
    doctor.get_by_role("button", name="Ready for checkout: Harriet Quimby").click()
    expect(step_cell(doctor, "Quimby, Harriet")).to_have_text("Ready for checkout")

    # then the desk's board offers the checkout, again without a reload
    checkout = page.get_by_role("link", name="Check out Harriet Quimby")
    expect(checkout).to_be_visible(timeout=POLL_WAIT_MS)
    assert page.evaluate("() => window.__sameDocument") is True

    # when the desk checks her out and books the follow-up from the same screen
    checkout.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Harriet Quimby")
    page.get_by_label("Follow up in").select_option(label="2 weeks")
    page.get_by_role("button", name="Find slots").click()
    book = page.get_by_role("button", name=re.compile(r"^Book "))
    expect(book.first).to_be_visible()
    book.first.click()
    expect(page.get_by_text("Follow-up booked:")).to_be_visible()
    page.get_by_label("Balance collected").fill("15")
    page.get_by_label("Payment method").select_option(label="Cash")
    page.get_by_label("Receipt number").fill("B-7")
    screenshot(page, "13-checkout")
    page.get_by_role("button", name="Check out", exact=True).click()

    # then the printable summary shows the visit and the next appointment
    expect(page.get_by_role("heading", level=1)).to_have_text("Visit summary")
    expect(page.get_by_text("Next appointment")).to_be_visible()
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    screenshot(page, "14-visit-summary")
    visit.refresh_from_db()
    assert visit.step == Step.CHECKED_OUT
    assert visit.follow_up is not None
    assert visit.follow_up.start.date() >= timezone.localdate() + dt.timedelta(days=13)
    assert list(visit.events.order_by("at", "pk").values_list("to_step", flat=True)) == [
        Step.CHECKED_IN,
        Step.ROOMED,
        Step.WITH_PROVIDER,
        Step.READY_FOR_CHECKOUT,
        Step.CHECKED_OUT,
    ]
    assert set(visit.events.values_list("actor__username", flat=True)) == {
        "frontdesk",
        "nurse",
        "drosler",
    }
    assert AuditEvent.objects.filter(patient_id=patient.pk, action="print").exists()

    # and the room board shows Exam 2 waiting to be cleaned; the nurse marks it clean
    nurse.goto("/flow/rooms/")
    card = nurse.locator(".room-card").filter(has_text="Exam 2")
    expect(card).to_contain_text("Needs cleaning")
    screenshot(nurse, "15-room-board")
    card.get_by_role("button", name=re.compile("Mark clean")).tap()
    expect(nurse.get_by_text("Exam 2 is clean and free.")).to_be_visible()

    page.goto("/flow/?wall=1")
    expect(page.locator("body.app--wall")).to_have_count(1)
    screenshot(page, "16-flow-board-wall")

    assert console.csp_violations == []
    assert console.errors == [], "\n".join(console.messages)


def test_two_people_moving_one_patient_at_once_one_wins_the_other_is_told(
    page: Page, open_context: Callable[..., Page], console: ConsoleLog, day: dict[str, object]
) -> None:
    # given two nurses with the board open, Omar Haddad checked in on both
    other = open_context(TABLET)
    log_in(page, "nurse")
    page.goto("/flow/")
    log_in(other, "nurse")
    other.goto("/flow/")

    # when both room him, one after the other, from boards that both showed him checked in
    page.get_by_label("Room for Omar Haddad").select_option(label="Exam 1")
    other.get_by_label("Room for Omar Haddad").select_option(label="Exam 3")
    page.get_by_role("button", name="Room Omar Haddad").click()
    expect(room_cell(page, "Haddad, Omar")).to_have_text("Exam 1")
    other.get_by_role("button", name="Room Omar Haddad").click()

    # then the second is told where he went, and sees it
    expect(other.locator(".flow-flash[role=alert]")).to_contain_text("already moved to “Roomed”")
    expect(room_cell(other, "Haddad, Omar")).to_have_text("Exam 1")
    omar = Visit.objects.get(patient__last_name="Haddad")
    assert omar.room is not None
    assert omar.room.name == "Exam 1"
    assert console.csp_violations == []
