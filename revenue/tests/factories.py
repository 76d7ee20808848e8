"""Factories for the revenue tests: billing identity, payers' settings, fee schedules, and a
checked-out visit ready to code."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from clinicops.core.models import Clinic, Coverage, Patient, Staff, luhn_check_digit
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, PayerFactory
from patientflow.models import Step, Visit
from revenue.models import (
    BillingProfile,
    FeeSchedule,
    FeeScheduleItem,
    PayerBillingSettings,
    ProcedureCode,
)
from scheduling.tests.factories import AppointmentFactory


def npi(n: int) -> str:
    """A valid NPI (Luhn check digit with the 80840 prefix) built from `n`."""
    base = f"1{n % 100_000_000:08d}"
    return base + str(luhn_check_digit("80840" + base))


class BillingProfileFactory(DjangoModelFactory[BillingProfile]):
    class Meta:
        model = BillingProfile

    clinic = factory.SubFactory(ClinicFactory)
    billing_name = factory.LazyAttribute(lambda o: o.clinic.name)
    group_npi = factory.Sequence(lambda n: npi(500000 + n))
    tax_id = "123456789"
    taxonomy = "207Q00000X"
    address_line1 = "100 Main Street"
    city = "Springfield"
    state = "IL"
    postal_code = "627011234"
    submitter_id = "RFC123456"
    contact_name = "Billing Office"
    contact_phone = "5555551234"
    receiver_name = "Clearhouse"
    receiver_id = "CLEARHOUSE01"


class PayerBillingSettingsFactory(DjangoModelFactory[PayerBillingSettings]):
    class Meta:
        model = PayerBillingSettings

    payer = factory.SubFactory(PayerFactory)
    claim_filing_indicator = "CI"
    timely_filing_days = 365


class FeeScheduleFactory(DjangoModelFactory[FeeSchedule]):
    class Meta:
        model = FeeSchedule

    clinic = factory.SubFactory(ClinicFactory)
    payer = None
    name = "Default fees"
    effective_from = dt.date(2020, 1, 1)


FEES = {
    "99213": Decimal("125.00"),
    "99214": Decimal("185.00"),
    "36415": Decimal("15.00"),
    "81002": Decimal("12.50"),
    "90471": Decimal("30.00"),
    "G0439": Decimal("210.00"),
}


def standard_fees(clinic: Clinic, payer: Any = None, **fields: Any) -> FeeSchedule:
    for code in FEES:
        ProcedureCode.objects.get_or_create(code=code, defaults={"description": f"Code {code}"})
    schedule = FeeScheduleFactory(clinic=clinic, payer=payer, **fields)
    FeeScheduleItem.objects.bulk_create(
        FeeScheduleItem(schedule=schedule, procedure_code=code, charge=charge)
        for code, charge in FEES.items()
    )
    return schedule


def provider_staff(clinic: Clinic, n: int = 1, **fields: Any) -> Staff:
    from clinicops.core import roles
    from clinicops.core.tests.factories import StaffFactory

    return StaffFactory(
        roles=[roles.PROVIDER],
        clinics=[clinic],
        npi=npi(n),
        user__last_name="Osler",
        user__first_name="Ada",
        **fields,
    )


def billable_patient(clinic: Clinic, **fields: Any) -> Patient:
    fields.setdefault("address_line1", "12 Oak Avenue")
    fields.setdefault("city", "Springfield")
    fields.setdefault("state", "IL")
    fields.setdefault("postal_code", "62704")
    return PatientFactory(clinic=clinic, **fields)


_SLOTS = itertools.count()


def checked_out_visit(
    clinic: Clinic,
    *,
    provider: Staff,
    patient: Patient | None = None,
    coverage: Coverage | None = None,
    day: dt.date | None = None,
) -> Visit:
    """A visit checked out on `day` (default: 3 days ago at the clinic); each call's slot is
    the next 30 minutes from 07:00 local time, so a provider's visits never overlap."""
    day = day or clinic.today() - dt.timedelta(days=3)
    patient = patient or billable_patient(clinic)
    slot = next(_SLOTS) % 28
    start = dt.datetime.combine(day, dt.time(7 + slot // 2, 30 * (slot % 2)), tzinfo=clinic.tz)
    appointment = AppointmentFactory(clinic=clinic, patient=patient, provider=provider, start=start)
    return Visit.objects.create(
        clinic=clinic,
        appointment=appointment,
        patient=patient,
        step=Step.CHECKED_OUT,
        step_since=start + dt.timedelta(minutes=40),
        checked_in_at=start - dt.timedelta(minutes=5),
        checked_out_at=start + dt.timedelta(minutes=40),
        coverage=coverage,
    )


def coverage_for(patient: Patient, payer: Any, **fields: Any) -> Coverage:
    from clinicops.core.tests.factories import CoverageFactory

    fields.setdefault("effective_from", dt.date(2020, 1, 1))
    return CoverageFactory(patient=patient, payer=payer, member_id="MBR0001234", **fields)


def now() -> dt.datetime:
    return timezone.now()
