"""Charge capture: fees in force on the date of service, validation, ready to bill, audit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from clinicops.audit.models import AuditEvent
from revenue.models import ClaimStatus, Encounter, FeeScheduleItem
from revenue.services import RevenueError, charges
from revenue.services.fees import fee_for

from .factories import FeeScheduleFactory, checked_out_visit, standard_fees

pytestmark = pytest.mark.django_db


def test_the_charge_is_the_fee_in_force_on_the_date_of_service(clinic, payer, biller, visit):
    encounter = charges.start_encounter(actor=biller, visit=visit)
    dos = encounter.service_date
    # The payer's own schedule, in force from before the visit, beats the default one; a newer
    # schedule starting after the visit does not apply.
    mine = FeeScheduleFactory(
        clinic=clinic, payer=payer, effective_from=dos - dt.timedelta(days=30)
    )
    FeeScheduleItem.objects.create(schedule=mine, procedure_code="99213", charge=Decimal("140.00"))
    later = FeeScheduleFactory(
        clinic=clinic, payer=payer, effective_from=dos + dt.timedelta(days=1)
    )
    FeeScheduleItem.objects.create(schedule=later, procedure_code="99213", charge=Decimal("999.00"))
    charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=["E11.9"])
    line = charges.add_line(actor=biller, encounter=encounter, code="99213", units=2, pointers=[1])
    assert line.unit_charge == Decimal("140.00")
    assert line.charge == Decimal("280.00")
    # Self-pay (no payer): the default schedule.
    assert fee_for(clinic, None, "99213", [], dos).charge == Decimal("125.00")


def test_a_modifier_priced_separately_wins(clinic, biller, visit, fees):
    FeeScheduleItem.objects.create(
        schedule=fees, procedure_code="99213", modifier="25", charge=Decimal("150.00")
    )
    encounter = charges.start_encounter(actor=biller, visit=visit)
    charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=["E11.9"])
    line = charges.add_line(actor=biller, encounter=encounter, code="99213", modifiers=["25"])
    assert line.charge == Decimal("150.00")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"code": "9921"}, "procedure_code"),
        ({"code": "99999"}, "procedure_code"),  # well formed, but not priced
        ({"code": "99213", "modifiers": ["25", "59", "GT", "95", "76"]}, "modifiers"),
        ({"code": "99213", "modifiers": ["2!"]}, "modifiers"),
        ({"code": "99213", "pointers": [3]}, "pointers"),
        ({"code": "99213", "pointers": []}, "pointers"),
        ({"code": "99213", "units": 0}, "units"),
    ],
)
def test_bad_lines_are_refused_naming_the_field(biller, visit, kwargs, field):
    encounter = charges.start_encounter(actor=biller, visit=visit)
    charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=["E11.9", "I10"])
    with pytest.raises(RevenueError) as refused:
        charges.add_line(actor=biller, encounter=encounter, **kwargs)
    assert refused.value.field == field
    assert not encounter.lines.exists()


def test_diagnoses_must_be_billable_codes(biller, visit):
    encounter = charges.start_encounter(actor=biller, visit=visit)
    with pytest.raises(RevenueError, match="category"):
        charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=["E11"])
    with pytest.raises(RevenueError, match="not an ICD-10-CM code"):
        charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=["ZZZ.99"])
    with pytest.raises(RevenueError, match="at most 12"):
        charges.set_diagnoses(
            actor=biller,
            encounter=encounter,
            diagnoses=[
                "E11.9",
                "I10",
                "J45.909",
                "E78.5",
                "M54.50",
                "R51.9",
                "Z00.00",
                "K21.9",
                "F41.1",
                "G43.909",
                "N39.0",
                "R05.9",
                "J06.9",
            ],
        )
    stored = charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=["e119", "I10"])
    assert stored.diagnoses == ["E11.9", "I10"]


def test_only_a_checked_out_visit_is_coded(clinic, biller, visit):
    visit.step = "ready_for_checkout"
    visit.checked_out_at = None
    visit.save()
    with pytest.raises(RevenueError, match="checked-out"):
        charges.start_encounter(actor=biller, visit=visit)


def test_ready_to_bill_builds_and_scrubs_the_claim_and_audits_each_step(biller, visit, make_claim):
    before = AuditEvent.objects.count()
    claim = make_claim(visit)
    assert claim.status == ClaimStatus.SCRUBBED, claim.edit_failures
    assert claim.first_pass_clean is True
    encounter = Encounter.objects.get(visit=visit)
    assert encounter.status == Encounter.Status.READY
    assert claim.total_charge == Decimal("125.00")
    assert [line.line_id for line in claim.lines.all()] == [f"{claim.control_number}-1"]
    # start, diagnoses, line, ready, claim built, scrubbed: six entries, all about the patient.
    events = AuditEvent.objects.order_by("id")[before:]
    assert len(events) == 6
    assert {e.patient_id for e in events} == {visit.patient_id}
    # Frozen once ready.
    with pytest.raises(RevenueError, match="already billed"):
        charges.add_line(actor=biller, encounter=encounter, code="99213")


def test_no_coverage_on_the_date_is_self_pay(clinic, biller, provider, billing, fees):
    visit = checked_out_visit(clinic, provider=provider)
    encounter = charges.start_encounter(actor=biller, visit=visit)
    charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=["I10"])
    charges.add_line(actor=biller, encounter=encounter, code="99213", pointers=[1])
    claim = charges.mark_ready(actor=biller, encounter=encounter)
    assert claim.payer is None
    assert claim.is_self_pay
    assert claim.status == ClaimStatus.DRAFT


def test_reopening_closes_the_unsent_claim_and_the_next_is_not_first_pass_clean(
    biller, visit, make_claim
):
    first = make_claim(visit)
    encounter = first.encounter
    charges.reopen(actor=biller, encounter=encounter, reason="wrong level")
    first.refresh_from_db()
    assert first.status == ClaimStatus.CLOSED
    charges.remove_line(actor=biller, encounter=encounter, position=1)
    charges.add_line(actor=biller, encounter=encounter, code="99214", pointers=[1])
    second = charges.mark_ready(actor=biller, encounter=encounter)
    assert second.status == ClaimStatus.SCRUBBED
    assert second.first_pass_clean is False
    assert second.control_number != first.control_number


def test_another_clinics_biller_cannot_code(other_clinic, make_user, visit):
    from clinicops.core import roles

    stranger = make_user(roles.BILLER, clinics=[other_clinic], username="stranger")
    with pytest.raises(visit.DoesNotExist):
        charges.start_encounter(actor=stranger, visit=visit)


def test_standard_fees_helper_is_idempotent_on_codes(clinic):
    standard_fees(clinic, effective_from=dt.date(2019, 1, 1))
    standard_fees(clinic, effective_from=dt.date(2018, 1, 1))
