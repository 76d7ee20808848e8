"""Revenue fixtures: a clinic that bills (profile, payer, fees, a provider with an NPI), a
biller, and a checked-out visit of an insured patient ready to code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clinicops.core import roles
from clinicops.core.models import Clinic, Coverage, Patient, Payer, Staff, User
from clinicops.core.tests.factories import PayerFactory
from patientflow.models import Visit
from revenue.models import BillingProfile, Claim, FeeSchedule
from revenue.services import charges

from .factories import (
    BillingProfileFactory,
    PayerBillingSettingsFactory,
    billable_patient,
    checked_out_visit,
    coverage_for,
    provider_staff,
    standard_fees,
)


@pytest.fixture
def biller(make_user: Callable[..., User]) -> User:
    return make_user(roles.BILLER, username="biller")


@pytest.fixture
def billing(clinic: Clinic) -> BillingProfile:
    return BillingProfileFactory(clinic=clinic)


@pytest.fixture
def payer(db: None) -> Payer:
    payer = PayerFactory(name="Blue Valley Health Plan", payer_id="BVHP1")
    PayerBillingSettingsFactory(payer=payer)
    return payer


@pytest.fixture
def fees(clinic: Clinic) -> FeeSchedule:
    return standard_fees(clinic)


@pytest.fixture
def provider(clinic: Clinic) -> Staff:
    return provider_staff(clinic)


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    return billable_patient(clinic, first_name="Harriet", last_name="Quimby")


@pytest.fixture
def coverage(patient: Patient, payer: Payer) -> Coverage:
    return coverage_for(patient, payer)


@pytest.fixture
def visit(
    clinic: Clinic,
    provider: Staff,
    patient: Patient,
    coverage: Coverage,
    billing: BillingProfile,
    fees: FeeSchedule,
) -> Visit:
    return checked_out_visit(clinic, provider=provider, patient=patient, coverage=coverage)


@pytest.fixture
def make_claim(biller: User) -> Callable[..., Claim]:
    """Code `visit` (diagnoses, lines) and mark it ready: the claim it builds, scrubbed."""

    def make(
        visit: Visit,
        *,
        diagnoses: tuple[str, ...] = ("E11.9", "I10"),
        lines: tuple[tuple[str, Any], ...] = (("99213", [1, 2]),),
        modifiers: tuple[str, ...] = (),
        actor: User | None = None,
    ) -> Claim:
        who = actor or biller
        encounter = charges.start_encounter(actor=who, visit=visit)
        charges.set_diagnoses(actor=who, encounter=encounter, diagnoses=list(diagnoses))
        for code, pointers in lines:
            charges.add_line(
                actor=who, encounter=encounter, code=code, pointers=pointers, modifiers=modifiers
            )
        return charges.mark_ready(actor=who, encounter=encounter)

    return make
