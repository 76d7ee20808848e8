"""Patient-flow screens: status codes, fragments, scoping, roles, bad input and audit rows."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.middleware import POLL_HEADER, SESSION_LAST_ACTIVITY
from clinicops.core.tests.factories import ClinicFactory, CoverageFactory, PatientFactory
from clinicops.core.tests.test_layout import assert_layout
from patientflow.models import Step, StepThreshold, Visit, VisitPayment
from patientflow.services import checkin, moves
from scheduling import availability
from scheduling.models import Appointment
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
POLL = {"HX-Request": "true", POLL_HEADER: "1"}


@pytest.fixture
def visit(appointment, front_desk) -> Visit:
    return checkin.check_in(actor=front_desk, appointment=appointment)


def submission_key(response) -> str:
    """The submission key a page's booking form carries."""
    found = re.search(r'name="submission_key" value="([0-9a-f]{32})"', response.content.decode())
    assert found, "no submission key on the page"
    return found.group(1)


def views_of(object_type: str) -> int:
    return AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, object_type=object_type).count()


# --- the flow board -----------------------------------------------------------------------


def test_the_board_shows_todays_visits_and_polls_without_extending_the_session(
    client: Client, front_desk, visit, make_appointment
) -> None:
    make_appointment(minutes_from_now=40)  # still expected
    client.force_login(front_desk)

    response = client.get("/flow/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Quimby, Harriet" in html
    assert 'hx-trigger="every 10s"' in html
    assert """hx-headers='{"X-ClinicOps-Poll": "1"}'""" in html
    assert "Expected today, not checked in" in html
    assert "no-cache" in response["Cache-Control"]
    page = assert_layout(response)
    assert page.title.strip() == "Flow board · ClinicOps"

    session = client.session
    session[SESSION_LAST_ACTIVITY] = before = time.time() - 60
    session.save()
    poll = client.get("/flow/", headers=POLL)
    assert poll.status_code == 200
    assert "<html" not in poll.content.decode()  # just the board fragment
    assert 'id="flow-board"' in poll.content.decode()
    assert "HX-Request" in poll["Vary"]
    assert client.session[SESSION_LAST_ACTIVITY] == before


def test_the_board_audits_what_it_shows_once_per_change(
    client: Client, front_desk, visit, make_appointment
) -> None:
    client.force_login(front_desk)
    client.get("/flow/")
    assert views_of("patientflow.flow_board") == 1
    entry = AuditEvent.objects.get(object_type="patientflow.flow_board")
    assert entry.changes == {"patient_ids": [visit.patient_id]}

    client.get("/flow/", headers=POLL)
    client.get("/flow/", headers=POLL)
    assert views_of("patientflow.flow_board") == 1  # same patients: nothing new to record

    checkin.check_in(actor=front_desk, appointment=make_appointment(minutes_from_now=20))
    client.get("/flow/", headers=POLL)
    assert views_of("patientflow.flow_board") == 2
    client.get("/flow/")  # a page load is always recorded
    assert views_of("patientflow.flow_board") == 3


def test_the_board_costs_the_same_queries_for_5_or_150_visits(
    client: Client, front_desk, make_appointment, rooms, nurse
) -> None:
    def add(count: int) -> None:
        for n in range(count):
            appt = make_appointment(
                is_overbook=True, overbook_reason="load test", minutes_from_now=n
            )
            visit = checkin.check_in(actor=front_desk, appointment=appt)
            if n % 3 == 1:
                moves.move_visit(
                    actor=nurse,
                    visit=visit,
                    to_step="left_without_being_seen",
                    expected_step="checked_in",
                )

    client.force_login(front_desk)
    add(5)
    client.get("/flow/", headers=POLL)
    with CaptureQueriesContext(connection) as small:
        client.get("/flow/", headers=POLL)
    add(145)
    for _ in range(5):
        make_appointment(is_overbook=True, overbook_reason="expected")
    client.get("/flow/", headers=POLL)  # the new patients' audit entry
    with CaptureQueriesContext(connection) as large:
        response = client.get("/flow/", headers=POLL)

    assert response.content.decode().count('class="flow-row') == 100
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(large.captured_queries) <= 12, [q["sql"] for q in large.captured_queries]


def test_the_board_constant_queries_with_the_pytest_django_fixture(
    client: Client, front_desk, make_appointment, django_assert_max_num_queries
) -> None:
    for n in range(150):
        appt = make_appointment(is_overbook=True, overbook_reason="load", minutes_from_now=n)
        checkin.check_in(actor=front_desk, appointment=appt)
    client.force_login(front_desk)
    client.get("/flow/", headers=POLL)
    with django_assert_max_num_queries(12):
        assert client.get("/flow/", headers=POLL).status_code == 200


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (roles.FRONT_DESK, 200),
        (roles.NURSE, 200),
        (roles.PROVIDER, 200),
        (roles.MANAGER, 200),
        (roles.BILLER, 403),
        (roles.COMPLIANCE, 403),
        (roles.ADMINISTRATOR, 403),
    ],
)
def test_who_sees_the_board(client: Client, make_user, flow_clinic, role, status) -> None:
    client.force_login(make_user(role))
    assert client.get("/flow/").status_code == status


