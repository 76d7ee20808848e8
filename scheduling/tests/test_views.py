"""The reminder's confirm link: no login, GET shows, POST confirms, bad tokens are refused."""

from __future__ import annotations

import pytest
from django.core import signing
from django.test import Client

from clinicops.audit.models import AuditEvent
from scheduling.models import Appointment
from scheduling.services import reminders
from scheduling.tests.conftest import MONDAY, local
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def appointment(clinic, provider, visit, patient):
    return AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        patient=patient,
        start=local(MONDAY, 9),
    )


def test_confirm_page_opens_without_login_and_is_audited(client: Client, appointment) -> None:
    response = client.get(f"/scheduling/confirm/{reminders.make_confirm_token(appointment)}/")
    assert response.status_code == 200
    assert b"Monday 1 March 2027 at 09:00" in response.content
    assert appointment.patient.last_name.encode() not in response.content
    assert response["Cache-Control"].startswith("max-age=0")
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.VIEW, object_id=str(appointment.pk)
    ).exists()


def test_confirm_post_confirms(client: Client, appointment) -> None:
    token = reminders.make_confirm_token(appointment)
    response = client.post(f"/scheduling/confirm/{token}/")
    assert response.status_code == 200
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CONFIRMED
    assert appointment.confirmed_at is not None


@pytest.mark.parametrize("token", ["garbage", "a" * 300, "eyJhIjoxfQ:1abc:bad"])
def test_bad_tokens_get_a_clear_page_not_an_error(client: Client, token: str) -> None:
    for method in (client.get, client.post):
        response = method(f"/scheduling/confirm/{token}/")
        assert response.status_code == 400
        assert b"not valid or has expired" in response.content


def test_a_token_for_a_missing_appointment_is_refused(client: Client, appointment) -> None:
    token = signing.dumps({"a": appointment.pk + 1000}, salt=reminders.CONFIRM_SALT, compress=True)
    assert client.get(f"/scheduling/confirm/{token}/").status_code == 400


def test_other_methods_are_not_allowed(client: Client, appointment) -> None:
    token = reminders.make_confirm_token(appointment)
    assert client.put(f"/scheduling/confirm/{token}/").status_code == 405
