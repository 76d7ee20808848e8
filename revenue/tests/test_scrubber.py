"""The scrubber, edit by edit: each with a claim that fails it and the same claim fixed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.urls import reverse

from clinicops.core.models import Coverage, Staff
from revenue.models import BillingProfile, Claim, ClaimLine, ClaimStatus, PayerBillingSettings
from revenue.services import claims, scrubber

from .factories import checked_out_visit

pytestmark = pytest.mark.django_db


def _failed(claim: Claim) -> dict[str, list[scrubber.EditFailure]]:
    found: dict[str, list[scrubber.EditFailure]] = {}
    for failure in scrubber.run(claim, today=claim.clinic.today()):
        found.setdefault(failure.code, []).append(failure)
    return found


def _coverage(claim: Claim, **fields: object) -> None:
    Coverage.objects.filter(pk=claim.coverage_id).update(**fields)


def _claim(claim: Claim, **fields: object) -> None:
    Claim.objects.filter(pk=claim.pk).update(**fields)


def _line(claim: Claim, **fields: object) -> None:
    ClaimLine.objects.filter(claim=claim).update(**fields)


def _settings(claim: Claim, **fields: object) -> None:
    PayerBillingSettings.objects.filter(payer_id=claim.payer_id).update(**fields)


# edit code -> (break the clean claim, fix it again)
CASES: dict[str, tuple[Callable[[Claim], None], Callable[[Claim], None]]] = {
    "coverage_active": (
        lambda c: _coverage(c, effective_to=c.service_date - dt.timedelta(days=1)),
        lambda c: _coverage(c, effective_to=None),
    ),
    "member_id": (lambda c: _coverage(c, member_id="  "), lambda c: _coverage(c, member_id="M1")),
    "billing_npi": (
        lambda c: BillingProfile.objects.filter(clinic_id=c.clinic_id).update(
            group_npi="1234567890"
        ),
        lambda c: BillingProfile.objects.filter(clinic_id=c.clinic_id).update(
            group_npi="1234567893"
        ),
    ),
    "rendering_npi": (
        lambda c: Staff.objects.filter(pk=c.rendering_provider_id).update(npi="1234567890"),
        lambda c: Staff.objects.filter(pk=c.rendering_provider_id).update(npi="1234567893"),
    ),
    "diagnosis_present": (
        lambda c: _claim(c, diagnoses=[]),
        lambda c: _claim(c, diagnoses=["E11.9", "I10"]),
    ),
    "diagnosis_valid": (
        lambda c: _claim(c, diagnoses=["E11", "I10"]),
        lambda c: _claim(c, diagnoses=["E11.9", "I10"]),
    ),
    "procedure_format": (
        lambda c: _line(c, procedure_code="9921X"),
        lambda c: _line(c, procedure_code="99213"),
    ),
    "pointers_valid": (lambda c: _line(c, pointers=[3]), lambda c: _line(c, pointers=[2])),
    "charges_balance": (
        lambda c: _claim(c, total_charge=Decimal("999.00")),
        lambda c: _claim(c, total_charge=Decimal("125.00")),
    ),
    "timely_filing": (
        lambda c: _settings(c, timely_filing_days=2),
        lambda c: _settings(c, timely_filing_days=90),
    ),
    "prior_authorization": (
        lambda c: _settings(c, prior_auth_codes=["99213"]),
        lambda c: _claim(c, prior_auth_number="AUTH123"),
    ),
    "subscriber_complete": (
        lambda c: _coverage(c, subscriber_relationship="child", subscriber_name="Quimby, Ann"),
        lambda c: _coverage(
            c,
            subscriber_date_of_birth=dt.date(1980, 5, 1),
            subscriber_sex="F",
            subscriber_address_line1="12 Oak Avenue",
            subscriber_city="Springfield",
            subscriber_state="IL",
            subscriber_postal_code="62704",
        ),
    ),
}


def test_every_edit_has_a_case():
    assert set(CASES) | {"duplicate"} == {code for code, _label, _edit in scrubber.EDITS}


def test_the_clean_claim_passes_every_edit(visit, make_claim):
    claim = make_claim(visit)
    assert claim.status == ClaimStatus.SCRUBBED
    assert claim.edit_failures == []
    assert _failed(claim) == {}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_edit_fails_then_passes_once_fixed(code, visit, make_claim, biller):
    claim = make_claim(visit)
    breaks, fixes = CASES[code]
    breaks(claim)
    failed = _failed(claim)
    assert code in failed, failed
    for failure in failed[code]:
        assert failure.field
        assert failure.message
        assert failure.fix
        assert failure.url.startswith("/"), failure
    # The claim is held with the failure stored, naming the field, the fix and the screen.
    held = claims.scrub(actor=biller, claim=claim)
    assert held.status == ClaimStatus.HELD
    assert code in {f["code"] for f in held.edit_failures}
    assert held.first_pass_clean is True  # the first pass (at ready to bill) was clean
    fixes(claim)
    assert code not in _failed(claim)
    again = claims.scrub(actor=biller, claim=claim)
    assert again.status == ClaimStatus.SCRUBBED, again.edit_failures


def test_links_go_to_the_screen_that_fixes_it(visit, make_claim):
    claim = make_claim(visit)
    _claim(claim, diagnoses=["E11"])
    _coverage(claim, member_id="")
    failed = _failed(claim)
    assert failed["diagnosis_valid"][0].url == reverse(
        "revenue:charge_entry", args=[claim.encounter_id]
    )
    assert failed["member_id"][0].url == reverse(
        "core:coverage_edit", args=[claim.patient_id, claim.coverage_id]
    )


def test_duplicate_claim_same_patient_provider_date_codes(
    clinic, visit, make_claim, provider, patient, coverage
):
    first = make_claim(visit)
    same_day = checked_out_visit(
        clinic, provider=provider, patient=patient, coverage=coverage, day=first.service_date
    )
    second = make_claim(same_day)
    assert second.status == ClaimStatus.HELD
    assert [f["code"] for f in second.edit_failures] == ["duplicate"]
    assert second.first_pass_clean is False
    # Different codes: not a duplicate.
    third_visit = checked_out_visit(
        clinic, provider=provider, patient=patient, coverage=coverage, day=first.service_date
    )
    third = make_claim(third_visit, lines=(("99214", [1]),))
    assert third.status == ClaimStatus.SCRUBBED


def test_patient_subscriber_needs_an_address(visit, make_claim, patient):
    claim = make_claim(visit)
    type(patient).objects.filter(pk=patient.pk).update(address_line1="")
    assert "subscriber_complete" in _failed(claim)


def test_first_pass_clean_is_recorded_once(visit, make_claim, biller, payer):
    PayerBillingSettings.objects.filter(payer=payer).update(prior_auth_codes=["99213"])
    claim = make_claim(visit)
    assert claim.status == ClaimStatus.HELD
    assert claim.first_pass_clean is False
    fixed = claims.update_claim(actor=biller, claim=claim, prior_auth_number="AUTH9")
    assert fixed.status == ClaimStatus.SCRUBBED
    assert fixed.first_pass_clean is False
    assert fixed.manually_changed is True