def test_board_grouping_and_sorting_and_wall_mode(client: Client, front_desk, visit) -> None:
    client.force_login(front_desk)
    by_provider = client.get("/flow/?group=provider&sort=waiting").content.decode()
    assert "Ada Osler" in by_provider
    wall = client.get("/flow/?wall=1")
    assert "app--wall" in wall.content.decode()
    assert 'name="to"' not in wall.content.decode()  # nothing to click on a wall screen
    assert_layout(wall)
    # unknown values fall back to the defaults instead of failing
    assert client.get("/flow/?group=%00&sort=zzz").status_code == 200


def test_the_boards_group_titles_and_counts_are_escaped(
    client: Client, front_desk, provider, visit
) -> None:
    # given a provider whose name is markup
    provider.user.first_name = "<b>Ada</b>"
    provider.user.save(update_fields=["first_name"])
    client.force_login(front_desk)

    # when the board is grouped by provider
    html = client.get("/flow/?group=provider").content.decode()

    # then the group's title and caption show it as text
    assert "<b>Ada</b>" not in html
    assert html.count("&lt;b&gt;Ada&lt;/b&gt; Osler") >= 3  # title, caption, row
    assert '<span class="flow-count__n">1</span>' in html
    assert '<span class="flow-count__label">Checked in</span>' in html


