"""The incident screens: permissions, clinic scoping (404), bad input answered on the form,
messages that report what was stored, the audit rows, a flag turned into an incident."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import PatientFactory
from compliance import incidents
from compliance.models import CorrectiveAction, Flag, Incident

from .incident_helpers import add, analysed, report, triaged

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")  # the clinic fixture's zone


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user(roles.COMPLIANCE, username="officer")


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager")


def logged_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def report_data(**fields: str) -> dict[str, str]:
    data = {
        "kind": "incident",
        "title": "Patient slipped in the corridor",
        "description": "Wet floor after cleaning, no sign.",
        "location": "Corridor B",
        "occurred_at": timezone.localtime(timezone.now() - timedelta(hours=3), NEW_YORK).strftime(
            "%Y-%m-%dT%H:%M"
        ),
        "category": "fall",
        "harm": "mild",
        "witnesses": "Front desk",
        "submission_key": "key-1",
    }
    data.update(fields)
    return data


def test_the_officer_reports_an_incident_and_the_message_says_what_was_stored(
    client: Client, officer: User, clinic: Clinic
) -> None:
    patient = PatientFactory(clinic=clinic)
    response = logged_in(client, officer).post(
        reverse("compliance:incident_create"), report_data(patient_mrn=patient.mrn), follow=True
    )
    incident = Incident.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "compliance:incident_detail", args=[incident.pk]
    )
    html = response.content.decode()
    assert (
        f"Incident {incident.pk} reported: “Patient slipped in the corridor”, fall, mild harm."
        in html
    )
    assert (incident.patient, incident.reported_by, incident.clinic) == (patient, officer, clinic)
    # the local wall-clock time typed is the clinic's (New York), stored as UTC
    assert (
        timezone.localtime(incident.occurred_at, clinic.tz).strftime("%Y-%m-%dT%H:%M")
        == (report_data()["occurred_at"])
    )
    assert AuditEvent.objects.filter(
        object_type="compliance.incident", action="create", patient_id=patient.pk
    ).exists()
    # the page naming a patient was read: audited
    assert AuditEvent.objects.filter(
        object_type="compliance.incident", action="view", actor=officer
    ).exists()


def test_the_same_report_sent_twice_stores_one(client: Client, officer: User) -> None:
    client = logged_in(client, officer)
    client.post(reverse("compliance:incident_create"), report_data())
    response = client.post(reverse("compliance:incident_create"), report_data(), follow=True)
    assert Incident.objects.count() == 1
    assert "This was sent twice; nothing new was stored." in response.content.decode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "  "}, "Short title: Give the incident a short title."),
        ({"occurred_at": "2026-13-45T10:00"}, "When: Enter a valid date/time."),
        ({"occurred_at": "9999-01-01T10:00"}, "When: Enter a date between"),
        ({"category": "gossip"}, "Category: Select a valid choice."),
        ({"kind": "near_miss", "harm": "severe"}, "did not reach anyone"),
        ({"patient_mrn": "NOPE"}, "No patient with MRN NOPE at"),
        ({"submission_key": ""}, "This screen is out of date"),
    ],
)
def test_bad_input_is_answered_on_the_form_and_stores_nothing(
    client: Client, officer: User, fields: dict[str, str], message: str
) -> None:
    response = logged_in(client, officer).post(
        reverse("compliance:incident_create"), report_data(**fields)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Incident.objects.exists()


def test_another_clinics_incident_and_its_actions_are_not_found(
    client: Client,
    officer: User,
    clinic: Clinic,
    other_clinic: Clinic,
    make_user: Callable[..., User],
) -> None:
    theirs_officer = make_user(roles.COMPLIANCE, clinics=[other_clinic], username="theirs")
    theirs = triaged(theirs_officer, other_clinic)
    action = add(theirs_officer, theirs, theirs_officer)
    client = logged_in(client, officer)
    for url in (
        reverse("compliance:incident_detail", args=[theirs.pk]),
        reverse("compliance:incident_events", args=[theirs.pk]),
    ):
        assert client.get(url).status_code == 404
    for url, data in (
        (reverse("compliance:incident_close", args=[theirs.pk]), {"close-reason": "x"}),
        (reverse("compliance:action_done", args=[action.pk]), {f"a{action.pk}-done-note": "x"}),
        (
            reverse("compliance:action_reassign", args=[action.pk]),
            {f"a{action.pk}-reassign-owner": officer.pk, f"a{action.pk}-reassign-reason": "x"},
        ),
        (reverse("compliance:incident_move", args=[theirs.pk, "investigate"]), {}),
    ):
        assert client.post(url, data).status_code == 404
    assert Incident.objects.get(pk=theirs.pk).status == "triaged"


def test_roles_each_get_what_their_permissions_allow(
    client: Client, officer: User, manager: User, clinic: Clinic, make_user: Callable[..., User]
) -> None:
    incident = report(officer, clinic)
    nurse = make_user(roles.NURSE, username="nurse")
    detail = reverse("compliance:incident_detail", args=[incident.pk])
    triage = reverse("compliance:incident_triage", args=[incident.pk])

    nurse_client = Client()
    nurse_client.force_login(nurse)
    assert nurse_client.get(reverse("compliance:incident_list")).status_code == 403
    assert nurse_client.get(detail).status_code == 403
    assert nurse_client.get(reverse("compliance:incident_create")).status_code == 403

    # the manager reads and reports, but does not triage or close
    manager_client = logged_in(client, manager)
    assert manager_client.get(detail).status_code == 200
    assert manager_client.get(reverse("compliance:incident_monthly")).status_code == 200
    assert manager_client.post(triage, {"triage-priority": "low"}).status_code == 403
    assert (
        manager_client.post(
            reverse("compliance:incident_close", args=[incident.pk]), {"close-reason": "x"}
        ).status_code
        == 403
    )
    assert Incident.objects.get(pk=incident.pk).status == "reported"


def test_the_officer_works_an_incident_through_the_pages(
    client: Client, officer: User, manager: User, clinic: Clinic
) -> None:
    client = logged_in(client, officer)
    incident = report(officer, clinic)
    pk = incident.pk

    response = client.post(
        reverse("compliance:incident_triage", args=[pk]),
        {
            "triage-expected": "reported",
            "triage-priority": "high",
            "triage-lead": officer.pk,
            "triage-category": "fall",
            "triage-harm": "moderate",
            "triage-note": "Seen at once",
        },
        follow=True,
    )
    assert "triaged: high priority, led by" in response.content.decode()
    client.post(
        reverse("compliance:incident_move", args=[pk, "investigate"]), {"expected": "triaged"}
    )
    response = client.post(
        reverse("compliance:incident_move", args=[pk, "plan"]), {"expected": "investigating"}
    )
    assert "The analysis is not finished" in response.content.decode()
    response = client.post(
        reverse("compliance:incident_analysis", args=[pk]),
        {
            "rca-why_1": "Floor wet",
            "rca-why_2": "Cleaning at opening time",
            "rca-fishbone_environment": "No sign",
            "rca-root_cause": "Cleaning rota clashes with opening",
        },
        follow=True,
    )
    assert "2 why(s), 1 fishbone category, root cause written" in response.content.decode()
    due = (clinic.today() + timedelta(days=10)).isoformat()
    response = client.post(
        reverse("compliance:action_add", args=[pk]),
        {
            "action-kind": "preventive",
            "action-description": "Move cleaning to 18:00",
            "action-owner": manager.pk,
            "action-due_date": due,
            "action-submission_key": "a1",
        },
        follow=True,
    )
    action = CorrectiveAction.objects.get()
    assert f"Action {action.pk} added: preventive, owned by" in response.content.decode()
    client.post(
        reverse("compliance:incident_move", args=[pk, "plan"]), {"expected": "investigating"}
    )

    # the owner (a manager) records it done; the officer verifies it; it closes
    manager_client = Client()
    manager_client.force_login(manager)
    manager_client.post(
        reverse("compliance:action_done", args=[action.pk]),
        {f"a{action.pk}-done-note": "Rota changed"},
    )
    response = client.post(
        reverse("compliance:action_verify", args=[action.pk]),
        {
            f"a{action.pk}-verify-effective": "yes",
            f"a{action.pk}-verify-note": "Two weeks, no wet floors",
        },
        follow=True,
    )
    assert f"Action {action.pk} is verified effective." in response.content.decode()
    response = client.post(
        reverse("compliance:incident_close", args=[pk]), {"close-expected": "acting"}, follow=True
    )
    assert f"Incident {pk} closed: every action verified effective." in response.content.decode()
    assert Incident.objects.get(pk=pk).status == "closed"
    # sent again: nothing changes, and it says so
    response = client.post(
        reverse("compliance:incident_close", args=[pk]), {"close-expected": "acting"}, follow=True
    )
    assert "nothing changed the second time" in response.content.decode()


def test_closing_early_without_a_reason_names_the_field(
    client: Client, officer: User, manager: User, clinic: Clinic
) -> None:
    incident = analysed(officer, clinic, manager)
    response = logged_in(client, officer).post(
        reverse("compliance:incident_close", args=[incident.pk]), {"close-expected": "acting"}
    )
    assert response.status_code == 200
    assert "Reason: Incident" in response.content.decode()
    assert "cannot close on its own: 1 action(s) are not verified effective yet" in (
        response.content.decode()
    )
    assert Incident.objects.get(pk=incident.pk).status == "acting"


def test_bad_action_input_names_the_field(client: Client, officer: User, clinic: Clinic) -> None:
    incident = triaged(officer, clinic)
    response = logged_in(client, officer).post(
        reverse("compliance:action_add", args=[incident.pk]),
        {
            "action-kind": "corrective",
            "action-description": "",
            "action-owner": "999999",
            "action-due_date": "2001-01-01",
            "action-submission_key": "k",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Action: Say what will be done." in html
    assert "Owner: Choose someone from the list." in html
    assert "Due date: Choose today or a later day." in html
    assert not CorrectiveAction.objects.exists()


def test_a_flag_is_turned_into_an_incident_and_linked(
    client: Client, officer: User, clinic: Clinic
) -> None:
    flag = Flag.objects.create(
        clinic=clinic,
        description="Vaccine fridge alarm ignored",
        created_at=timezone.now(),
        page="/supplies/",
    )
    client = logged_in(client, officer)
    page = client.get(reverse("compliance:flag_detail", args=[flag.pk])).content.decode()
    assert f"{reverse('compliance:incident_create')}?flag={flag.pk}" in page
    form = client.get(f"{reverse('compliance:incident_create')}?flag={flag.pk}").content.decode()
    assert "Vaccine fridge alarm ignored" in form
    response = client.post(
        f"{reverse('compliance:incident_create')}?flag={flag.pk}",
        report_data(category="device", title="Fridge alarm"),
        follow=True,
    )
    incident = Incident.objects.get()
    assert f"linked to flag {flag.pk}" in response.content.decode()
    assert list(incident.flags.all()) == [flag]
    flag.refresh_from_db()
    assert flag.status == "in_progress"


def test_a_flag_is_linked_to_an_open_incident(
    client: Client, officer: User, clinic: Clinic
) -> None:
    incident = report(officer, clinic)
    flag = Flag.objects.create(clinic=clinic, description="Again", created_at=timezone.now())
    response = logged_in(client, officer).post(
        reverse("compliance:flag_link", args=[flag.pk]), {"incident": incident.pk}, follow=True
    )
    assert f"Flag {flag.pk} is linked to incident {incident.pk}." in response.content.decode()
    assert incident.flags.get() == flag


def test_an_audit_event_is_found_and_linked(client: Client, officer: User, clinic: Clinic) -> None:
    incident = report(officer, clinic)
    event = AuditEvent.objects.filter(object_type="compliance.incident").get()
    client = logged_in(client, officer)
    found = client.get(
        reverse("compliance:incident_events", args=[incident.pk]), {"user": "officer"}
    )
    assert f"#{event.pk}" in found.content.decode()
    response = client.post(
        reverse("compliance:incident_events", args=[incident.pk]),
        {"event-event_id": str(event.pk)},
        follow=True,
    )
    assert (
        f"Audit event {event.pk} is linked to incident {incident.pk}." in response.content.decode()
    )
    bad = client.post(
        reverse("compliance:incident_events", args=[incident.pk]), {"event-event_id": "12x"}
    )
    assert "Audit event id: Enter the event" in bad.content.decode()


def test_the_list_and_monthly_pages_show_stored_counts(
    client: Client, officer: User, clinic: Clinic
) -> None:
    from datetime import datetime

    report(officer, clinic, occurred_at=datetime(2026, 3, 8, 3, 30, tzinfo=clinic.tz))
    report(
        officer,
        clinic,
        kind="near_miss",
        harm="not_reached",
        category="medication",
        occurred_at=datetime(2026, 3, 20, 9, tzinfo=clinic.tz),
    )
    client = logged_in(client, officer)
    listing = client.get(reverse("compliance:incident_list")).content.decode()
    assert listing.count("compliance/incidents/") >= 2 or "Wrong patient" in listing
    monthly = client.get(reverse("compliance:incident_monthly"), {"year": "2026"}).content.decode()
    assert "2 in 2026" in monthly
    assert "<svg" in monthly
    assert "Did not reach a patient or person: 1" in monthly
    assert client.get(reverse("compliance:incident_monthly"), {"year": "\x00"}).status_code == 200


def test_an_actions_owner_and_due_date_change_from_the_page(
    client: Client, officer: User, manager: User, clinic: Clinic
) -> None:
    incident = triaged(officer, clinic)
    action = add(officer, incident, manager)
    client = logged_in(client, officer)
    page = reverse("compliance:incident_detail", args=[incident.pk])
    assert "Change owner or due date" in client.get(page).content.decode()
    url = reverse("compliance:action_reassign", args=[action.pk])
    prefix = f"a{action.pk}-reassign"
    # bad input is answered on the page, naming the fields, and changes nothing
    bad = client.post(
        url, {f"{prefix}-owner": "999999", f"{prefix}-due_date": "soon", f"{prefix}-reason": ""}
    ).content.decode()
    assert "Owner: Choose someone from the list." in bad
    assert "Due date:" in bad
    assert "Why: Say why the owner or due date changes." in bad
    assert CorrectiveAction.objects.get(pk=action.pk).owner == manager
    # a change: the message says what was stored
    due = clinic.today() + timedelta(days=30)
    response = client.post(
        url,
        {
            f"{prefix}-owner": officer.pk,
            f"{prefix}-due_date": due.isoformat(),
            f"{prefix}-reason": "Manager on leave",
        },
        follow=True,
    )
    stored = CorrectiveAction.objects.get(pk=action.pk)
    assert (stored.owner, stored.due_date) == (officer, due)
    assert (
        f"Action {action.pk} is owned by {officer.display_name}, due {due:%a %d %b %Y}."
        in response.content.decode()
    )


def test_mine_lists_the_incidents_i_lead_or_own_an_unfinished_action_of(
    client: Client, officer: User, clinic: Clinic, make_user: Callable[..., User]
) -> None:
    deputy = make_user(roles.COMPLIANCE, username="deputy")
    triaged(officer, clinic, title="Led by the officer")
    owned = triaged(deputy, clinic, title="Officer owns an action")
    add(deputy, owned, officer)
    finished = triaged(deputy, clinic, title="Officer's action cancelled")
    gone = add(deputy, finished, officer)
    incidents.cancel_action(actor=deputy, action=gone, reason="Not needed")
    triaged(deputy, clinic, title="Someone else's")
    client = logged_in(client, officer)
    url = reverse("compliance:incident_list")

    mine = client.get(url, {"status": "open", "mine": "1"}).content.decode()

    assert "Led by the officer" in mine
    assert "Officer owns an action" in mine
    assert "Officer&#x27;s action cancelled" not in mine
    assert "Someone else&#x27;s" not in mine
    assert 'href="?status=triaged&amp;mine=1"' in mine  # the status filters keep "mine"
    everyone = client.get(url, {"status": "open"}).content.decode()
    assert "Someone else&#x27;s" in everyone
    assert "Officer&#x27;s action cancelled" in everyone
    # nothing of the officer's among the closed ones: the calm empty state
    empty = client.get(url, {"status": "closed", "mine": "1"}).content.decode()
    assert "Nothing of yours here." in empty
