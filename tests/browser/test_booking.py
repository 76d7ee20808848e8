"""The front desk books in a real browser: find a slot, book it, see it on the day view."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.tests.factories import DEMO_PASSWORD, PatientFactory, StaffFactory
from scheduling.models import Appointment, AppointmentType, TemplateBlock
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .conftest import ConsoleLog

    Screenshot = Callable[[Page, str], list[Path]]

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(make_user: Callable[..., User], clinic: Clinic) -> User:
    return make_user(roles.FRONT_DESK, username="frontdesk", first_name="Maria", last_name="Lopez")


@pytest.fixture
def monday(clinic: Clinic) -> dt.date:
    today = clinic.today()
    return today + dt.timedelta(days=7 + (7 - today.weekday()) % 7)


@pytest.fixture
def follow_up(clinic: Clinic) -> AppointmentType:
    return AppointmentTypeFactory(
        clinic=clinic, name="Follow-up", duration_minutes=20, color="#2f7d5b"
    )


@pytest.fixture
def providers(clinic: Clinic, follow_up: AppointmentType, monday: dt.date) -> list[Staff]:
    """Two providers working Monday mornings, with lunch, and a new-patient type."""
    new_patient = AppointmentTypeFactory(
        clinic=clinic, name="New patient", duration_minutes=40, color="#7a4cc2"
    )
    found = []
    for first, last in (("William", "Osler"), ("Florence", "Nightingale")):
        staff = StaffFactory(
            roles=[roles.PROVIDER],
            clinics=[clinic],
            title="MD",
            user__first_name=first,
            user__last_name=last,
        )
        template = ScheduleTemplateFactory(
            clinic=clinic, provider=staff, effective_from=clinic.today() - dt.timedelta(days=30)
        )
        TemplateBlockFactory(
            template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(12)
        )
        TemplateBlockFactory(
            template=template,
            weekday=0,
            start_time=dt.time(12),
            end_time=dt.time(13),
            kind=TemplateBlock.Kind.ADMIN,
        )
        TemplateBlockFactory(
            template=template, weekday=0, start_time=dt.time(13), end_time=dt.time(16)
        )
        found.append(staff)
    # a morning already partly booked, so the day view has something to show
    for hour, minute, provider, kind in (
        (8, 0, found[0], follow_up),
        (9, 0, found[0], new_patient),
        (8, 20, found[1], follow_up),
        (10, 0, found[1], follow_up),
    ):
        AppointmentFactory(
            clinic=clinic,
            provider=provider,
            appointment_type=kind,
            start=dt.datetime.combine(monday, dt.time(hour, minute), tzinfo=clinic.tz),
        )
    return found


def snap(screenshot: Screenshot, page: Page, name: str) -> None:
    """Screenshots at desktop and tablet width, then undo what taking them left behind.

    Playwright hides the text caret for a screenshot and leaves `style=""` on the inputs it
    touched. htmx copies attributes while swapping (and clones the page for history), which
    under our CSP is reported as an inline style. No template of ours writes one.
    """
    screenshot(page, name)
    page.evaluate(
        "() => document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))"
    )


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_front_desk_finds_a_slot_books_it_and_sees_it_on_the_day_view(
    page: Page,
    console: ConsoleLog,
    screenshot: Screenshot,
    desk: User,
    clinic: Clinic,
    providers: list[Staff],
    follow_up: AppointmentType,
    monday: dt.date,
) -> None:
    # given a patient to book and two providers with part of their Monday booked
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    osler = providers[0]

    # when the front desk opens find-a-slot, picks the patient as they type, and searches
    log_in(page, "frontdesk")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Find a slot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Find a slot")
    page.get_by_label("Find a patient").press_sequentially("quim", delay=40)
    page.get_by_label(re.compile("Quimby, Harriet")).check()
    page.get_by_label("Appointment type").select_option(label="Follow-up (20 min)")
    page.get_by_label("Provider").select_option(label="William Osler")
    page.get_by_label("From").fill(monday.isoformat())
    page.get_by_role("button", name="Find slots").click()

    # then the next open slots appear in place, 08:00 and 09:00 already taken
    results = page.locator("#slot-results")
    expect(results.get_by_text("Booking for")).to_contain_text("Quimby, Harriet")
    expect(page).to_have_url(re.compile(r"appointment_type="))
    first = results.get_by_role("button", name=re.compile(r"^Book "))
    expect(first.first).to_have_accessible_name(re.compile(r"at 08:20 with William Osler"))
    expect(results.get_by_role("button", name=re.compile(r"at 09:00 with"))).to_have_count(0)
    assert console.csp_violations == [], "find"
    snap(screenshot, page, "booking-01-find-a-slot")

    # when they book the first one with one click
    first.first.click()

    # then a confirmation replaces the list, and the appointment exists once
    expect(results.get_by_text("Booked.")).to_be_visible()
    expect(results).to_contain_text("Quimby, Harriet")
    booked = Appointment.objects.get(patient=patient)
    assert booked.provider == osler
    assert booked.start.astimezone(clinic.tz).time() == dt.time(8, 20)
    assert console.csp_violations == [], "book"
    snap(screenshot, page, "booking-02-booked")

    # when they go to the day
    results.get_by_role("link", name="See the day").click()

    # then the booking is on the day view in Dr Osler's column
    expect(page.get_by_role("heading", level=1)).to_have_text("Schedule")
    link = page.get_by_role("link", name=re.compile(r"08:20 Quimby, Harriet"))
    expect(link).to_be_visible()
    expect(page.get_by_role("heading", level=2).first).to_contain_text(f"{monday:%A}")
    assert console.csp_violations == [], "day"
    snap(screenshot, page, "booking-03-day-view")

    # and the next day is one click away, without a page load
    page.get_by_role("link", name=re.compile("Next day")).click()
    expect(page).to_have_url(re.compile(rf"date={monday + dt.timedelta(days=1)}"))
    page.get_by_role("link", name=re.compile("Previous day")).click()
    expect(link).to_be_visible()
    assert console.csp_violations == [], "day navigation"

    # when they open the appointment from the grid
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("08:20")
    page.get_by_role("button", name="Mark confirmed").click()
    expect(page.get_by_text("Appointment marked confirmed.")).to_be_visible()
    expect(page.get_by_role("cell", name="Booked → Confirmed")).to_be_visible()
    snap(screenshot, page, "booking-04-appointment")

    assert console.csp_violations == []
    assert console.errors == [], "\n".join(console.messages)


def test_an_open_slot_on_the_day_view_books_that_time(
    page: Page,
    console: ConsoleLog,
    screenshot: Screenshot,
    desk: User,
    clinic: Clinic,
    providers: list[Staff],
    monday: dt.date,
) -> None:
    PatientFactory(clinic=clinic, first_name="Ada", last_name="Lovelace")
    log_in(page, "frontdesk")
    page.goto(f"/scheduling/day/?date={monday.isoformat()}")

    page.get_by_role("link", name=re.compile(r"book Florence Nightingale at 09:40")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Book an appointment")
    page.get_by_label("Find a patient").press_sequentially("lovel", delay=40)
    page.get_by_label(re.compile("Lovelace, Ada")).check()
    page.get_by_label("Appointment type").select_option(label="Follow-up (20 min)")
    snap(screenshot, page, "booking-05-book-a-time")
    page.get_by_role("button", name="Book appointment").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("09:40")
    expect(page.get_by_text(re.compile("Booked Follow-up for Lovelace, Ada"))).to_be_visible()
    page.goto(f"/scheduling/week/?provider={providers[1].pk}&date={monday.isoformat()}")
    expect(page.get_by_role("link", name=re.compile(r"09:40 Lovelace, Ada"))).to_be_visible()
    snap(screenshot, page, "booking-06-week-view")
    assert console.csp_violations == []
    assert console.errors == [], "\n".join(console.messages)


def test_the_other_scheduling_screens_render_without_csp_violations(
    page: Page,
    console: ConsoleLog,
    screenshot: Screenshot,
    desk: User,
    clinic: Clinic,
    providers: list[Staff],
    follow_up: AppointmentType,
    monday: dt.date,
) -> None:
    from scheduling.services import booking, transitions
    from scheduling.tests.factories import WaitlistEntryFactory

    # given a booked patient with a past no-show, and a waitlist that a cancellation fed
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    appointment = booking.book_appointment(
        actor=desk,
        clinic=clinic,
        patient=patient,
        provider=providers[0],
        appointment_type=follow_up,
        start=dt.datetime.combine(monday, dt.time(11), tzinfo=clinic.tz),
    ).appointment
    AppointmentFactory(
        clinic=clinic,
        patient=patient,
        provider=providers[0],
        appointment_type=follow_up,
        start=dt.datetime.combine(clinic.today() - dt.timedelta(days=20), dt.time(9), clinic.tz),
        status=Appointment.Status.NO_SHOW,
    )
    WaitlistEntryFactory(
        clinic=clinic,
        appointment_type=follow_up,
        earliest=clinic.today(),
        latest=monday + dt.timedelta(days=30),
        patient__first_name="Wanda",
        patient__last_name="Waitwell",
    )
    other = booking.book_appointment(
        actor=desk,
        clinic=clinic,
        patient=PatientFactory(clinic=clinic),
        provider=providers[1],
        appointment_type=follow_up,
        start=dt.datetime.combine(monday, dt.time(11), tzinfo=clinic.tz),
    ).appointment
    transitions.cancel_appointment(actor=desk, appointment=other, reason="patient")
    log_in(page, "frontdesk")

    # the patient page loads the appointments from scheduling
    page.goto(f"/patients/{patient.pk}/")
    appointments = page.locator("#patient-appointments")
    expect(appointments).to_contain_text("No-shows: 1")
    expect(
        appointments.get_by_role("link", name=re.compile(f"{monday:%a} {monday.day}"))
    ).to_be_visible()
    snap(screenshot, page, "booking-07-patient-appointments")

    page.goto("/scheduling/waitlist/")
    expect(page.get_by_role("button", name=re.compile("Book Waitwell"))).to_be_visible()
    snap(screenshot, page, "booking-08-waitlist")

    page.goto(f"/scheduling/day-sheet/?date={monday.isoformat()}")
    expect(page.get_by_role("heading", level=2, name=re.compile("William Osler"))).to_be_visible()
    snap(screenshot, page, "booking-09-day-sheet")
    page.emulate_media(media="print")
    snap(screenshot, page, "booking-10-day-sheet-print")
    page.emulate_media(media="screen")

    page.goto(f"/scheduling/find/?reschedule={appointment.pk}")
    expect(page.get_by_text("Rescheduling")).to_be_visible()
    page.get_by_role("button", name="Find slots").click()
    expect(page.locator("#slot-results")).to_contain_text("Booking for")
    snap(screenshot, page, "booking-11-reschedule")

    assert console.csp_violations == []
    assert console.errors == [], "\n".join(console.messages)
