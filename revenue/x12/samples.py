"""Sample 837P data (fictional people, real code formats) for tests, the benchmark and demos.

`sample_claim(n)` varies its shape with n (patient = subscriber or not, modifiers, 1-12
diagnoses, 1-6 lines) so a batch built from it covers the writer's branches.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from revenue.x12.claim_data import (
    Address,
    Adjustment,
    BillingProvider,
    Claim,
    ClaimGroup,
    Interchange,
    LineAdjudication,
    OtherPayer,
    Patient,
    Payer,
    PersonName,
    Receiver,
    RenderingProvider,
    ServiceLine,
    Submitter,
    Subscriber,
)

# Luhn-valid NPIs (with the 80840 prefix), fictional.
BILLING_NPI = "1234567893"
RENDERING_NPI = "1245319599"

DIAGNOSES = (
    "J44.9", "I10", "E11.9", "M54.50", "R05.9", "J06.9",
    "K21.9", "E78.5", "F41.1", "N39.0", "Z00.00", "R51.9",
)  # fmt: skip
PROCEDURES = ("99213", "99214", "93000", "36415", "81002", "J1100", "90471", "87880")
MODIFIERS = ("25", "59", "GT", "95")

PAYERS = (
    Payer("Blue Valley Health Plan", "BVHP1"),
    Payer("Acme Mutual Insurance", "ACME2", Address("PO Box 100", "Springfield", "IL", "62701")),
    Payer("State Medicaid", "SMCD3"),
)

INTERCHANGE_TIME = dt.datetime(2026, 12, 6, 9, 30)  # noqa: DTZ001 - X12 carries local wall time

SUBMITTER = Submitter("Riverside Family Clinic", "RFC123456", "Billing Office", "5555551234")
BILLING = BillingProvider(
    name="Riverside Family Clinic",
    npi=BILLING_NPI,
    ein="12-3456789",
    address=Address("100 Main Street", "Springfield", "IL", "62701-1234"),
    taxonomy="207Q00000X",
    pay_to_address=Address("PO Box 555", "Springfield", "IL", "62705"),
)
RENDERING = RenderingProvider(PersonName("Okafor", "Ada", "N"), RENDERING_NPI, "207Q00000X")


def interchange(control_number: int = 1, usage: str = "T") -> Interchange:
    return Interchange(
        sender_id="RFC123456",
        receiver_id="CLEARHOUSE01",
        control_number=control_number,
        created_at=INTERCHANGE_TIME,
        submitter=SUBMITTER,
        usage_indicator=usage,
    )


def subscriber(n: int, payer: Payer = PAYERS[0]) -> Subscriber:
    return Subscriber(
        payer=payer,
        claim_filing_indicator="CI",
        member_id=f"MBR{n:07d}",
        name=PersonName("Doe", f"Jordan{chr(65 + n % 26)}", "Q"),
        birth_date=dt.date(1970 + n % 40, 1 + n % 12, 1 + n % 28),
        sex="FMU"[n % 3],
        address=Address(f"{n % 900 + 1} Oak Avenue", "Springfield", "IL", "62704", "Apt 2"),
        group_number=f"GRP{n % 50:04d}",
    )


def dependent(n: int) -> Patient:
    return Patient(
        relationship_code="19",
        name=PersonName("Doe", f"Sam{chr(65 + n % 26)}"),
        birth_date=dt.date(2012 + n % 10, 1 + n % 12, 1 + n % 28),
        sex="MF"[n % 2],
        address=Address(f"{n % 900 + 1} Oak Avenue", "Springfield", "IL", "62704"),
    )


def service_lines(
    n: int, count: int, diagnoses: int, service_date: dt.date
) -> tuple[ServiceLine, ...]:
    lines = []
    for i in range(count):
        pointers = tuple(sorted({1 + (i + k) % diagnoses for k in range(min(4, diagnoses))}))
        mods = MODIFIERS[: (n + i) % 5] if (n + i) % 3 == 0 else ()
        lines.append(
            ServiceLine(
                procedure_code=PROCEDURES[(n + i) % len(PROCEDURES)],
                charge=Decimal(75 + 25 * ((n + i) % 7)) + Decimal("0.50") * (i % 2),
                units=Decimal(1 + i % 3),
                diagnosis_pointers=pointers[:4],
                line_control_number=f"L{n}-{i + 1}",
                modifiers=mods,
                service_date=service_date,
            )
        )
    return tuple(lines)


def sample_claim(
    n: int,
    *,
    payer: Payer = PAYERS[0],
    lines: int | None = None,
    diagnoses: int | None = None,
    dependent_patient: bool | None = None,
) -> Claim:
    service_date = dt.date(2026, 11, 1) + dt.timedelta(days=n % 30)
    n_dx = diagnoses if diagnoses is not None else 1 + n % 12
    n_lines = lines if lines is not None else 1 + n % 6
    is_dependent = dependent_patient if dependent_patient is not None else n % 4 == 1
    claim_lines = service_lines(n, n_lines, n_dx, service_date)
    return Claim(
        patient_control_number=f"PC{n:08d}",
        total_charge=sum((line.charge for line in claim_lines), Decimal(0)),
        place_of_service="11",
        service_date=service_date,
        subscriber=subscriber(n, payer),
        diagnoses=DIAGNOSES[:n_dx],
        lines=claim_lines,
        patient=dependent(n) if is_dependent else None,
        prior_authorization=f"AUTH{n}" if n % 5 == 0 else "",
        rendering_provider=RENDERING if n % 2 == 0 else None,
    )


def secondary_claim(n: int) -> Claim:
    """A claim to the second payer after the first paid part of it (2320/2330A/2330B, 2430)."""
    base = sample_claim(n, payer=PAYERS[1], lines=2, diagnoses=3)
    primary = PAYERS[0]
    adjudicated = []
    for line in base.lines:
        paid = (line.charge * Decimal("0.6")).quantize(Decimal("0.01"))
        contractual = ((line.charge - paid) / 2).quantize(Decimal("0.01"))
        adjudicated.append(
            ServiceLine(
                procedure_code=line.procedure_code,
                charge=line.charge,
                units=line.units,
                diagnosis_pointers=line.diagnosis_pointers,
                line_control_number=line.line_control_number,
                modifiers=line.modifiers,
                service_date=line.service_date,
                adjudications=(
                    LineAdjudication(
                        payer_id=primary.payer_id,
                        paid_amount=paid,
                        procedure_code=line.procedure_code,
                        units=line.units,
                        adjudication_date=dt.date(2026, 11, 20),
                        modifiers=line.modifiers,
                        adjustments=(
                            Adjustment("CO", "45", contractual),
                            Adjustment("PR", "2", line.charge - paid - contractual),
                        ),
                    ),
                ),
            )
        )
    paid_total = sum((line.adjudications[0].paid_amount for line in adjudicated), Decimal(0))
    return Claim(
        patient_control_number=base.patient_control_number,
        total_charge=base.total_charge,
        place_of_service=base.place_of_service,
        service_date=base.service_date,
        subscriber=Subscriber(
            payer=PAYERS[1],
            claim_filing_indicator="CI",
            member_id=f"SEC{n:06d}",
            name=base.subscriber.name,
            birth_date=base.subscriber.birth_date,
            sex=base.subscriber.sex,
            address=base.subscriber.address,
            group_number="SECGRP",
            payer_responsibility="S",
        ),
        diagnoses=base.diagnoses,
        lines=tuple(adjudicated),
        rendering_provider=RENDERING,
        other_payers=(
            OtherPayer(
                payer=primary,
                payer_responsibility="P",
                relationship_code="18",
                claim_filing_indicator="CI",
                subscriber_name=base.subscriber.name,
                member_id=base.subscriber.member_id,
                group_number=base.subscriber.group_number,
                paid_amount=paid_total,
            ),
        ),
    )


def group(claims: tuple[Claim, ...], *, payer: Payer = PAYERS[0], control: int = 1) -> ClaimGroup:
    return ClaimGroup(
        group_control_number=control,
        transaction_control_number=control,
        application_receiver_code="CLEARHOUSE01",
        receiver=Receiver(f"{payer.name}", payer.payer_id),
        billing_provider=BILLING,
        claims=claims,
    )
