"""Break-glass: scoping extended at its one place, the time box, the banner, flagged reads,
roles the setting allows, and the compliance officer's review."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Coverage, Patient, User
from clinicops.core.tests.factories import CoverageFactory, PatientFactory
from compliance import breakglass
from compliance.context_processors import break_glass
from compliance.models import BreakGlassAccess, Incident

pytestmark = pytest.mark.django_db

BREAK = reverse("compliance:break_glass")
REVIEWS = reverse("compliance:break_glass_reviews")


@pytest.fixture
def nurse(make_user: Callable[..., User]) -> User:
    return make_user(roles.NURSE, username="nurse")


@pytest.fixture
def stranger(other_clinic: Clinic) -> Patient:
    """A patient of the other clinic, whom the nurse may not open."""
    return PatientFactory(clinic=other_clinic, last_name="Farrow", first_name="Mia")


@pytest.fixture
def officer_there(make_user: Callable[..., User], other_clinic: Clinic) -> User:
    """The compliance officer of the patient's clinic."""
    return make_user(roles.COMPLIANCE, username="officer-there", clinics=[other_clinic])


def login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def post_break(client: Client, mrn: str, **fields: str):  # type: ignore[no-untyped-def]
    data = {"mrn": mrn, "reason": "emergency", "explanation": "Collapsed in our waiting room"}
    data.update(fields)
    return client.post(BREAK, data)


def detail(patient: Patient) -> str:
    return reverse("core:patient_detail", args=[patient.pk])


def test_scoping_extends_only_to_the_granted_patient_while_the_access_runs(
    nurse: User, stranger: Patient, other_clinic: Clinic
) -> None:
    neighbour = PatientFactory(clinic=other_clinic)
    coverage = CoverageFactory(patient=stranger)
    assert not Patient.objects.for_user(nurse).filter(pk=stranger.pk).exists()

    start = timezone.now()
    breakglass.break_glass(
        user=nurse, patient=stranger, reason="emergency", explanation="Collapsed", now=start
    )
    fresh = User.objects.get(pk=nurse.pk)  # a new request: a new user object
    visible = set(Patient.objects.for_user(fresh).values_list("pk", flat=True))
    assert stranger.pk in visible
    assert neighbour.pk not in visible  # the grant is one patient, not the clinic
    assert Coverage.objects.for_user(fresh).filter(pk=coverage.pk).exists()
    # Superusers and the search within the user's own clinic are unchanged.
    assert (
        not Patient.objects.for_user(fresh)
        .for_clinic(other_clinic)
        .exclude(pk=stranger.pk)
        .exists()
    )


def test_the_access_ends_at_sixty_minutes(nurse: User, stranger: Patient) -> None:
    start = timezone.now()
    access = breakglass.break_glass(
        user=nurse, patient=stranger, reason="emergency", explanation="Collapsed", now=start
    )
    assert access.expires_at - access.started_at == timedelta(minutes=60)
    just_before = access.expires_at - timedelta(seconds=1)
    assert [g.patient_id for g in breakglass.current_grants(nurse, just_before)] == [stranger.pk]
    assert breakglass.current_grants(nurse, access.expires_at) == []


def test_an_expired_access_is_a_404_again_and_the_banner_is_gone(
    client: Client, nurse: User, stranger: Patient
) -> None:
    login(client, nurse)
    breakglass.break_glass(
        user=nurse,
        patient=stranger,
        reason="emergency",
        explanation="Collapsed",
        now=timezone.now() - timedelta(minutes=61),
    )
    breakglass.forget(nurse.pk)
    assert client.get(detail(stranger)).status_code == 404
    assert b"data-break-glass" not in client.get(reverse("home"), follow=True).content


def test_the_minutes_come_from_the_setting(
    settings: SettingsWrapper, nurse: User, stranger: Patient
) -> None:
    settings.BREAK_GLASS_MINUTES = 15
    access = breakglass.break_glass(
        user=nurse, patient=stranger, reason="callback", explanation="Results"
    )
    assert access.expires_at - access.started_at == timedelta(minutes=15)


