"""Issue 18's remaining points in a real browser: cancel with undo counted from the server's
clock, the day view opened at the current time, the audit log paged both ways by keyboard,
rescheduling's "moved from … to …", today's completed visit under past visits, the timeline's
names, the day sheet's words, the wall screen's configured names, the flow board on a tablet,
focusable scrolling regions, "no data" once on the all-clinics view, main actions in view."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Room, User
from clinicops.core.templatetags.formats import moment
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, RoomFactory
from clinicops.kpis.services import MetricChoiceInput, choose_metrics
from compliance.selectors import PAGE_SIZE
from patientflow.models import Visit
from patientflow.services import checkin
from patientflow.tests.clock import midday_zone
from scheduling.models import Appointment
from scheduling.services import transitions
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

from .conftest import LAPTOP, TABLET, axe_violations, htmx_settled
from .test_desk_edges import in_first_screen, log_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .conftest import ConsoleLog

    Screenshot = Callable[[Page, str], list[Path]]

pytestmark = pytest.mark.browser

Status = Appointment.Status


@pytest.fixture
def desk_place(make_user: Callable[..., User]) -> dict[str, Any]:
    """A clinic where it is now about midday, a provider working 06:00-20:00 every day."""
    clinic = ClinicFactory(name="Lakeside Clinic", time_zone=midday_zone())
    desk = make_user(
        roles.FRONT_DESK,
        clinics=[clinic],
        username="frontdesk",
        first_name="Maria",
        last_name="Lopez",
    )
    provider = make_user(
        roles.PROVIDER, clinics=[clinic], username="drosler", first_name="Ada", last_name="Osler"
    ).staff
    kind = AppointmentTypeFactory(clinic=clinic, name="Follow-up", duration_minutes=20)
    template = ScheduleTemplateFactory(
        clinic=clinic, provider=provider, effective_from=clinic.today() - dt.timedelta(days=30)
    )
    for weekday in range(7):
        TemplateBlockFactory(
            template=template, weekday=weekday, start_time=dt.time(6), end_time=dt.time(20)
        )
    return {"clinic": clinic, "desk": desk, "provider": provider, "kind": kind}


def local_at(clinic: Clinic, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clinic.tz)


def appointment(place: dict[str, Any], start: dt.datetime, **fields: Any) -> Appointment:
    fields.setdefault("patient", PatientFactory(clinic=place["clinic"]))
    fields.setdefault("appointment_type", place["kind"])
    return AppointmentFactory(
        clinic=place["clinic"], provider=place["provider"], start=start, **fields
    )


# --- cancel and undo --------------------------------------------------------------------------


def test_cancel_asks_the_reason_in_one_step_and_undo_counts_down_from_the_server(
    page: Page,
    console: ConsoleLog,
    screenshot: Screenshot,
    desk_place: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clinic = desk_place["clinic"]
    tomorrow = clinic.today() + dt.timedelta(days=1)
    booked = appointment(desk_place, local_at(clinic, tomorrow, 10), status=Status.CONFIRMED)
    log_in(page, "frontdesk")
    # the desk computer's clock is an hour slow: the countdown must not care
    page.add_init_script("Date.now = (n => () => n() - 3600 * 1000)(Date.now)")
    page.goto(f"/scheduling/appointments/{booked.pk}/")
    in_first_screen(page, "Cancel appointment")

    # given a cancel with no reason: the form asks for it, nothing is sent or changed
    page.get_by_role("button", name="Cancel appointment").click()
    assert page.get_by_label("Reason").evaluate("el => el.validity.valueMissing")
    assert Appointment.objects.get(pk=booked.pk).status == Status.CONFIRMED

    # when the desk picks the reason and cancels (one step, one form)
    page.get_by_label("Reason").select_option(label="Patient ill")
    page.get_by_label("Note", exact=True).fill("flu")
    page.get_by_role("button", name="Cancel appointment").click()
    expect(page.locator("#appointment")).to_contain_text(
        "Appointment cancelled (late cancellation): Patient ill."
    )
    undo = page.get_by_role("button", name="Undo the cancellation")
    expect(undo).to_be_enabled()
    left = page.locator("[data-undo-left]")
    expect(left).to_have_text(re.compile(r"Possible for (1\d|20) s"))
    first = int(re.search(r"\d+", left.inner_text()).group())  # type: ignore[union-attr]
    page.wait_for_timeout(2100)
    later = int(re.search(r"\d+", left.inner_text()).group())  # type: ignore[union-attr]
    assert 1 <= first - later <= 3, (first, later)
    assert axe_violations(page) == []
    screenshot(page, "18-cancel-undo")

    # then undo restores exactly what was there
    undo.click()
    expect(page.locator("#appointment")).to_contain_text("Cancellation undone")
    expect(page.locator("#appointment")).to_contain_text("is confirmed again.")
    expect(page.locator(".appt-banner .badge").first).to_have_text("Confirmed")
    stored = Appointment.objects.get(pk=booked.pk)
    assert (stored.status, stored.cancel_reason, stored.cancelled_at) == (
        Status.CONFIRMED,
        "",
        None,
    )

    # when cancelled again and someone books the freed slot before the undo
    page.get_by_label("Reason").select_option(label="Patient request")
    page.get_by_role("button", name="Cancel appointment").click()
    expect(page.get_by_role("button", name="Undo the cancellation")).to_be_enabled()
    appointment(desk_place, booked.start)
    page.get_by_role("button", name="Undo the cancellation").click()
    # then it says clearly that the slot is gone and the appointment stays cancelled
    expect(page.locator("#appointment")).to_contain_text("Not restored: Ada Osler")
    expect(page.locator("#appointment")).to_contain_text("The appointment stays cancelled")
    assert Appointment.objects.get(pk=booked.pk).status == Status.CANCELLED
    assert console.errors == [], "\n".join(console.messages)


def test_the_undo_stops_being_offered_when_the_servers_seconds_run_out(
    page: Page, desk_place: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transitions, "CANCEL_UNDO_SECONDS", 3)
    clinic = desk_place["clinic"]
    booked = appointment(desk_place, local_at(clinic, clinic.today() + dt.timedelta(days=2), 9))
    log_in(page, "frontdesk")
    # a tablet clock a day ahead would end any deadline sent as a time at once
    page.add_init_script("Date.now = (n => () => n() + 86400 * 1000)(Date.now)")
    page.set_viewport_size(TABLET)
    page.goto(f"/scheduling/appointments/{booked.pk}/")
    page.get_by_label("Reason").select_option(label="Patient request")
    page.get_by_role("button", name="Cancel appointment").click()
    undo = page.get_by_role("button", name="Undo the cancellation")
    expect(undo).to_be_enabled()
    expect(page.locator("[data-undo-left]")).to_contain_text("Possible for")
    expect(page.get_by_role("button", name="Undo no longer possible")).to_be_disabled(timeout=6000)
    assert Appointment.objects.get(pk=booked.pk).status == Status.CANCELLED


# --- the day view -----------------------------------------------------------------------------


def frame_view(page: Page) -> dict[str, float]:
    return page.evaluate(
        """() => {
          const frame = document.querySelector('.sched-grid-wrap');
          const row = frame.querySelector('tr[data-now]');
          const f = frame.getBoundingClientRect();
          const r = row ? row.getBoundingClientRect() : null;
          return {scrollTop: frame.scrollTop, frameTop: f.top, frameBottom: f.bottom,
                  rowTop: r ? r.top : -1, rowBottom: r ? r.bottom : -1,
                  pageScroll: window.scrollY};
        }"""
    )


def test_the_day_view_opens_scrolled_to_the_clinics_current_time(
    page: Page, console: ConsoleLog, screenshot: Screenshot, desk_place: dict[str, Any]
) -> None:
    log_in(page, "frontdesk")
    page.set_viewport_size(LAPTOP)
    page.goto("/scheduling/day/")
    now_row = page.locator("tr[data-now]")
    expect(now_row).to_have_count(1)
    local_now = timezone.now().astimezone(desk_place["clinic"].tz)
    hour = now_row.locator("th").inner_text().strip() or ""
    view = frame_view(page)
    # the row of the clinic's time is in view inside the grid, the grid has scrolled to it,
    # and the page itself has not (the header and "Find a slot" stay on screen)
    assert view["scrollTop"] > 0, view
    assert view["frameTop"] <= view["rowTop"], view
    assert view["rowBottom"] <= view["frameBottom"], view
    assert view["pageScroll"] == 0, view
    assert hour[:2] == f"{local_now.hour:02d}" or local_now.minute >= 40, (hour, local_now)
    in_first_screen(page, "Find a slot", role="link")
    assert axe_violations(page) == []
    screenshot(page, "18-day-now")

    # another day opens at its start: no "now" there
    page.get_by_role("link", name="Next day").click()
    htmx_settled(page)
    expect(page.locator("tr[data-now]")).to_have_count(0)
    assert frame_view(page)["scrollTop"] == 0
    # the grid frame is reachable and scrollable by keyboard
    frame = page.locator(".sched-grid-wrap")
    frame.focus()
    page.keyboard.press("PageDown")
    page.wait_for_function("() => document.querySelector('.sched-grid-wrap').scrollTop > 0")
    assert console.errors == [], "\n".join(console.messages)


# --- the audit log ----------------------------------------------------------------------------


def test_the_audit_log_pages_older_and_newer_by_keyboard(
    page: Page, make_user: Callable[..., User], desk_place: dict[str, Any]
) -> None:
    clinic = desk_place["clinic"]
    make_user(roles.COMPLIANCE, clinics=[clinic], username="officer")
    patient = PatientFactory(clinic=clinic)
    first = timezone.now() - dt.timedelta(hours=1)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            occurred_at=first + dt.timedelta(seconds=n),
            actor=desk_place["desk"],
            actor_label="frontdesk",
            action=AuditEvent.Action.VIEW,
            clinic_id=clinic.pk,
            patient_id=patient.pk,
            summary=f"Read number {n}",
        )
        for n in range(PAGE_SIZE * 2 + 5)
    )
    log_in(page, "officer")
    page.goto("/compliance/audit/?action=view")
    results = page.locator("#audit-results")
    expect(results).to_contain_text("50 events shown")
    expect(results).to_contain_text("more are older.")
    expect(page.get_by_role("link", name="Newer events")).to_have_count(0)
    assert axe_violations(page) == []

    # by keyboard only: focus "Older events", press Enter, twice
    older = page.get_by_role("link", name="Older events")
    older.focus()
    page.keyboard.press("Enter")
    htmx_settled(page)
    expect(results).to_contain_text("more are older and newer")
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused.startswith("Older events"), focused
    page.keyboard.press("Enter")
    htmx_settled(page)
    expect(results).to_contain_text("more are newer.")
    expect(page.get_by_role("link", name="Older events")).to_have_count(0)
    expect(page.locator("#audit-results tbody tr")).to_have_count(5)
    # the older link is gone: the keyboard lands on the summary, not on the page's top
    assert page.evaluate("() => document.activeElement.id") == "audit-summary"

    page.get_by_role("link", name="Newer events").focus()
    page.keyboard.press("Enter")
    htmx_settled(page)
    expect(page.locator("#audit-results tbody tr")).to_have_count(PAGE_SIZE)
    expect(results).to_contain_text("more are older and newer")
    page.get_by_role("link", name="Newest events").click()
    htmx_settled(page)
    expect(results).to_contain_text("more are older.")
    expect(page.locator("#audit-results tbody tr").first).to_contain_text(
        f"Read number {PAGE_SIZE * 2 + 4}"
    )
    # the results fade back in after a swap (0.2 s): judge the contrast once they have
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('#audit-results')).opacity === '1'"
    )
    assert axe_violations(page) == []


# --- the front desk's smaller points ----------------------------------------------------------


def test_rescheduling_confirms_moved_from_and_to(page: Page, desk_place: dict[str, Any]) -> None:
    clinic = desk_place["clinic"]
    day = clinic.today() + dt.timedelta(days=3)
    old = appointment(desk_place, local_at(clinic, day, 8))
    log_in(page, "frontdesk")
    page.goto(f"/scheduling/find/?reschedule={old.pk}")
    page.get_by_role("button", name="Find slots").click()
    htmx_settled(page)
    page.locator(".slot-card button").first.click()
    htmx_settled(page)
    new = Appointment.objects.get(rescheduled_from=old)
    expected = (
        f"Moved Follow-up for {old.patient} from {moment(old.start, clinic.tz)} to "
        f"{moment(new.start, clinic.tz)} with {new.provider}."
    )
    expect(page.locator(".confirmation")).to_contain_text(expected)
    assert re.search(
        r"from \w{3} \d{1,2} \w{3} \d\d:\d\d to \w{3} \d{1,2} \w{3} \d\d:\d\d", expected
    )


def test_todays_completed_visit_is_under_past_not_upcoming(
    page: Page, desk_place: dict[str, Any]
) -> None:
    patient = PatientFactory(clinic=desk_place["clinic"], last_name="Quimby")
    now = timezone.now()
    # seen early: the visit is complete though its booked time runs on
    appointment(
        desk_place,
        now - dt.timedelta(minutes=5),
        patient=patient,
        status=Status.COMPLETED,
        end=now + dt.timedelta(minutes=15),
    )
    log_in(page, "frontdesk")
    page.goto(f"/patients/{patient.pk}/")
    box = page.locator("#patient-appointments")
    expect(box).to_be_visible()
    expect(box).to_contain_text("No upcoming appointments.")
    past = page.locator("table", has=page.locator("caption", has_text="Past appointments"))
    expect(past).to_contain_text("Completed")


def test_the_visit_timeline_names_people_not_usernames(
    page: Page, desk_place: dict[str, Any]
) -> None:
    clinic = desk_place["clinic"]
    booked = appointment(desk_place, timezone.now().replace(second=0, microsecond=0))
    checkin.check_in(actor=desk_place["desk"], appointment=booked)
    visit = Visit.objects.get(appointment=booked)
    log_in(page, "frontdesk")
    page.goto(f"/flow/visits/{visit.pk}/")
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("by Maria Lopez")
    expect(timeline).not_to_contain_text("frontdesk")
    page.goto(f"/scheduling/appointments/{booked.pk}/")
    history = page.locator("table", has=page.locator("caption", has_text="Status changes"))
    expect(history).to_contain_text("Maria Lopez")
    expect(history).not_to_contain_text("frontdesk")
    assert clinic.pk


def test_the_day_sheet_does_not_repeat_a_word(page: Page, desk_place: dict[str, Any]) -> None:
    clinic = desk_place["clinic"]
    day = clinic.today() + dt.timedelta(days=1)
    procedure = AppointmentTypeFactory(clinic=clinic, name="Procedure", duration_minutes=20)
    room = RoomFactory(clinic=clinic, name="Procedure", kind=Room.Kind.PROCEDURE)
    other = RoomFactory(clinic=clinic, name="Exam 1")
    appointment(desk_place, local_at(clinic, day, 9), appointment_type=procedure, room=room)
    appointment(desk_place, local_at(clinic, day, 10), room=other)
    log_in(page, "frontdesk")
    page.goto(f"/scheduling/day-sheet/?date={day.isoformat()}")
    cells = page.locator(".day-sheet tbody td:nth-child(6)").all_inner_texts()
    assert cells == ["Procedure", "Follow-up · Exam 1"], cells
    for row in page.locator(".day-sheet tbody tr").all_inner_texts():
        words = re.findall(r"[A-Za-z-]+", row)
        assert not any(a == b for a, b in itertools.pairwise(words)), row
    assert axe_violations(page) == []


# --- the wall screen and the tablet ------------------------------------------------------------


@pytest.mark.parametrize(
    ("display", "shown"),
    [
        (Clinic.WallDisplay.FIRST_NAME_INITIAL, "Harriet Q."),
        (Clinic.WallDisplay.INITIALS, "H. Q."),
        (Clinic.WallDisplay.TICKET, "No. {visit}"),
    ],
)
def test_the_wall_screen_shows_what_the_clinic_configures(
    page: Page, desk_place: dict[str, Any], display: str, shown: str
) -> None:
    clinic = desk_place["clinic"]
    clinic.wall_display = display
    clinic.save()
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    booked = appointment(
        desk_place, timezone.now().replace(second=0, microsecond=0), patient=patient
    )
    visit = checkin.check_in(actor=desk_place["desk"], appointment=booked)
    log_in(page, "frontdesk")
    page.goto("/flow/?wall=1")
    board = page.locator("#flow-board")
    expect(board).to_contain_text(shown.format(visit=visit.pk))
    expect(board).not_to_contain_text("Quimby")
    if display == Clinic.WallDisplay.TICKET:
        expect(board).not_to_contain_text("Harriet")
    assert axe_violations(page) == []


BROKEN_WORDS = """() => {
  // Every word in the board on one line: a word whose letters land on two lines was broken.
  const broken = [];
  const walker = document.createTreeWalker(
    document.querySelector('#flow-board'), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || parent.closest('.visually-hidden') || !parent.getClientRects().length) continue;
    for (const match of node.textContent.matchAll(/[^\\s\\-\\u2013\\u2014\\/]+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (tops.size > 1) broken.push(match[0]);
    }
  }
  return broken;
}"""

CLIPPED = """() => {
  // Elements whose content is cut off: wider or taller than their box with overflow hidden.
  const cut = [];
  for (const el of document.querySelectorAll('#flow-board *')) {
    if (el.closest('.visually-hidden')) continue;
    const style = getComputedStyle(el);
    const hides = v => v === 'hidden' || v === 'clip';
    if ((hides(style.overflowX) && el.scrollWidth > el.clientWidth + 1) ||
        (hides(style.overflowY) && el.scrollHeight > el.clientHeight + 1)) {
      cut.push(el.tagName + '.' + el.className);
    }
  }
  return cut;
}"""


def test_the_flow_board_on_a_tablet_is_one_column_nothing_clipped_no_word_broken(
    page: Page, screenshot: Screenshot, desk_place: dict[str, Any]
) -> None:
    clinic = desk_place["clinic"]
    start = timezone.now().replace(second=0, microsecond=0)
    for n, (first, last) in enumerate(
        (("Bartholomew", "Featherstonehaugh-Wellington"), ("Maria", "Lopez"), ("Li", "Wu"))
    ):
        booked = appointment(
            desk_place,
            start + dt.timedelta(minutes=20 * n),
            patient=PatientFactory(clinic=clinic, first_name=first, last_name=last),
        )
        if n < 2:
            checkin.check_in(actor=desk_place["desk"], appointment=booked)
    log_in(page, "frontdesk")
    page.set_viewport_size(TABLET)
    page.goto("/flow/")
    sections = page.locator(
        "#flow-board .flow-group, #flow-board .flow-lower > .panel"
    ).evaluate_all("els => els.map(e => Math.round(e.getBoundingClientRect().left))")
    assert len(sections) >= 3, sections
    assert len(set(sections)) == 1, f"not one column at 768 wide: {sections}"
    assert page.evaluate(CLIPPED) == []
    assert page.evaluate(BROKEN_WORDS) == []
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, overflow
    screenshot(page, "18-flow-tablet")


SCROLLERS = """() => {
  // Regions that scroll (their content is bigger than their box) and how a keyboard gets in.
  const found = [];
  for (const el of document.querySelectorAll('body *')) {
    const style = getComputedStyle(el);
    const scrolls = v => v === 'auto' || v === 'scroll';
    const x = scrolls(style.overflowX) && el.scrollWidth > el.clientWidth + 1;
    const y = scrolls(style.overflowY) && el.scrollHeight > el.clientHeight + 1;
    if (!x && !y) continue;
    const focusable = el.tabIndex >= 0 || el.querySelector(
      'a[href], button:not([disabled]), input, select, textarea, [tabindex]:not([tabindex="-1"])');
    found.push({what: el.tagName + '.' + el.className, focusable: !!focusable});
  }
  return found;
}"""


def test_scrolling_regions_are_keyboard_focusable_on_laptop_and_tablet(
    page: Page, make_user: Callable[..., User], desk_place: dict[str, Any]
) -> None:
    clinic = desk_place["clinic"]
    make_user(roles.COMPLIANCE, clinics=[clinic], username="officer")
    start = timezone.now().replace(second=0, microsecond=0)
    for n in range(4):
        booked = appointment(
            desk_place,
            start + dt.timedelta(minutes=20 * n),
            patient=PatientFactory(
                clinic=clinic, first_name="Maximiliana", last_name=f"Longfellow-Hawthorne{n}"
            ),
            notes="Bring the previous imaging reports and the list of medications",
        )
        if n % 2:
            checkin.check_in(actor=desk_place["desk"], appointment=booked)
    pages = {
        "frontdesk": [
            "/scheduling/day/",
            f"/scheduling/day-sheet/?date={clinic.today()}",
            "/flow/",
        ],
        "officer": ["/compliance/audit/"],
    }
    for username, urls in pages.items():
        page.context.clear_cookies()
        log_in(page, username)
        for url in urls:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            for size in (LAPTOP, TABLET):
                page.set_viewport_size(size)
                stuck = [r for r in page.evaluate(SCROLLERS) if not r["focusable"]]
                assert stuck == [], (url, size, stuck)
            assert axe_violations(page) == [], url


def test_the_all_clinics_view_says_no_data_once_per_figure(
    page: Page, make_user: Callable[..., User]
) -> None:
    north, south = ClinicFactory(name="Northside Clinic"), ClinicFactory(name="Southside Clinic")
    manager = make_user(roles.MANAGER, clinics=[north, south], username="manager")
    keys = ["no_show_rate", "template_utilization", "door_to_provider_min"]
    for clinic in (north, south):
        choose_metrics(
            actor=manager,
            clinic=clinic,
            choices=[MetricChoiceInput(key=key, owner=manager.staff) for key in keys],
        )
    log_in(page, "manager")
    page.goto("/kpis/system/")
    cells = page.locator(".kpi-system__cell").all_inner_texts()
    assert len(cells) == 2 * len(keys), cells
    for cell in cells:
        assert cell.lower().count("no data") == 1, cell
    assert axe_violations(page) == []


def test_the_main_actions_are_in_the_first_screen_at_1366x768(
    page: Page, desk_place: dict[str, Any]
) -> None:
    clinic = desk_place["clinic"]
    booked = appointment(desk_place, local_at(clinic, clinic.today() + dt.timedelta(days=1), 9))
    today = appointment(desk_place, timezone.now().replace(second=0, microsecond=0))
    log_in(page, "frontdesk")
    for url, name, role in (
        ("/scheduling/day/", "Find a slot", "link"),
        ("/scheduling/find/", "Find slots", "button"),
        (f"/scheduling/appointments/{booked.pk}/", "Cancel appointment", "button"),
        (f"/flow/check-in/{today.pk}/", "Check in now", "button"),
        ("/flow/", "Expected today", "heading"),
        ("/patients/", "Search", "button"),
    ):
        page.goto(url)
        in_first_screen(page, name, role=role)


CALM_ICONS = """() => [...document.querySelectorAll('.empty-state')].map(box => {
  const icon = box.querySelector('svg.empty-state__icon');
  const shapes = icon ? [...icon.querySelectorAll('path, circle')].map(
    s => s.tagName + (s.getAttribute('d') || '')) : [];
  return {title: box.querySelector('.empty-state__title').textContent.trim(),
          icon: !!icon, hidden: icon && icon.getAttribute('aria-hidden') === 'true', shapes};
})"""
# The alarm "!" the empty states used to show: a vertical bar and a dot.
ALARM = ("pathM12 7.5v6M12 16.5v.5",)


def test_empty_states_are_calm_and_say_it_once(
    page: Page, make_user: Callable[..., User], desk_place: dict[str, Any]
) -> None:
    clinic = desk_place["clinic"]
    make_user(roles.COMPLIANCE, clinics=[clinic], username="officer")
    tomorrow = clinic.today() + dt.timedelta(days=1)
    pages = {
        "frontdesk": [
            "/flow/",
            "/scheduling/waitlist/",
            "/scheduling/find/",
            f"/scheduling/day-sheet/?date={tomorrow.isoformat()}",
        ],
        "officer": ["/compliance/audit/?action=export"],
    }
    for username, urls in pages.items():
        page.context.clear_cookies()
        log_in(page, username)
        for url in urls:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            boxes = page.evaluate(CALM_ICONS)
            assert boxes, f"{url} shows no empty state"
            for box in boxes:
                assert box["icon"], (url, box)
                assert box["hidden"], (url, box)
                assert not set(ALARM) & set(box["shapes"]), (url, box)
            titles = [box["title"] for box in boxes]
            assert len(titles) == len(set(titles)), (url, titles)
            assert axe_violations(page) == [], url
    # the flow board with nobody in it still shows "Expected today" without scrolling
    page.context.clear_cookies()
    log_in(page, "frontdesk")
    appointment(desk_place, timezone.now().replace(second=0, microsecond=0))
    page.goto("/flow/")
    in_first_screen(page, "Expected today", role="heading")
