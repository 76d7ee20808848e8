"""Patient search, registration, edit, the patient page and coverage screens."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Coverage, Patient
from clinicops.core.tests.factories import CoverageFactory, PatientFactory, PayerFactory
from clinicops.core.views import page_after_switch

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/patients/"}


@pytest.fixture
def desk(client: Client, front_desk) -> Client:
    client.force_login(front_desk)
    return client


@pytest.fixture
def smiths(clinic) -> dict[str, Patient]:
    return {
        "jo": PatientFactory(
            clinic=clinic,
            first_name="Joanna",
            last_name="Smith",
            date_of_birth=date(1980, 5, 17),
            phone="(312) 555-0142",
        ),
        "al": PatientFactory(
            clinic=clinic,
            first_name="Albert",
            last_name="Smithson",
            date_of_birth=date(1975, 1, 2),
            phone="(312) 555-0199",
        ),
        "other": PatientFactory(
            clinic=clinic, first_name="Jo", last_name="Brown", date_of_birth=date(2001, 9, 9)
        ),
    }


def found(response) -> set[str]:
    """The MRNs listed in a search response."""
    return set(re.findall(r'<td class="mrn">(\d+)</td>', response.content.decode()))


# ---------- search ----------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("smi", {"jo", "al"}),
        ("SMITHSON", {"al"}),
        ("smith, jo", {"jo"}),
        ("jo smith", {"jo"}),
        ("05/17/1980", {"jo"}),
        ("1980-05-17", {"jo"}),
        ("312-555-0199", {"al"}),
        ("3125550142", {"jo"}),
        ("brown", {"other"}),
        ("nobody", set()),
    ],
)
def test_search_finds_patients_by_name_dob_and_phone(desk, smiths, query, expected) -> None:
    response = desk.get("/patients/", {"q": query})
    assert response.status_code == 200
    assert found(response) == {smiths[key].mrn for key in expected}


def test_search_finds_by_mrn(desk, smiths) -> None:
    mrn = smiths["al"].mrn
    assert found(desk.get("/patients/", {"q": mrn})) == {mrn}


def test_search_is_limited_to_the_current_clinic(
    client: Client, make_user, clinic, other_clinic
) -> None:
    user = make_user(roles.FRONT_DESK, clinics=[clinic, other_clinic])
    here = PatientFactory(clinic=clinic, last_name="Varga")
    there = PatientFactory(clinic=other_clinic, last_name="Varga")
    client.force_login(user)
    client.post("/clinic/switch/", {"clinic": clinic.pk})
    assert found(client.get("/patients/?q=varga")) == {here.mrn}
    client.post("/clinic/switch/", {"clinic": other_clinic.pk})
    assert found(client.get("/patients/?q=varga")) == {there.mrn}


def test_htmx_search_returns_only_the_results_fragment(desk, smiths) -> None:
    response = desk.get("/patients/", {"q": "smi"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="search-results"')
    assert "<html" not in html
    assert "Find a patient" not in html
    assert found(response) == {smiths["jo"].mrn, smiths["al"].mrn}
    assert "HX-Request" in response["Vary"]
    assert "no-store" in response["Cache-Control"]


def test_full_page_search_and_history_restore_render_the_whole_page(desk, smiths) -> None:
    for headers in ({}, {**HTMX, "HX-History-Restore-Request": "true"}):
        html = desk.get("/patients/", {"q": "smi"}, headers=headers).content.decode()
        assert "<html" in html
        assert '<label class="search-form__label" for="patient-q">Find a patient</label>' in html
        assert 'value="smi"' in html
        assert 'hx-trigger="input changed delay:250ms, search"' in html
        assert 'hx-push-url="true"' in html


def test_a_search_with_results_is_audited_once_without_the_query(
    desk, smiths, front_desk, clinic
) -> None:
    desk.get("/patients/", {"q": "smith, jo"})
    event = AuditEvent.objects.get(action=AuditEvent.Action.SEARCH)
    assert event.actor == front_desk
    assert event.clinic_id == clinic.pk
    assert event.changes == {"patient_ids": [smiths["jo"].pk]}
    assert "smith" not in event.summary.lower()
    assert "9-character" in event.summary


def test_empty_and_fruitless_searches_are_not_audited(desk, smiths) -> None:
    desk.get("/patients/")
    desk.get("/patients/", {"q": "   "})
    desk.get("/patients/", {"q": "zzzz"})
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).exists()


def test_no_results_offers_registration_to_those_who_may(client, make_user, smiths) -> None:
    client.force_login(make_user(roles.FRONT_DESK))
    html = client.get("/patients/", {"q": "zzzz"}).content.decode()
    assert "No patients match" in html
    assert ">Register a new patient</a>" in html
    client.force_login(make_user(roles.NURSE))
    html = client.get("/patients/", {"q": "zzzz"}).content.decode()
    assert "No patients match" in html
    assert "Register a new patient" not in html


def test_more_than_25_matches_asks_to_refine(desk, clinic) -> None:
    PatientFactory.create_batch(27, clinic=clinic, last_name="Okafor")
    response = desk.get("/patients/", {"q": "oka"})
    assert len(found(response)) == 25
    assert "More than 25 matches: refine your search" in response.content.decode()


def test_results_show_dob_with_age_sex_and_phone(desk, smiths, clinic) -> None:
    html = desk.get("/patients/", {"q": "smithson"}).content.decode()
    age = smiths["al"].age_on(clinic.today())
    assert f'01/02/1975 <span class="muted">({age} years)</span>' in html
    assert "Male" in html or "Female" in html
    assert "(312) 555-0199" in html


def test_search_is_forbidden_without_view_patient(client, make_user) -> None:
    client.force_login(make_user(roles.ADMINISTRATOR))
    assert client.get("/patients/?q=a").status_code == 403


def test_a_very_long_or_odd_query_is_harmless(desk, smiths) -> None:
    for query in ["x" * 5000, "%_\\'\"<script>", "13/45/2020", "((((", "0"]:
        response = desk.get("/patients/", {"q": query})
        assert response.status_code == 200
        assert "<script>" not in response.content.decode().split("</head>")[1]


# ---------- registration ----------

VALID = {
    "first_name": "Maya",
    "last_name": "Okonkwo",
    "date_of_birth": "1992-07-04",
    "sex": "F",
    "phone": "312.555.0188",
    "email": "maya@example.com",
    "preferred_language": "English",
}


def test_registration_form_has_the_labelled_fields(desk) -> None:
    html = desk.get("/patients/new/").content.decode()
    for label in ("First name", "Last name", "Date of birth", "Sex", "Phone"):
        assert re.search(rf'<label class="field__label" for="id_\w+">{label}</label>', html)
    assert 'type="date" name="date_of_birth"' in html
    assert ">Register patient</button>" in html
    assert "register_anyway" not in html  # shown only when a duplicate is found


def test_registering_creates_the_patient_audits_and_redirects(desk, clinic, front_desk) -> None:
    response = desk.post("/patients/new/", VALID, follow=True)
    patient = Patient.objects.get()
    assert response.redirect_chain[-1][0] == f"/patients/{patient.pk}/"
    assert patient.clinic == clinic
    assert patient.mrn
    assert patient.phone == "(312) 555-0188"
    html = response.content.decode()
    assert f"Registered Maya Okonkwo with MRN {patient.mrn}." in html
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE)
    assert event.actor == front_desk
    assert event.patient_id == patient.pk
    assert event.changes["last_name"] == "Okonkwo"
    assert event.changes["mrn"] == patient.mrn


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"first_name": ""}, "first_name", "This field is required."),
        ({"first_name": "R2D2"}, "first_name", "A name cannot contain digits."),
        ({"last_name": "x" * 200}, "last_name", "at most 80 characters"),
        ({"date_of_birth": ""}, "date_of_birth", "This field is required."),
        ({"date_of_birth": "2020-13-45"}, "date_of_birth", "Enter a valid date."),
        ({"date_of_birth": "1850-01-01"}, "date_of_birth", "more than 120 years ago"),
        ({"sex": ""}, "sex", "This field is required."),
        ({"sex": "Q"}, "sex", "Select a valid choice."),
        ({"phone": "555-12"}, "phone", "Enter a 10-digit phone number"),
        ({"phone": "call me maybe"}, "phone", "Enter a 10-digit phone number"),
        ({"email": "maya@"}, "email", "Enter a valid email address."),
        ({"postal_code": "ABCDE"}, "postal_code", "Enter a 5-digit ZIP code"),
    ],
)
def test_registration_validation_names_the_field_and_saves_nothing(
    desk, changes, field, message
) -> None:
    response = desk.post("/patients/new/", {**VALID, **changes})
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert f'id="id_{field}_error"' in html
    assert 'aria-invalid="true"' in html
    assert 'class="error-summary"' in html
    assert f'href="#id_{field}"' in html  # the summary links to the field
    assert Patient.objects.count() == 0
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CREATE).exists()


def test_a_birth_date_in_the_future_is_refused(desk, clinic) -> None:
    tomorrow = clinic.today() + timedelta(days=1)
    response = desk.post("/patients/new/", {**VALID, "date_of_birth": tomorrow.isoformat()})
    assert "Date of birth cannot be in the future." in response.content.decode()
    assert Patient.objects.count() == 0


def test_us_style_birth_date_is_accepted(desk) -> None:
    desk.post("/patients/new/", {**VALID, "date_of_birth": "07/04/1992"})
    assert Patient.objects.get().date_of_birth == date(1992, 7, 4)


def test_a_duplicate_is_shown_and_needs_an_explicit_override(desk, clinic) -> None:
    existing = PatientFactory(
        clinic=clinic, first_name="MAYA", last_name="okonkwo", date_of_birth=date(1992, 7, 4)
    )

    # first attempt: warned, shown the existing record, nothing saved
    response = desk.post("/patients/new/", VALID)
    html = response.content.decode()
    assert response.status_code == 200
    assert "This patient may already be registered" in html
    assert f'href="/patients/{existing.pk}/"' in html
    assert existing.mrn in html
    assert 'name="register_anyway"' in html
    assert "Register anyway: this is a different person" in html
    assert Patient.objects.count() == 1

    # second attempt with the box ticked: registered
    response = desk.post("/patients/new/", {**VALID, "register_anyway": "on"})
    assert response.status_code == 302
    assert Patient.objects.count() == 2


def test_a_namesake_in_another_clinic_is_not_a_duplicate(desk, other_clinic) -> None:
    PatientFactory(
        clinic=other_clinic, first_name="Maya", last_name="Okonkwo", date_of_birth=date(1992, 7, 4)
    )
    assert desk.post("/patients/new/", VALID).status_code == 302


def test_registration_is_forbidden_for_a_nurse(client, make_user) -> None:
    client.force_login(make_user(roles.NURSE))
    assert client.get("/patients/new/").status_code == 403
    assert client.post("/patients/new/", VALID).status_code == 403
    assert Patient.objects.count() == 0


def test_registration_without_a_clinic_is_refused_with_a_reason(client, make_user) -> None:
    client.force_login(make_user(roles.FRONT_DESK, clinics=[]))
    response = client.get("/patients/new/")
    assert response.status_code == 403
    assert "not assigned to a clinic" in response.content.decode()


# ---------- edit ----------


def test_edit_shows_the_form_and_audits_the_read(desk, smiths, front_desk) -> None:
    patient = smiths["jo"]
    html = desk.get(f"/patients/{patient.pk}/edit/").content.decode()
    assert 'value="Joanna"' in html
    assert ">Save changes</button>" in html
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW)
    assert event.patient_id == patient.pk
    assert event.actor == front_desk


def test_edit_saves_and_audits_the_diff(desk, smiths) -> None:
    patient = smiths["jo"]
    data = {
        "first_name": "Joanna",
        "last_name": "Smith-Lee",
        "date_of_birth": "1980-05-17",
        "sex": patient.sex,
        "phone": patient.phone,
        "email": patient.email,
        "address_line1": patient.address_line1,
        "city": patient.city,
        "state": patient.state,
        "postal_code": patient.postal_code,
        "preferred_language": "Spanish",
    }
    response = desk.post(f"/patients/{patient.pk}/edit/", data, follow=True)
    assert response.redirect_chain[-1][0] == f"/patients/{patient.pk}/"
    assert "Changes saved." in response.content.decode()
    patient.refresh_from_db()
    assert patient.last_name == "Smith-Lee"
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE)
    assert event.changes == {
        "last_name": ["Smith", "Smith-Lee"],
        "preferred_language": ["English", "Spanish"],
    }


def test_edit_without_changes_says_so_and_audits_nothing(desk, clinic) -> None:
    patient = PatientFactory(clinic=clinic, phone="(312) 555-0100", postal_code="60601", state="IL")
    data = {
        name: getattr(patient, name)
        for name in (
            "first_name",
            "last_name",
            "sex",
            "phone",
            "email",
            "address_line1",
            "city",
            "state",
            "postal_code",
            "preferred_language",
        )
    }
    data["date_of_birth"] = patient.date_of_birth.isoformat()
    response = desk.post(f"/patients/{patient.pk}/edit/", data, follow=True)
    assert "Nothing was changed." in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE).exists()


def test_edit_with_bad_input_keeps_the_record(desk, smiths) -> None:
    patient = smiths["jo"]
    response = desk.post(
        f"/patients/{patient.pk}/edit/",
        {"first_name": "", "last_name": "Smith", "date_of_birth": "nope", "sex": "F"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "This field is required." in html
    assert "Enter a valid date." in html
    # the page header still names the stored patient, not the half-typed form
    assert "<h1>Edit Joanna Smith</h1>" in html
    patient.refresh_from_db()
    assert patient.first_name == "Joanna"


def test_another_clinics_patient_cannot_be_edited(desk, other_clinic) -> None:
    theirs = PatientFactory(clinic=other_clinic)
    assert desk.get(f"/patients/{theirs.pk}/edit/").status_code == 404
    assert desk.post(f"/patients/{theirs.pk}/edit/", VALID).status_code == 404


# ---------- detail ----------


def test_patient_page_shows_the_record_and_audits_the_view(desk, smiths, front_desk) -> None:
    patient = smiths["jo"]
    response = desk.get(f"/patients/{patient.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r"<h1>Joanna Smith\s*</h1>", html)
    assert f'<dd class="mrn">{patient.mrn}</dd>' in html
    assert "05/17/1980" in html
    assert "(312) 555-0142" in html
    assert f'href="/patients/{patient.pk}/edit/"' in html
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW)
    assert (event.actor, event.patient_id, event.object_type) == (
        front_desk,
        patient.pk,
        "core.patient",
    )


def test_patient_page_of_another_clinic_is_not_found(desk, other_clinic) -> None:
    theirs = PatientFactory(clinic=other_clinic)
    response = desk.get(f"/patients/{theirs.pk}/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).exists()


def test_patient_page_is_forbidden_without_a_role(client, make_user, smiths) -> None:
    client.force_login(make_user())
    response = client.get(f"/patients/{smiths['jo'].pk}/")
    assert response.status_code == 403
    assert "have access to this page" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).exists()


def test_a_nurse_sees_the_patient_but_no_edit_link(client, make_user, smiths) -> None:
    client.force_login(make_user(roles.NURSE))
    patient = smiths["jo"]
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    assert f"/patients/{patient.pk}/edit/" not in html
    assert "Add coverage" not in html


def test_patient_page_flags_missing_and_expired_coverage(desk, smiths) -> None:
    patient = smiths["jo"]
    html = desk.get(f"/patients/{patient.pk}/").content.decode()
    assert "No active insurance coverage on file." in html
    assert "No insurance on file" in html

    today = patient.clinic.today()
    CoverageFactory(
        patient=patient,
        payer=PayerFactory(name="Aetna"),
        effective_from=today - timedelta(days=400),
        effective_to=today - timedelta(days=30),
    )
    html = desk.get(f"/patients/{patient.pk}/").content.decode()
    assert "No active insurance coverage on file." in html
    assert "Expired" in html
    assert "Not verified" in html

    CoverageFactory(
        patient=patient,
        payer=PayerFactory(name="Cigna"),
        effective_from=today - timedelta(days=10),
        eligibility_verified_at=timezone.now(),
    )
    html = desk.get(f"/patients/{patient.pk}/").content.decode()
    assert "No active insurance coverage on file." not in html
    assert "Active" in html
    assert "Verified" in html


# ---------- coverage ----------


def test_adding_coverage_saves_audits_and_returns_to_the_patient(desk, smiths) -> None:
    patient = smiths["jo"]
    payer = PayerFactory(name="UnitedHealthcare")
    response = desk.post(
        f"/patients/{patient.pk}/coverage/new/",
        {
            "payer": payer.pk,
            "priority": 1,
            "member_id": "UHC998877",
            "subscriber_relationship": "self",
            "effective_from": "2025-01-01",
            "eligibility_verified": "on",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/patients/{patient.pk}/"
    coverage = Coverage.objects.get(patient=patient)
    assert coverage.member_id == "UHC998877"
    assert coverage.eligibility_verified_at is not None
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CREATE, object_type="core.coverage", patient_id=patient.pk
    ).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"effective_to": "2024-01-01"}, "The end date must be on or after the start date."),
        ({"subscriber_relationship": "spouse"}, "Enter the subscriber&#x27;s name"),
        ({"payer": "999999"}, "Select a valid choice."),
        ({"member_id": ""}, "This field is required."),
        ({"effective_from": "soon"}, "Enter a valid date."),
    ],
)
def test_coverage_validation_saves_nothing(desk, smiths, changes, message) -> None:
    payer = PayerFactory(name="Aetna")
    data = {
        "payer": payer.pk,
        "priority": 1,
        "member_id": "A1",
        "subscriber_relationship": "self",
        "effective_from": "2025-01-01",
        **changes,
    }
    response = desk.post(f"/patients/{smiths['jo'].pk}/coverage/new/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Coverage.objects.exists()


def test_editing_coverage_audits_the_change(desk, smiths) -> None:
    coverage = CoverageFactory(patient=smiths["jo"], member_id="OLD")
    url = f"/patients/{smiths['jo'].pk}/coverage/{coverage.pk}/edit/"
    assert 'value="OLD"' in desk.get(url).content.decode()
    response = desk.post(
        url,
        {
            "payer": coverage.payer_id,
            "priority": coverage.priority,
            "member_id": "NEW",
            "group_number": coverage.group_number,
            "subscriber_relationship": "self",
            "effective_from": coverage.effective_from.isoformat(),
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE)
    assert event.changes == {"member_id": ["OLD", "NEW"]}


def test_coverage_of_another_patient_or_clinic_is_not_found(desk, smiths, other_clinic) -> None:
    theirs = CoverageFactory(patient=PatientFactory(clinic=other_clinic))
    mine = smiths["jo"]
    assert desk.get(f"/patients/{theirs.patient_id}/coverage/new/").status_code == 404
    assert desk.get(f"/patients/{theirs.patient_id}/coverage/{theirs.pk}/edit/").status_code == 404
    # a coverage id under the wrong patient is not found either
    assert desk.get(f"/patients/{mine.pk}/coverage/{theirs.pk}/edit/").status_code == 404


def test_a_nurse_may_not_add_coverage(client, make_user, smiths) -> None:
    client.force_login(make_user(roles.NURSE))
    assert client.get(f"/patients/{smiths['jo'].pk}/coverage/new/").status_code == 403


# ---------- home, login, clinic switch ----------


def test_home_greets_and_offers_what_the_role_can_use(client, make_user, clinic) -> None:
    client.force_login(make_user(roles.FRONT_DESK, first_name="Rosa"))
    html = client.get("/").content.decode()
    assert ", Rosa</h1>" in html
    assert clinic.today().strftime("%B") in html
    assert clinic.time_zone in html
    assert 'href="/patients/"' in html
    assert 'href="/patients/new/"' in html
    assert "/compliance/audit/" not in html

    client.force_login(make_user(roles.COMPLIANCE))
    html = client.get("/").content.decode()
    assert 'href="/compliance/audit/"' in html
    assert 'href="/patients/new/"' not in html


@pytest.mark.parametrize(
    ("why", "text"),
    [
        ("idle", "You were logged out after 15 minutes without activity"),
        ("expired", "reached its 12-hour limit"),
        ("", None),
    ],
)
def test_login_page_explains_why_you_were_logged_out(client, why, text) -> None:
    html = client.get("/login/", {"why": why}).content.decode()
    assert '<label class="field__label" for="id_username">Username</label>' in html
    assert '<label class="field__label" for="id_password">Password</label>' in html
    assert ">Log in</button>" in html
    if text:
        assert text in html
    else:
        assert "without activity" not in html
        assert "limit" not in html


def test_a_failed_login_shows_an_error(client, front_desk) -> None:
    html = client.post("/login/", {"username": "frontdesk", "password": "nope"}).content.decode()
    assert 'class="callout callout--danger"' in html
    assert "correct username and password" in html


@pytest.mark.parametrize(
    ("next_url", "lands"),
    [
        ("/patients/?q=smi", "/patients/?q=smi"),
        ("/patients/", "/patients/"),
        ("/patients/12/", "/patients/"),
        ("/patients/12/coverage/3/edit/", "/patients/"),
        ("/", "/"),
        ("/12/", "/"),
    ],
)
def test_switching_clinic_leaves_the_old_clinics_records(next_url, lands) -> None:
    assert page_after_switch(next_url) == lands


def test_logout_is_a_post(desk) -> None:
    html = desk.get("/").content.decode()
    assert re.search(r'<form method="post" action="/logout/">', html)
    assert desk.get("/logout/").status_code == 405
    assert desk.post("/logout/").status_code == 302
