"""Hand-written 835s for the remittance tests: a submitted claim, and a remittance of it."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from revenue.models import BillingProfile, Claim, ClaimStatus
from revenue.x12.writer_835 import Cas, Remit, RemitClaim, RemitLine, build_835

D = Decimal


def submit(claim: Claim) -> Claim:
    """Mark a scrubbed claim submitted (the export's job; its own tests cover it)."""
    Claim.objects.filter(pk=claim.pk).update(
        status=ClaimStatus.SUBMITTED, submitted_at=timezone.now()
    )
    claim.refresh_from_db()
    return claim


CONTRACTUAL = D("25.00")
NONE = D("0")


def paid_in_full_line(claim: Claim, *, contractual: Decimal = CONTRACTUAL,
                      patient: Decimal = NONE) -> tuple[RemitLine, ...]:  # fmt: skip
    lines = []
    for line in claim.lines.all():
        adjustments = [Cas("CO", "45", contractual)] if contractual else []
        if patient:
            adjustments.append(Cas("PR", "2", patient))
        lines.append(
            RemitLine(
                line.procedure_code,
                line.charge,
                line.charge - contractual - patient,
                tuple(adjustments),
                line_id=line.line_id,
                service_date=line.service_date,
            )
        )
    return tuple(lines)


def remit_claim(claim: Claim, lines: tuple[RemitLine, ...], status: str = "1",
                adjustments: tuple[Cas, ...] = ()) -> RemitClaim:  # fmt: skip
    paid = sum((line.paid for line in lines), D("0"))
    charge = sum((line.charge for line in lines), D("0")) or claim.total_charge
    adjusted = sum((a.amount for a in adjustments), D("0"))
    patient = sum((a.amount for line in lines for a in line.adjustments if a.group == "PR"), D("0"))
    if not lines:
        paid = charge - adjusted
    return RemitClaim(
        claim.control_number,
        status,
        charge,
        paid - (adjusted if lines else 0),
        patient,
        payer_claim_number="PAYER" + claim.control_number[-6:],
        lines=lines,
        adjustments=adjustments,
    )


def remit(claims: list[RemitClaim], *, trace: str = "TRACE1", billing: BillingProfile,
          **fields: object) -> str:  # fmt: skip
    return build_835(
        Remit(trace_number=trace, payee_npi=billing.group_npi, claims=claims, **fields)  # type: ignore[arg-type]
    )