def test_a_nurse_breaks_the_glass_sees_the_banner_everywhere_and_every_read_is_flagged(
    client: Client, nurse: User, stranger: Patient, clinic: Clinic
) -> None:
    login(client, nurse)
    own = PatientFactory(clinic=clinic)
    assert client.get(detail(stranger)).status_code == 404

    response = post_break(client, stranger.mrn)
    assert response.status_code == 302
    assert response["Location"] == detail(stranger)
    access = BreakGlassAccess.objects.get()
    assert (access.user, access.patient, access.clinic_id) == (nurse, stranger, stranger.clinic_id)
    assert access.review == BreakGlassAccess.Review.PENDING

    page = client.get(detail(stranger))
    assert page.status_code == 200
    html = page.content.decode()
    assert "data-break-glass" in html
    assert stranger.mrn in html
    assert "Emergency access" in html
    for url in (reverse("home"), reverse("core:patient_search"), detail(own)):
        assert b"data-break-glass" in client.get(url, follow=True).content, url

    client.get(detail(stranger))
    reads = AuditEvent.objects.filter(
        actor=nurse, patient_id=stranger.pk, action=AuditEvent.Action.VIEW
    ).order_by("id")
    assert reads.count() == 2
    assert all(event.changes.get("break_glass") == access.pk for event in reads)
    own_read = AuditEvent.objects.filter(actor=nurse, patient_id=own.pk).get()
    assert "break_glass" not in own_read.changes
    created = AuditEvent.objects.get(object_type="compliance.breakglassaccess")
    assert created.changes["break_glass"] == access.pk
    assert created.clinic_id == stranger.clinic_id
    assert set(breakglass.flagged_events(access)) == {created, *reads}


def test_the_same_request_twice_opens_one_access(
    client: Client, nurse: User, stranger: Patient
) -> None:
    login(client, nurse)
    post_break(client, stranger.mrn)
    first = BreakGlassAccess.objects.get()
    post_break(client, stranger.mrn, explanation="Second click")
    assert BreakGlassAccess.objects.get() == first
    assert BreakGlassAccess.objects.get().expires_at == first.expires_at


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"mrn": "99999999"}, "mrn", "No patient has that MRN"),
        ({"mrn": "12ab"}, "mrn", "digits only"),
        ({"explanation": "   "}, "explanation", "Say why"),
        ({"reason": "curious"}, "reason", "Select a valid choice"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    client: Client, nurse: User, stranger: Patient, fields: dict[str, str], field: str, message: str
) -> None:
    login(client, nurse)
    data = {"mrn": stranger.mrn, **fields}
    response = post_break(client, **data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors.get(field, []))
    assert not BreakGlassAccess.objects.exists()
    assert not AuditEvent.objects.filter(object_type="compliance.breakglassaccess").exists()
    refused = AuditEvent.objects.filter(summary__startswith="Break-glass refused")
    assert [e.changes["mrn"] for e in refused] == (
        ["99999999"] if field == "mrn" and "No patient" in message else []
    )


def test_an_own_clinic_patient_needs_no_break_glass(
    client: Client, nurse: User, clinic: Clinic
) -> None:
    own = PatientFactory(clinic=clinic)
    response = post_break(login(client, nurse), own.mrn)
    assert "your own clinic" in " ".join(response.context["form"].errors["mrn"])
    assert not BreakGlassAccess.objects.exists()


def test_a_role_the_setting_does_not_allow_gets_403_and_the_patient_stays_404(
    client: Client, front_desk: User, stranger: Patient
) -> None:
    login(client, front_desk)
    assert client.get(BREAK).status_code == 403
    assert post_break(client, stranger.mrn).status_code == 403
    assert client.get(detail(stranger)).status_code == 404
    assert not BreakGlassAccess.objects.exists()
    with pytest.raises(PermissionDenied):  # from the service too
        breakglass.break_glass(
            user=front_desk, patient=stranger, reason="emergency", explanation="x"
        )


def test_the_setting_decides_which_roles_may(
    settings: SettingsWrapper, client: Client, front_desk: User, stranger: Patient
) -> None:
    settings.BREAK_GLASS_ROLES = (roles.FRONT_DESK,)
    login(client, front_desk)
    assert post_break(client, stranger.mrn).status_code == 302
    assert client.get(detail(stranger)).status_code == 200


def test_patient_search_offers_break_glass_only_to_allowed_roles(
    client: Client, nurse: User, front_desk: User
) -> None:
    url = reverse("core:patient_search") + "?q=12345678"
    assert b"data-break-glass-link" in login(client, nurse).get(url).content
    assert b"mrn=12345678" in client.get(url).content
    assert b"data-break-glass-link" not in login(Client(), front_desk).get(url).content