def test_one_tap_rooms_the_patient_from_the_board(client: Client, nurse, visit, rooms) -> None:
    client.force_login(nurse)
    board = client.get("/flow/").content.decode()
    assert f'id="room-{visit.pk}"' in board

    response = client.post(
        f"/flow/visits/{visit.pk}/move/",
        {
            "source": "board",
            "expected": "checked_in",
            "to": "roomed",
            "room": rooms[1].pk,
            "group": "step",
            "sort": "time",
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "Quimby, Harriet: roomed in Exam 2." in html
    visit.refresh_from_db()
    assert (visit.step, visit.room) == (Step.ROOMED, rooms[1])
    assert AuditEvent.objects.filter(
        object_type="patientflow.visit", action="update", patient_id=visit.patient_id
    ).exists()


def test_the_second_mover_sees_the_new_state(client: Client, nurse, visit, rooms) -> None:
    moves.move_visit(
        actor=nurse, visit=visit, to_step="roomed", expected_step="checked_in", room=rooms[0]
    )
    client.force_login(nurse)
    response = client.post(
        f"/flow/visits/{visit.pk}/move/",
        {"source": "board", "expected": "checked_in", "to": "roomed", "room": rooms[1].pk},
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "already moved to “Roomed” by nurse" in html
    assert 'role="alert"' in html
    assert re.search(rf'id="visit-{visit.pk}".*?Exam 1', html, re.S)
    visit.refresh_from_db()
    assert visit.room == rooms[0]


@pytest.mark.parametrize(
    "data",
    [
        {"expected": "checked_in", "to": "roomed", "room": "abc"},
        {"expected": "checked_in", "to": "roomed", "room": "99999999"},
        {"expected": "checked_in", "to": "teleported"},
        {"expected": "", "to": ""},
        {},
    ],
)
def test_bad_moves_get_a_message_not_an_error(client: Client, nurse, visit, rooms, data) -> None:
    client.force_login(nurse)
    response = client.post(
        f"/flow/visits/{visit.pk}/move/", {"source": "board", **data}, headers=HTMX
    )
    assert response.status_code == 200
    assert 'class="callout callout--danger flow-flash" role="alert"' in response.content.decode()
    visit.refresh_from_db()
    assert visit.step == Step.CHECKED_IN


def test_an_illegal_step_is_refused_with_a_message(client: Client, nurse, visit) -> None:
    client.force_login(nurse)
    response = client.post(
        f"/flow/visits/{visit.pk}/move/",
        {"expected": "checked_in", "to": "checked_out"},
        follow=True,
    )
    assert response.status_code == 200
    assert "cannot be checked out" in response.content.decode()
    visit.refresh_from_db()
    assert visit.step == Step.CHECKED_IN


def test_another_clinics_visit_is_not_found(client: Client, make_user, visit) -> None:
    other = ClinicFactory(name="Hillcrest")
    client.force_login(make_user(roles.NURSE, clinics=[other]))
    for url in (f"/flow/visits/{visit.pk}/", f"/flow/visits/{visit.pk}/checkout/"):
        assert client.get(url).status_code in (403, 404)
    response = client.post(
        f"/flow/visits/{visit.pk}/move/", {"expected": "checked_in", "to": "roomed"}
    )
    assert response.status_code == 404
    client.force_login(make_user(roles.FRONT_DESK, clinics=[other]))
    assert client.get(f"/flow/visits/{visit.pk}/checkout/").status_code == 404
    assert client.get(f"/flow/check-in/{visit.appointment_id}/").status_code == 404


def test_a_biller_cannot_move_patients(client: Client, make_user, visit) -> None:
    client.force_login(make_user(roles.BILLER))
    response = client.post(
        f"/flow/visits/{visit.pk}/move/", {"expected": "checked_in", "to": "roomed"}
    )
    assert response.status_code == 403


def test_the_visit_page_shows_the_history_and_is_audited(
    client: Client, nurse, visit, rooms
) -> None:
    moves.move_visit(
        actor=nurse, visit=visit, to_step="roomed", expected_step="checked_in", room=rooms[0]
    )
    moves.undo_last_step(actor=nurse, visit=visit, expected_step="roomed", reason="wrong room")
    client.force_login(nurse)
    response = client.get(f"/flow/visits/{visit.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "undone" in html
    assert "wrong room" in html
    assert_layout(response)
    assert AuditEvent.objects.filter(
        object_type="patientflow.visit", action="view", patient_id=visit.patient_id
    ).exists()


def test_undo_from_the_visit_page_needs_a_reason(client: Client, nurse, visit, rooms) -> None:
    moves.move_visit(
        actor=nurse, visit=visit, to_step="roomed", expected_step="checked_in", room=rooms[0]
    )
    client.force_login(nurse)
    response = client.post(f"/flow/visits/{visit.pk}/undo/", {"expected": "roomed"}, follow=True)
    assert "Reason for the undo: This field is required." in response.content.decode()
    response = client.post(
        f"/flow/visits/{visit.pk}/undo/", {"expected": "roomed", "reason": "mistake"}, follow=True
    )
    assert "is back at “Checked in”" in response.content.decode()


# --- check-in -----------------------------------------------------------------------------


def test_the_check_in_screen(client: Client, front_desk, appointment, patient) -> None:
    CoverageFactory(
        patient=patient, effective_from=dt.date(2000, 1, 1), effective_to=dt.date(2001, 1, 1)
    )
    client.force_login(front_desk)
    response = client.get(f"/flow/check-in/{appointment.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Coverage expired or not yet in effect." in html
    assert "callout--danger" in html
    assert "data-arrival" in html
    assert_layout(response)
    assert AuditEvent.objects.filter(action="view", patient_id=patient.pk).exists()


def test_missing_insurance_is_flagged_in_red(client: Client, front_desk, appointment) -> None:
    client.force_login(front_desk)
    html = client.get(f"/flow/check-in/{appointment.pk}/").content.decode()
    assert re.search(
        r'class="callout callout--danger[^"]*" role="alert"><p><strong>No insurance on file.', html
    )


def test_checking_in_with_a_copay(client: Client, front_desk, appointment) -> None:
    CoverageFactory(patient=appointment.patient)  # an insurance card to have seen
    client.force_login(front_desk)
    response = client.post(
        f"/flow/check-in/{appointment.pk}/",
        {
            "copay_amount": "$1,025.50",
            "copay_method": "card",
            "copay_receipt": "RX-55",
            "forms_signed": ["consent", "privacy"],
            "insurance_confirmed": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/flow/"
    visit = Visit.objects.get(appointment=appointment)
    assert visit.insurance_confirmed
    assert VisitPayment.objects.get(visit=visit).amount == Decimal("1025.50")


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-5", "cannot be negative"),
        ("-0.01", "cannot be negative"),
        ("abc", "dollars and cents"),
        ("12.345", "at most two decimal places"),
        ("1e3", "dollars and cents"),
        ("NaN", "dollars and cents"),
        ("Infinity", "dollars and cents"),
        ("25,00", "dollars and cents"),
        ("100000", "cannot be more than"),
        ("9" * 30, "at most 20 characters"),
    ],
)
def test_a_bad_copay_is_refused_and_changes_nothing(
    client: Client, front_desk, appointment, amount, message
) -> None:
    client.force_login(front_desk)
    response = client.post(
        f"/flow/check-in/{appointment.pk}/",
        {"copay_amount": amount, "copay_method": "cash", "copay_receipt": "R1"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert 'href="#id_copay_amount">Copay collected:' in html
    assert_layout(response)
    assert not Visit.objects.exists()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_a_copay_needs_its_method_and_receipt(client: Client, front_desk, appointment) -> None:
    client.force_login(front_desk)
    response = client.post(f"/flow/check-in/{appointment.pk}/", {"copay_amount": "20"})
    html = response.content.decode()
    assert "Payment method: Choose how the patient paid." in html
    assert "Receipt number: Enter the receipt number" in html
    assert not Visit.objects.exists()


def test_garbage_forms_signed_is_refused(client: Client, front_desk, appointment) -> None:
    client.force_login(front_desk)
    response = client.post(f"/flow/check-in/{appointment.pk}/", {"forms_signed": ["bogus"]})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Visit.objects.exists()


def test_a_nurse_cannot_check_in(client: Client, nurse, appointment) -> None:
    client.force_login(nurse)
    assert client.get(f"/flow/check-in/{appointment.pk}/").status_code == 403
    assert client.post(f"/flow/check-in/{appointment.pk}/", {}).status_code == 403


def test_checking_in_twice_sends_the_desk_to_the_board(client: Client, front_desk, visit) -> None:
    client.force_login(front_desk)
    response = client.post(f"/flow/check-in/{visit.appointment_id}/", {}, follow=True)
    assert "was already checked in" in response.content.decode()
    assert Visit.objects.count() == 1


def test_demographics_are_edited_in_place(client: Client, front_desk, appointment, patient) -> None:
    client.force_login(front_desk)
    url = f"/flow/check-in/{appointment.pk}/demographics/"
    form = client.get(url, headers=HTMX)
    assert form.status_code == 200
    assert "<html" not in form.content.decode()
    assert 'name="phone"' in form.content.decode()

    bad = client.post(url, {"phone": "12", "preferred_language": "English"}, headers=HTMX)
    assert "Enter a 10-digit phone number" in bad.content.decode()

    data = {
        "preferred_name": "Hattie",
        "phone": "555 123 4567",
        "email": patient.email,
        "address_line1": patient.address_line1,
        "address_line2": "",
        "city": patient.city,
        "state": patient.state,
        "postal_code": "12345",
        "preferred_language": "English",
    }
    saved = client.post(url, data, headers=HTMX)
    assert "Changes saved." in saved.content.decode()
    assert "(555) 123-4567" in saved.content.decode()
    patient.refresh_from_db()
    assert (patient.preferred_name, patient.phone) == ("Hattie", "(555) 123-4567")
    entry = AuditEvent.objects.filter(action="update", object_type="core.patient").get()
    assert "phone" in entry.changes
    assert "preferred_name" in entry.changes
    # without htmx, the same URL is a full page
    assert_layout(client.get(url))


def test_eligibility_is_marked_verified_from_the_check_in_screen(
    client: Client, front_desk, appointment, patient
) -> None:
    coverage = CoverageFactory(patient=patient, effective_from=dt.date(2000, 1, 1))
    client.force_login(front_desk)
    response = client.post(
        f"/flow/check-in/{appointment.pk}/coverage/{coverage.pk}/verify/", headers=HTMX
    )
    assert response.status_code == 200
    assert "marked verified today" in response.content.decode()
    coverage.refresh_from_db()
    assert coverage.eligibility_verified_at is not None
    other = CoverageFactory(patient=PatientFactory(clinic=patient.clinic))
    assert (
        client.post(f"/flow/check-in/{appointment.pk}/coverage/{other.pk}/verify/").status_code
        == 404
    )


# --- walk-in ------------------------------------------------------------------------------


def test_a_walk_in_from_search_to_board(
    client: Client, front_desk, patient, provider, visit_type, schedule
) -> None:
    client.force_login(front_desk)
    found = client.get("/flow/walk-in/?q=quimby")
    assert f"?patient={patient.pk}" in found.content.decode()
    assert_layout(found)
    form = client.get(f"/flow/walk-in/?patient={patient.pk}")
    assert form.status_code == 200
    assert_layout(form)
    response = client.post(
        "/flow/walk-in/",
        {
            "patient": patient.pk,
            "provider": provider.pk,
            "appointment_type": visit_type.pk,
            "submission_key": submission_key(form),
        },
        follow=True,
    )
    assert "is checked in as a walk-in" in response.content.decode()
    visit = Visit.objects.get()
    assert visit.is_walk_in
    assert visit.appointment.booked_by == front_desk


@pytest.mark.parametrize("value", ["abc", "-1", "1" * 40, "99999999"])
def test_a_walk_in_with_a_bad_patient_id_is_not_found(client: Client, front_desk, value) -> None:
    client.force_login(front_desk)
    assert client.get(f"/flow/walk-in/?patient={value}").status_code == 404


def test_a_walk_in_form_with_bad_input_says_so(
    client: Client, front_desk, patient, schedule
) -> None:
    client.force_login(front_desk)
    response = client.post(
        "/flow/walk-in/", {"patient": patient.pk, "provider": "x", "copay_amount": "-1"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Provider:" in html
    assert "cannot be negative" in html
    assert not Visit.objects.exists()


# --- checkout -----------------------------------------------------------------------------


def ready(visit: Visit, nurse, rooms) -> Visit:
    for to, room in (("roomed", rooms[0]), ("with_provider", None), ("ready_for_checkout", None)):
        visit = moves.move_visit(
            actor=nurse, visit=visit, to_step=to, expected_step=visit.step, room=room
        )
    return visit


def test_checkout_with_a_balance_and_a_follow_up_then_print(
    client: Client, front_desk, nurse, visit, rooms, visit_type, provider
) -> None:
    visit = ready(visit, nurse, rooms)
    client.force_login(front_desk)
    page = client.get(f"/flow/visits/{visit.pk}/checkout/")
    assert page.status_code == 200
    assert_layout(page)

    slots = client.get(
        f"/flow/visits/{visit.pk}/follow-up/",
        {
            "appointment_type": visit_type.pk,
            "provider": provider.pk,
            "within": "2w",
            "time_of_day": "any",
        },
        headers=HTMX,
    )
    html = slots.content.decode()
    assert "<html" not in html
    starts = re.findall(r'name="start" value="([^"]+)"', html)
    assert len(starts) == 6
    booked = client.post(
        f"/flow/visits/{visit.pk}/follow-up/",
        {
            "start": starts[0],
            "provider": provider.pk,
            "appointment_type": visit_type.pk,
            "submission_key": submission_key(slots),
        },
        headers=HTMX,
    )
    assert "Follow-up booked:" in booked.content.decode()
    visit.refresh_from_db()
    assert visit.follow_up is not None
    assert dt.datetime.fromisoformat(starts[0]) == visit.follow_up.start

    response = client.post(
        f"/flow/visits/{visit.pk}/checkout/",
        {
            "expected": "ready_for_checkout",
            "balance_amount": "15",
            "balance_method": "cash",
            "balance_receipt": "B-1",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/flow/visits/{visit.pk}/summary/"
    visit.refresh_from_db()
    assert visit.step == Step.CHECKED_OUT

    summary = client.get(response["Location"])
    assert summary.status_code == 200
    assert "Next appointment" in summary.content.decode()
    assert_layout(summary)
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.PRINT, patient_id=visit.patient_id
    ).exists()


def test_a_taken_follow_up_slot_is_reported_on_the_screen(
    client: Client, front_desk, visit, visit_type, provider
) -> None:
    slot = availability.find_slots(
        clinic=visit.clinic,
        appointment_type=visit_type,
        provider=provider,
        start_date=visit.clinic.today() + dt.timedelta(days=14),
    )[0]
    AppointmentFactory(
        clinic=visit.clinic,
        patient=PatientFactory(clinic=visit.clinic),
        provider=provider,
        appointment_type=visit_type,
        start=slot.start,
    )
    client.force_login(front_desk)
    response = client.post(
        f"/flow/visits/{visit.pk}/follow-up/",
        {
            "start": slot.start.isoformat(),
            "provider": provider.pk,
            "appointment_type": visit_type.pk,
            "submission_key": uuid.uuid4().hex,
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "just taken" in response.content.decode()
    visit.refresh_from_db()
    assert visit.follow_up is None


@pytest.mark.parametrize("start", ["tomorrow", "2027-01-01T09:00", ""])
def test_a_malformed_follow_up_time_is_refused(
    client: Client, front_desk, visit, visit_type, provider, start
):
    client.force_login(front_desk)
    response = client.post(
        f"/flow/visits/{visit.pk}/follow-up/",
        {"start": start, "provider": provider.pk, "appointment_type": visit_type.pk},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert 'class="callout callout--danger"' in response.content.decode()


def test_checkout_before_ready_is_refused(client: Client, front_desk, visit) -> None:
    client.force_login(front_desk)
    response = client.post(f"/flow/visits/{visit.pk}/checkout/", {"expected": "checked_in"})
    assert response.status_code == 200
    assert "cannot be checked out" in response.content.decode()
    visit.refresh_from_db()
    assert visit.step == Step.CHECKED_IN


def test_a_bad_balance_is_refused(client: Client, front_desk, nurse, visit, rooms) -> None:
    visit = ready(visit, nurse, rooms)
    client.force_login(front_desk)
    response = client.post(
        f"/flow/visits/{visit.pk}/checkout/",
        {
            "expected": "ready_for_checkout",
            "balance_amount": "-40",
            "balance_method": "cash",
            "balance_receipt": "x",
        },
    )
    assert response.status_code == 200
    assert "Balance collected: The amount cannot be negative." in response.content.decode()
    visit.refresh_from_db()
    assert visit.step == Step.READY_FOR_CHECKOUT


def test_a_nurse_cannot_check_out(client: Client, nurse, visit) -> None:
    client.force_login(nurse)
    assert client.get(f"/flow/visits/{visit.pk}/checkout/").status_code == 403


# --- rooms and settings -------------------------------------------------------------------


def test_the_room_board_and_cleaning(client: Client, nurse, visit, rooms) -> None:
    moves.move_visit(
        actor=nurse, visit=visit, to_step="roomed", expected_step="checked_in", room=rooms[0]
    )
    moves.move_visit(
        actor=nurse, visit=visit, to_step="left_without_being_seen", expected_step="roomed"
    )
    client.force_login(nurse)
    page = client.get("/flow/rooms/")
    assert page.status_code == 200
    assert "Needs cleaning" in page.content.decode()
    assert_layout(page)
    response = client.post(f"/flow/rooms/{rooms[0].pk}/clean/", headers=HTMX)
    assert "Exam 1 is clean and free." in response.content.decode()
    assert "<html" not in response.content.decode()
    other_room = rooms[0].__class__.objects.create(clinic=ClinicFactory(name="Far"), name="Far 1")
    assert client.post(f"/flow/rooms/{other_room.pk}/clean/").status_code == 404


def test_the_room_board_audits_the_patients_it_shows(client: Client, nurse, visit, rooms) -> None:
    moves.move_visit(
        actor=nurse, visit=visit, to_step="roomed", expected_step="checked_in", room=rooms[0]
    )
    client.force_login(nurse)
    client.get("/flow/rooms/")
    client.get("/flow/rooms/", headers=POLL)
    entry = AuditEvent.objects.get(object_type="patientflow.room_board")
    assert entry.changes == {"patient_ids": [visit.patient_id]}


def test_a_manager_sets_the_alert_times(client: Client, manager, flow_clinic) -> None:
    client.force_login(manager)
    page = client.get("/flow/settings/")
    assert page.status_code == 200
    assert_layout(page)
    data = {
        "checked_in_amber": "10",
        "checked_in_red": "20",
        "roomed_amber": "20",
        "roomed_red": "40",
        "with_provider_amber": "30",
        "with_provider_red": "60",
        "ready_for_checkout_amber": "10",
        "ready_for_checkout_red": "5",
    }
    bad = client.post("/flow/settings/", data)
    assert "Red must be more minutes than amber." in bad.content.decode()
    assert not StepThreshold.objects.exists()
    data["ready_for_checkout_red"] = "15"
    assert client.post("/flow/settings/", data).status_code == 302
    assert StepThreshold.objects.get(clinic=flow_clinic, step="checked_in").amber_minutes == 10
    data["roomed_amber"] = "ten"
    assert client.post("/flow/settings/", data).status_code == 200


def test_the_front_desk_cannot_change_the_alert_times(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    assert client.get("/flow/settings/").status_code == 403


def test_the_navigation_offers_the_flow_board(client: Client, nurse, make_user) -> None:
    client.force_login(nurse)
    assert 'href="/flow/"' in client.get("/").content.decode()
    client.force_login(make_user(roles.BILLER))
    assert 'href="/flow/"' not in client.get("/").content.decode()


def test_yesterdays_visits_are_not_on_todays_board(
    client: Client, front_desk, make_appointment
) -> None:
    appt = make_appointment(minutes_from_now=-24 * 60)
    checkin.check_in(actor=front_desk, appointment=appt, now=timezone.now() - dt.timedelta(days=1))
    client.force_login(front_desk)
    assert 'class="flow-row' not in client.get("/flow/").content.decode()
