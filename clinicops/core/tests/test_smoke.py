from __future__ import annotations

import pytest
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core.models import Patient
from clinicops.core.tests.factories import PatientFactory


@pytest.mark.django_db
def test_home_renders_for_front_desk(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Riverside Family Clinic" in response.content


@pytest.mark.django_db
def test_mrns_are_unique_and_luhn_checked(clinic) -> None:
    patients = PatientFactory.create_batch(3, clinic=clinic)
    mrns = {p.mrn for p in patients}
    assert len(mrns) == 3
    from clinicops.core.models import luhn_check_digit

    for mrn in mrns:
        assert luhn_check_digit(mrn[:-1]) == int(mrn[-1])
    assert Patient.objects.count() == 3


@pytest.mark.django_db
def test_login_is_audited(client: Client, front_desk) -> None:
    response = client.post("/login/", {"username": "frontdesk", "password": "demo-password-2026"})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="login", actor=front_desk).exists()
