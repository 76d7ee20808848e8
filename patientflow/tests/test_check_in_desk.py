"""Check-in at a busy desk: the copay comes from the coverage, demographics are confirmed by
someone at some time, and the insurance question is asked only when there is insurance."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core.tests.factories import CoverageFactory
from patientflow.models import Visit
from scheduling.models import VisitTypeCopay

pytestmark = pytest.mark.django_db


def page(client: Client, appointment) -> str:
    return client.get(f"/flow/check-in/{appointment.pk}/").content.decode()


def test_the_plans_copay_is_prefilled(client: Client, front_desk, appointment) -> None:
    CoverageFactory(patient=appointment.patient, copay_amount=Decimal("25.00"))
    client.force_login(front_desk)
    html = page(client, appointment)
    assert 'name="copay_amount" value="25.00"' in html or 'value="25.00"' in html
    assert "Expected: <strong>$25.00</strong>" in html


def test_a_payers_copay_for_the_visit_type_wins(client: Client, front_desk, appointment) -> None:
    coverage = CoverageFactory(patient=appointment.patient, copay_amount=Decimal("25.00"))
    VisitTypeCopay.objects.create(
        payer=coverage.payer, appointment_type=appointment.appointment_type, amount=Decimal("40")
    )
    client.force_login(front_desk)
    html = page(client, appointment)
    assert "Expected: <strong>$40.00</strong>" in html
    assert f"copay for {appointment.appointment_type.name}" in html


def test_a_coinsurance_is_shown_not_prefilled(client: Client, front_desk, appointment) -> None:
    CoverageFactory(patient=appointment.patient, copay_percent=Decimal("20"))
    client.force_login(front_desk)
    html = page(client, appointment)
    assert (
        "<strong>20%</strong> of the visit&#x27;s charge" in html or "<strong>20%</strong>" in html
    )
    assert 'value="25.00"' not in html


def test_without_insurance_the_desk_sees_self_pay_and_no_card_question(
    client: Client, front_desk, appointment
) -> None:
    client.force_login(front_desk)
    html = page(client, appointment)
    assert "No insurance: self-pay." in html
    assert 'name="insurance_confirmed"' not in html
    # a forged "card seen" is not stored
    client.post(f"/flow/check-in/{appointment.pk}/", {"insurance_confirmed": "on"})
    assert Visit.objects.get(appointment=appointment).insurance_confirmed is False


def test_with_insurance_the_card_question_is_asked(client: Client, front_desk, appointment) -> None:
    CoverageFactory(patient=appointment.patient)
    client.force_login(front_desk)
    html = page(client, appointment)
    assert 'name="insurance_confirmed"' in html
    assert "No insurance: self-pay." not in html


def test_demographics_confirmed_records_who_and_when(
    client: Client, front_desk, appointment
) -> None:
    client.force_login(front_desk)
    assert "Never confirmed at the desk." in page(client, appointment)
    response = client.post(
        f"/flow/check-in/{appointment.pk}/", {"demographics_confirmed": "on"}, follow=True
    )
    assert "Demographics confirmed." in response.content.decode()
    patient = appointment.patient
    patient.refresh_from_db()
    assert patient.demographics_confirmed_by == front_desk
    assert patient.demographics_confirmed_at is not None
    assert AuditEvent.objects.filter(
        patient_id=patient.pk, summary="Demographics confirmed with the patient"
    ).exists()


def test_the_visit_timeline_names_people_not_usernames(
    client: Client, front_desk, appointment
) -> None:
    front_desk.first_name, front_desk.last_name = "Maria", "Lopez"
    front_desk.save()
    client.force_login(front_desk)
    client.post(f"/flow/check-in/{appointment.pk}/", {})
    visit = Visit.objects.get(appointment=appointment)
    html = client.get(f"/flow/visits/{visit.pk}/").content.decode()
    assert "by Maria Lopez" in html
    assert "by frontdesk" not in html
