"""clean_claim_rate: parts per clinic and day, the range form, and the drill-down."""

from __future__ import annotations

import pytest

from clinicops.kpis import registry
from revenue.kpis import clean_claim_drilldown, clean_claim_rate_parts, clean_claim_rate_range
from revenue.models import Claim, PayerBillingSettings

from .factories import checked_out_visit

pytestmark = pytest.mark.django_db


def test_clean_claim_rate_counts_first_pass_clean_claims(
    clinic, other_clinic, payer, provider, patient, coverage, visit, make_claim, biller
):
    assert registry.get("clean_claim_rate").higher_is_better
    clean = make_claim(visit)
    PayerBillingSettings.objects.filter(payer=payer).update(prior_auth_codes=["99214"])
    second = checked_out_visit(clinic, provider=provider, patient=patient, coverage=coverage)
    held = make_claim(second, lines=(("99214", [1]),))
    assert clean.first_pass_clean is True
    assert held.first_pass_clean is False
    day = clean.first_scrubbed_at.astimezone(clinic.tz).date()
    assert clean_claim_rate_parts(clinic, day) == (1, 2)
    assert clean_claim_rate_range(clinic, day, day) == {day: (1, 2)}
    assert clean_claim_rate_parts(other_clinic, day) == (0, 0)
    # Fixing the held claim later does not make its first pass clean.
    from revenue.services import claims

    claims.update_claim(actor=biller, claim=held, prior_auth_number="A1")
    assert clean_claim_rate_parts(clinic, day) == (1, 2)
    drill = clean_claim_drilldown(clinic, day, day)
    assert [row[0] for row in drill.rows] == ["no", "yes"]
    assert drill.rows[0][2] == held.control_number
    assert set(drill.patient_ids) == {patient.pk}


def test_self_pay_claims_are_not_counted(clinic, provider, billing, fees, make_claim):
    visit = checked_out_visit(clinic, provider=provider)
    claim = make_claim(visit)
    assert claim.is_self_pay
    assert claim.first_scrubbed_at is None
    assert Claim.objects.count() == 1
    assert clean_claim_rate_parts(clinic, clinic.today()) == (0, 0)
