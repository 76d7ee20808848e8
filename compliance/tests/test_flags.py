"""Flag a problem: from any page, anonymously or not; the inbox; the reporter follows it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, User
from clinicops.core.tests.factories import PatientFactory
from compliance.models import Flag

pytestmark = pytest.mark.django_db

CREATE = reverse("compliance:flag_create")
INBOX = reverse("compliance:flag_inbox")
MINE = reverse("compliance:my_flags")


@pytest.fixture
def nurse(make_user: Callable[..., User]) -> User:
    return make_user(roles.NURSE, username="nurse", first_name="Nora", last_name="Nurse")


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager")


@pytest.fixture
def nurse_client(client: Client, nurse: User) -> Client:
    client.force_login(nurse)
    return client


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    return PatientFactory(clinic=clinic)


def flag_post(client: Client, **fields: str) -> object:
    data = {"description": "The sharps bin in room 2 is overfull", "urgency": "high"}
    data.update(fields)
    return client.post(CREATE, data)


def test_every_page_carries_the_flag_form_for_a_signed_in_user(nurse_client: Client) -> None:
    for url in (reverse("home"), reverse("supplies:index"), MINE):
        html = nurse_client.get(url, follow=True).content.decode()
        assert f'action="{CREATE}"' in html
        assert 'name="description"' in html


def test_a_nurse_flags_a_problem_from_a_page_and_it_lands_in_the_inbox(
    nurse_client: Client, nurse: User, clinic: Clinic, patient: Patient
) -> None:
    response = flag_post(nurse_client, page="/supplies/?q=Smith", patient_mrn=patient.mrn)
    flag = Flag.objects.get()
    # back to the page it came from, which is stored without its query (it may hold PHI)
    assert response.status_code == 302
    assert response["Location"] == "/supplies/"
    assert (flag.page, flag.clinic, flag.reporter, flag.patient) == (
        "/supplies/",
        clinic,
        nurse,
        patient,
    )
    assert (flag.status, flag.urgency, flag.anonymous) == ("new", "high", False)
    event = AuditEvent.objects.get(object_type="compliance.flag")
    assert (event.actor_id, event.action, event.clinic_id, event.patient_id) == (
        nurse.pk,
        AuditEvent.Action.CREATE,
        clinic.pk,
        patient.pk,
    )
    messages = [str(m) for m in response.wsgi_request._messages]  # type: ignore[attr-defined]
    assert messages == [
        f"Flag {flag.pk} sent to {clinic.name}'s compliance inbox (high urgency). "
        "Follow it under My flags."
    ]


def test_an_anonymous_flag_stores_no_identity_anywhere(
    client: Client, nurse: User, clinic: Clinic
) -> None:
    client.force_login(nurse)
    response = client.post(
        CREATE,
        {"description": "Someone shares passwords", "urgency": "normal", "anonymous": "on"},
        REMOTE_ADDR="192.0.2.44",
    )
    assert response.status_code == 200
    flag = Flag.objects.get()
    assert flag.receipt in response.content.decode()
    assert (flag.reporter_id, flag.anonymous, flag.handled_by_id) == (None, True, None)
    assert (flag.created_at.minute, flag.created_at.second, flag.created_at.microsecond) == (
        0,
        0,
        0,
    )
    event = AuditEvent.objects.get(object_type="compliance.flag")
    assert (event.actor_id, event.actor_label, event.ip_address) == (None, "anonymous", None)
    stored = " ".join(
        str(v)
        for v in (
            *Flag.objects.values_list().get(),
            *AuditEvent.objects.filter(object_type="compliance.flag").values_list().get(),
        )
    )
    assert "nurse" not in stored
    assert "192.0.2.44" not in stored
    # and the receipt never went into the session (which is stored with the user's id)
    for session in Session.objects.all():
        assert flag.receipt not in str(session.get_decoded())
    # the flag is not under My flags, but its receipt finds its status
    mine = client.get(MINE, {"receipt": flag.receipt})
    assert "You have not flagged a problem yet." in mine.content.decode()
    assert "<strong>New</strong>" in mine.content.decode()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"description": "   "}, "This field is required."),
        ({"urgency": "whenever"}, "Select a valid choice"),
        ({"patient_mrn": "99999999"}, "No patient with MRN 99999999"),
        ({"description": "x" * 2001}, "at most 2000 characters"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    nurse_client: Client, fields: dict[str, str], error: str
) -> None:
    response = flag_post(nurse_client, **fields)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Flag.objects.exists()
    assert not AuditEvent.objects.filter(object_type="compliance.flag").exists()


def test_a_patient_of_another_clinic_cannot_be_named(
    nurse_client: Client, other_clinic: Clinic
) -> None:
    stranger = PatientFactory(clinic=other_clinic)
    response = flag_post(nurse_client, patient_mrn=stranger.mrn)
    assert f"No patient with MRN {stranger.mrn}" in response.content.decode()
    assert not Flag.objects.exists()


@pytest.mark.parametrize(
    ("page", "stored", "back"),
    [
        ("//evil.example/phish", "/phish", "/phish"),  # only the path is kept: this site's
        ("https://evil.example/", "/", "/"),
        ("javascript:alert(1)", "", MINE),
        ("", "", MINE),
    ],
)
def test_the_page_is_a_path_on_this_site(
    nurse_client: Client, page: str, stored: str, back: str
) -> None:
    response = flag_post(nurse_client, page=page)
    assert response["Location"] == back
    assert Flag.objects.get().page == stored


def test_the_inbox_is_for_managers_and_compliance_officers_of_the_clinic(
    client: Client,
    nurse: User,
    manager: User,
    compliance_officer: User,
    clinic: Clinic,
    other_clinic: Clinic,
) -> None:
    mine = Flag.objects.create(
        clinic=clinic, reporter=nurse, description="Fridge alarm", created_at="2026-03-02T10:00Z"
    )
    theirs = Flag.objects.create(
        clinic=other_clinic, description="Elsewhere", created_at="2026-03-02T10:00Z"
    )
    client.force_login(nurse)
    assert client.get(INBOX).status_code == 403
    assert client.get(reverse("compliance:flag_detail", args=[mine.pk])).status_code == 403
    for user in (manager, compliance_officer):
        client.force_login(user)
        page = client.get(INBOX).content.decode()
        assert "Fridge alarm" in page
        assert "Elsewhere" not in page
        assert client.get(reverse("compliance:flag_detail", args=[theirs.pk])).status_code == 404


def test_the_officer_resolves_a_flag_and_the_reporter_sees_it(
    client: Client, nurse: User, compliance_officer: User, clinic: Clinic, patient: Patient
) -> None:
    client.force_login(nurse)
    flag_post(client, patient_mrn=patient.mrn)
    flag = Flag.objects.get()
    client.force_login(compliance_officer)
    detail = reverse("compliance:flag_detail", args=[flag.pk])
    # opening a flag that names a patient is a PHI read: audited
    assert client.get(detail).status_code == 200
    assert AuditEvent.objects.filter(
        actor=compliance_officer, action=AuditEvent.Action.VIEW, patient_id=patient.pk
    ).exists()
    bad = client.post(detail, {"status": "fixed", "response": "x"})
    assert "Select a valid choice" in bad.content.decode()
    assert Flag.objects.get().status == "new"
    response = client.post(detail, {"status": "resolved", "response": "Bin replaced."})
    assert response.status_code == 302
    flag.refresh_from_db()
    assert (flag.status, flag.response, flag.handled_by) == (
        "resolved",
        "Bin replaced.",
        compliance_officer,
    )
    update = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE, object_type="compliance.flag")
    assert update.changes == {"status": ["new", "resolved"], "response": ["", "Bin replaced."]}
    client.force_login(nurse)
    mine = client.get(MINE).content.decode()
    assert "Resolved" in mine
    assert "Bin replaced." in mine


def test_the_inbox_filters_by_status(client: Client, manager: User, clinic: Clinic) -> None:
    Flag.objects.create(clinic=clinic, description="Open one", created_at="2026-03-02T10:00Z")
    Flag.objects.create(
        clinic=clinic, description="Done one", status="resolved", created_at="2026-03-02T10:00Z"
    )
    client.force_login(manager)
    assert "Done one" not in client.get(INBOX).content.decode()
    assert "Done one" in client.get(INBOX, {"status": "resolved"}).content.decode()
    assert "Open one" in client.get(INBOX, {"status": "nonsense"}).content.decode()


def test_the_header_form_offers_exactly_the_model_urgencies(nurse_client: Client) -> None:
    html = nurse_client.get(reverse("home")).content.decode()
    offered = re.findall(r'name="urgency" value="(\w+)"', html)
    assert offered == list(Flag.Urgency.values)
    for value, label in Flag.Urgency.choices:
        assert f'for="flag-urgency-{value}">{label}</label>' in html