def test_the_officer_of_the_patients_clinic_approves(
    client: Client, nurse: User, stranger: Patient, officer_there: User, compliance_officer: User
) -> None:
    access = breakglass.break_glass(
        user=nurse, patient=stranger, reason="emergency", explanation="Collapsed"
    )
    login(client, officer_there)
    session = client.session
    session["clinicops_clinic_id"] = stranger.clinic_id
    session.save()
    listing = client.get(REVIEWS).content.decode()
    assert f"#{access.pk}" in listing
    url = reverse("compliance:break_glass_detail", args=[access.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b"Flagged audit events" in page.content
    response = client.post(url, {"outcome": "approved", "note": "Ambulance log matches"})
    assert response.status_code == 302
    stored = BreakGlassAccess.objects.get()
    assert stored.review == "approved"
    assert stored.reviewed_by == officer_there
    assert stored.review_note == "Ambulance log matches"
    # Sent twice: the first decision stands, nothing more is recorded.
    events = AuditEvent.objects.filter(object_type="compliance.breakglassaccess").count()
    client.post(url, {"outcome": "referred", "note": "changed my mind"})
    assert BreakGlassAccess.objects.get().review == "approved"
    assert AuditEvent.objects.filter(object_type="compliance.breakglassaccess").count() == events
    # The officer of the nurse's own clinic does not see another clinic's review.
    other = login(Client(), compliance_officer)
    assert other.get(url).status_code == 404


def test_refer_to_an_incident_records_referred_with_the_note(
    client: Client, nurse: User, stranger: Patient, officer_there: User
) -> None:
    access = breakglass.break_glass(
        user=nurse, patient=stranger, reason="other", explanation="Wanted to check"
    )
    login(client, officer_there)
    url = reverse("compliance:break_glass_detail", args=[access.pk])
    response = client.post(url, {"outcome": "referred", "note": ""})
    assert response.status_code == 200
    assert "Say what the incident is about" in " ".join(response.context["form"].errors["note"])
    assert BreakGlassAccess.objects.get().review == "pending"
    client.post(url, {"outcome": "referred", "note": "No care relationship found"})
    stored = BreakGlassAccess.objects.get()
    assert stored.review == "referred"
    assert stored.review_note == "No care relationship found"
    event = (
        AuditEvent.objects.filter(object_type="compliance.breakglassaccess").order_by("id").last()
    )
    assert event is not None
    assert event.changes["review"] == ["pending", "referred"]
    # The referral opened a privacy incident about the patient, linked to the use and to its
    # flagged audit events, and said so.
    incident = stored.incident
    assert incident is not None
    assert (incident.clinic_id, incident.patient_id) == (stranger.clinic_id, stranger.pk)
    assert (incident.category, incident.status) == ("privacy", "reported")
    assert "No care relationship found" in incident.description
    flagged = set(breakglass.flagged_events(stored).values_list("pk", flat=True))
    assert flagged
    assert set(incident.audit_links.values_list("event_id", flat=True)) == flagged
    page = client.get(url)
    assert f"Incident {incident.pk}" in page.content.decode()
    # Sent again: no second incident.
    client.post(url, {"outcome": "referred", "note": "No care relationship found"})
    assert Incident.objects.count() == 1


def test_nobody_reviews_their_own_access(
    make_user: Callable[..., User], stranger: Patient, other_clinic: Clinic, clinic: Clinic
) -> None:
    both = make_user(roles.NURSE, roles.COMPLIANCE, username="both", clinics=[clinic])
    access = breakglass.break_glass(
        user=both, patient=stranger, reason="emergency", explanation="x"
    )
    with pytest.raises(Exception, match="own emergency access"):
        breakglass.approve(actor=both, access=access)


def test_every_page_reads_the_running_access_with_the_clinics_not_from_the_cache(
    client: Client, nurse: User, stranger: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a running access, and every cache read recorded
    login(client, nurse)
    breakglass.break_glass(user=nurse, patient=stranger, reason="emergency", explanation="Fell")
    asked: list[str] = []
    real_get = breakglass.softcache.get
    monkeypatch.setattr(
        breakglass.softcache, "get", lambda key, *a: asked.append(key) or real_get(key, *a)
    )
    # when: a page with the banner, and the patient's page (scoping asks for the grants too)
    home = client.get(reverse("home")).content.decode()
    patient_page = client.get(detail(stranger))
    # then
    assert "data-break-glass" in home
    assert "Farrow" in home
    assert patient_page.status_code == 200
    assert [key for key in asked if "break-glass" in key] == []


def test_the_banner_costs_no_query_of_its_own(
    client: Client, nurse: User, stranger: Patient
) -> None:
    # given: a page's queries before the nurse breaks the glass
    login(client, nurse)
    page = reverse("core:patient_search")
    client.get(page)
    with CaptureQueriesContext(connection) as before:
        assert b"data-break-glass" not in client.get(page).content
    breakglass.break_glass(user=nurse, patient=stranger, reason="emergency", explanation="Fell")
    client.get(page)
    # when: the same page with the banner
    with CaptureQueriesContext(connection) as during:
        html = client.get(page).content.decode()
    # then: the banner names the patient, read with the user's clinics
    assert "data-break-glass" in html
    assert f"{stranger.full_name} ({stranger.mrn})" in html
    assert detail(stranger) in html
    assert len(during) == len(before), [q["sql"] for q in during]


# templates/_partials/break_glass_banner.html as it was in the template language.
OLD_BANNER = """{% if break_glass_grants %}
<section class="break-glass-banner" aria-label="Emergency access in use" data-break-glass>
  <p class="break-glass-banner__title"><strong>Emergency access (break-glass) in use.</strong> Every record you open under it is flagged in the audit trail and reviewed by the compliance officer.</p>
  <ul class="break-glass-banner__list">
    {% for grant in break_glass_grants %}
    <li><a href="{% url 'core:patient_detail' grant.patient.pk %}">{{ grant.patient.full_name }} ({{ grant.patient.mrn }})</a> until {{ grant.expires_at|clock }}{% if grant.patient.clinic_id %} <span class="muted">· time shown in your clinic’s zone</span>{% endif %}</li>
    {% endfor %}
  </ul>
</section>
{% endif %}
"""  # noqa: E501, RUF001 - the old template, verbatim


def test_the_banner_is_the_templates_markup(nurse: User, stranger: Patient, clinic: Clinic) -> None:
    # given: two running accesses, one to a patient with a name to escape
    other = PatientFactory(clinic=stranger.clinic, first_name="Zoë <b>", last_name="O'Hara")
    now = timezone.now()
    for patient, minutes in ((stranger, 50), (other, 20)):
        running_access(nurse, patient, started=now, minutes=minutes)
    breakglass.forget(nurse.pk)
    request = RequestFactory().get("/")
    request.user = nurse
    # when
    with timezone.override(clinic.tz):
        context = break_glass(request)
        old = Template(OLD_BANNER).render(Context(context))
        new = context["break_glass_banner_html"]()
    # then: the same markup, whitespace aside, soonest to end first
    assert re.sub(r">\s+<", "><", new.strip()) == re.sub(r">\s+<", "><", old.strip())
    assert new.index("O&#x27;Hara") < new.index("Farrow")
    assert "Zoë &lt;b&gt;" in new


def test_an_access_started_by_another_process_shows_at_once_despite_a_cached_none(
    client: Client, nurse: User, stranger: Patient
) -> None:
    # given: "no access" cached for the nurse (the delete after a new access was lost)
    login(client, nurse)
    assert b"data-break-glass" not in client.get(reverse("home")).content
    breakglass.softcache.set(f"break-glass:{nurse.pk}", breakglass.NO_GRANT, 300)
    # when: an access starts without going through this process's cache
    now = timezone.now()
    running_access(nurse, stranger, started=now, minutes=60)
    # then: the next page shows the banner and opens the patient
    assert b"data-break-glass" in client.get(reverse("home")).content
    assert client.get(detail(stranger)).status_code == 200


def test_an_access_that_ran_out_is_not_read_with_the_clinics(
    client: Client, nurse: User, stranger: Patient
) -> None:
    login(client, nurse)
    now = timezone.now()
    running_access(nurse, stranger, started=now - timedelta(minutes=61), minutes=60)
    assert b"data-break-glass" not in client.get(reverse("home")).content
    assert client.get(detail(stranger)).status_code == 404


def running_access(
    user: User, patient: Patient, *, started: datetime, minutes: int
) -> BreakGlassAccess:
    """An access written straight to the table (not through this process's service or cache)."""
    return BreakGlassAccess.objects.create(
        user=user,
        patient=patient,
        clinic_id=patient.clinic_id,
        reason="emergency",
        explanation="Collapsed",
        started_at=started,
        expires_at=started + timedelta(minutes=minutes),
    )
