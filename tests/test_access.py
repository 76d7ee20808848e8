"""Who may open which screen (the role matrix), and clinic scoping."""

from __future__ import annotations

import pytest
from django.test import Client

from clinicops.core import roles
from clinicops.core.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

SCREENS = ["home", "patient_search", "patient_create", "patient_detail", "patient_edit", "audit"]

# role -> expected status per screen, in SCREENS order. 403 means "signed in, not allowed".
MATRIX = {
    roles.FRONT_DESK: (200, 200, 200, 200, 200, 403),
    roles.NURSE: (200, 200, 403, 200, 403, 403),
    roles.PROVIDER: (200, 200, 403, 200, 403, 403),
    roles.BILLER: (200, 200, 403, 200, 403, 403),
    roles.MANAGER: (200, 200, 200, 200, 200, 403),
    roles.COMPLIANCE: (200, 200, 403, 200, 403, 200),
    roles.ADMINISTRATOR: (200, 403, 403, 403, 403, 403),
    None: (403, 403, 403, 403, 403, 403),
}


def screen_urls(patient_id: int) -> dict[str, str]:
    return {
        "home": "/",
        "patient_search": "/patients/?q=a",
        "patient_create": "/patients/new/",
        "patient_detail": f"/patients/{patient_id}/",
        "patient_edit": f"/patients/{patient_id}/edit/",
        "audit": "/compliance/audit/",
    }


@pytest.mark.parametrize("role", list(MATRIX), ids=lambda r: r or "no role")
def test_role_matrix(client: Client, make_user, clinic, role: str | None) -> None:
    user = make_user(*([role] if role else []))
    patient = PatientFactory(clinic=clinic)
    client.force_login(user)
    urls = screen_urls(patient.pk)
    got = tuple(client.get(urls[screen]).status_code for screen in SCREENS)
    assert dict(zip(SCREENS, got, strict=True)) == dict(zip(SCREENS, MATRIX[role], strict=True))


def test_another_clinics_patient_is_not_found(
    client: Client, make_user, clinic, other_clinic
) -> None:
    user = make_user(roles.FRONT_DESK)
    theirs = PatientFactory(clinic=other_clinic)
    client.force_login(user)
    assert client.get(f"/patients/{theirs.pk}/").status_code == 404
    assert client.get(f"/patients/{theirs.pk}/edit/").status_code == 404
    response = client.post(f"/patients/{theirs.pk}/edit/", {"first_name": "X"})
    assert response.status_code == 404


def test_search_shows_only_the_current_clinics_patients(
    client: Client, make_user, clinic, other_clinic
) -> None:
    user = make_user(roles.FRONT_DESK, clinics=[clinic, other_clinic])
    ours = PatientFactory(clinic=clinic, last_name="Zephyrine")
    theirs = PatientFactory(clinic=other_clinic, last_name="Zephyrine")
    client.force_login(user)
    client.post("/clinic/switch/", {"clinic": clinic.pk})
    html = client.get("/patients/?q=zephyr").content.decode()
    assert ours.mrn in html
    assert theirs.mrn not in html
    # After switching clinic, the other clinic's patient is the one found.
    client.post("/clinic/switch/", {"clinic": other_clinic.pk})
    html = client.get("/patients/?q=zephyr").content.decode()
    assert theirs.mrn in html
    assert ours.mrn not in html


def test_switching_to_a_clinic_you_do_not_work_in_is_not_found(
    client: Client, make_user, other_clinic
) -> None:
    client.force_login(make_user(roles.FRONT_DESK))
    assert client.post("/clinic/switch/", {"clinic": other_clinic.pk}).status_code == 404
    assert client.post("/clinic/switch/", {"clinic": "not-a-number"}).status_code == 404


def test_switch_redirects_only_to_our_own_site(client: Client, make_user, clinic) -> None:
    client.force_login(make_user(roles.FRONT_DESK))
    response = client.post(
        "/clinic/switch/", {"clinic": clinic.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"
