"""Balances from the ledger: a claim's balance is its charges minus payments and adjustments;
the patient's part is patient responsibility minus what moved to the next payer and what the
patient paid. `check` recomputes both for every claim and compares them with the running
totals the posting keeps on the claim."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, Expression, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from ..models import Claim, LedgerEntry

ZERO = Decimal("0")
K = LedgerEntry.Kind
_MONEY = DecimalField(max_digits=14, decimal_places=2)


def _sum(*kinds: str) -> Coalesce:
    return Coalesce(
        Sum("ledger__amount", filter=Q(ledger__kind__in=kinds)), Value(ZERO), output_field=_MONEY
    )


def with_ledger_totals(qs: QuerySet[Claim]) -> QuerySet[Claim]:
    """Claims annotated with what their ledger rows add up to."""
    return qs.annotate(
        ledger_reductions=_sum(*LedgerEntry.REDUCES_BALANCE),
        ledger_patient=_sum(K.PATIENT_RESPONSIBILITY),
        ledger_moved=_sum(K.TRANSFER, K.PATIENT_PAYMENT),
    )


@dataclass(frozen=True)
class Mismatch:
    claim_id: int
    control_number: str
    stored_balance: Decimal
    ledger_balance: Decimal
    stored_patient: Decimal
    ledger_patient: Decimal

    def __str__(self) -> str:
        return (
            f"{self.control_number}: balance {self.stored_balance} stored, "
            f"{self.ledger_balance} from the ledger; patient {self.stored_patient} stored, "
            f"{self.ledger_patient} from the ledger"
        )


def check(clinic_id: int | None = None) -> tuple[int, list[Mismatch]]:
    """(claims checked, mismatches) for every claim (of one clinic)."""
    qs = Claim.objects.all()
    if clinic_id is not None:
        qs = qs.filter(clinic_id=clinic_id)
    rows = with_ledger_totals(qs).values_list(  # type: ignore[misc]
        "pk",
        "control_number",
        "total_charge",
        "balance",
        "patient_balance",
        "ledger_reductions",
        "ledger_patient",
        "ledger_moved",
    )
    checked = 0
    mismatches = []
    for pk, number, charge, balance, patient, reductions, pr, moved in rows.iterator():
        checked += 1
        ledger_balance = charge - reductions
        ledger_patient = pr - moved
        if ledger_balance != balance or ledger_patient != patient:
            mismatches.append(
                Mismatch(pk, number, balance, ledger_balance, patient, ledger_patient)
            )
    return checked, mismatches


def patient_balance(patient_id: int) -> Decimal:
    """What the patient owes on all their claims (from the ledger)."""
    total = LedgerEntry.objects.filter(patient_id=patient_id).aggregate(
        pr=Coalesce(
            Sum("amount", filter=Q(kind=K.PATIENT_RESPONSIBILITY)), Value(ZERO), output_field=_MONEY
        ),
        moved=Coalesce(
            Sum("amount", filter=Q(kind__in=(K.TRANSFER, K.PATIENT_PAYMENT))),
            Value(ZERO),
            output_field=_MONEY,
        ),
    )
    return Decimal(total["pr"]) - Decimal(total["moved"])


def patient_balance_expression(patient_field: str) -> Expression:
    """`patient_balance` of the patient named by `patient_field`, as an expression for the
    caller's own query (the check-in page reads it with the appointment: one round trip)."""
    owed = (
        LedgerEntry.objects.filter(patient_id=OuterRef(patient_field))
        .order_by()
        .values("patient_id")
        .annotate(
            balance=Coalesce(
                Sum("amount", filter=Q(kind=K.PATIENT_RESPONSIBILITY)), ZERO, output_field=_MONEY
            )
            - Coalesce(
                Sum("amount", filter=Q(kind__in=(K.TRANSFER, K.PATIENT_PAYMENT))),
                ZERO,
                output_field=_MONEY,
            )
        )
        .values("balance")
    )
    return Coalesce(Subquery(owed, output_field=_MONEY), Value(ZERO), output_field=_MONEY)
