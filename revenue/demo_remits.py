"""Demo 835s for the seeded claims (seed_revenue): one remittance per payer and week, with paid
claims (contractual and patient share), partial payments, denials in several root-cause
buckets, a PLB recoupment, and a later reversal of one paid claim; all posted through the real
importer (`services.remittances.import_835`), dated on their payment day. Some denials are
then worked to an appeal. Deterministic for a seed; a second run posts nothing (the traces are
the same and a posted trace is never posted again)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from typing import Any

from clinicops.core.models import Clinic
from revenue.models import BillingProfile, Claim, DenialItem
from revenue.services import denials, remittances
from revenue.x12.reader_835 import RemitRefused
from revenue.x12.writer_835 import Cas, Plb, Remit, RemitClaim, RemitLine, build_835

CENT = Decimal("0.01")
DENIAL_CODES = ("197", "16", "97", "22", "50", "29", "18", "B7", "197", "16", "97")


def _line_paid(line: Any, rng: random.Random, *, patient_share: bool) -> RemitLine:
    allowed = (line.charge * Decimal(rng.choice(("0.62", "0.68", "0.72", "0.80")))).quantize(CENT)
    share = min(Decimal("25.00"), (allowed * Decimal("0.2")).quantize(CENT)) if patient_share else 0
    adjustments = [Cas("CO", "45", line.charge - allowed)]
    if share:
        adjustments.append(Cas("PR", rng.choice(("1", "2", "3")), Decimal(share)))
    return RemitLine(
        line.procedure_code,
        line.charge,
        allowed - share,
        tuple(adjustments),
        line_id=line.line_id,
        service_date=line.service_date,
    )


def _line_denied(line: Any, code: str) -> RemitLine:
    remarks = {"16": ("M127",), "197": ("N54",), "97": ("M15",), "22": ("MA04",)}.get(code, ())
    return RemitLine(
        line.procedure_code,
        line.charge,
        Decimal("0"),
        (Cas("CO", code, line.charge),),
        line_id=line.line_id,
        service_date=line.service_date,
        remarks=remarks,
    )


def _remit_claim(claim: Claim, outcome: str, rng: random.Random, n: int) -> RemitClaim:
    lines = list(claim.lines.all())
    paid: list[RemitLine] = []
    for k, line in enumerate(lines):
        if outcome == "denied" or (outcome == "partial" and k == len(lines) - 1 and k > 0):
            paid.append(_line_denied(line, DENIAL_CODES[n % len(DENIAL_CODES)]))
        elif outcome == "partial" and len(lines) == 1:
            # One line: paid in part, the rest denied as bundled/non-covered.
            # Each amount in whole cents, so the line balances as written (an odd cent of the
            # adjustment goes to the second reason).
            allowed = (line.charge * Decimal("0.5")).quantize(CENT)
            half = ((line.charge - allowed) / 2).quantize(CENT)
            paid.append(
                RemitLine(line.procedure_code, line.charge, allowed,
                          (Cas("CO", "45", half),
                           Cas("CO", "97", line.charge - allowed - half)),
                          line_id=line.line_id, service_date=line.service_date)
            )  # fmt: skip
        else:
            paid.append(_line_paid(line, rng, patient_share=k == 0))
    patient = sum((a.amount for x in paid for a in x.adjustments if a.group == "PR"), Decimal(0))
    return RemitClaim(
        claim.control_number,
        "4" if outcome == "denied" else "1",
        claim.total_charge,
        sum((x.paid for x in paid), Decimal("0")),
        patient,
        payer_claim_number=f"PCN{claim.control_number[1:]}",
        lines=tuple(paid),
        patient_last=claim.patient.last_name[:35].upper() or "PATIENT",
        patient_first=claim.patient.first_name[:25].upper() or "DEMO",
        member_id=(claim.coverage.member_id if claim.coverage else "UNKNOWN")[:30] or "UNKNOWN",
    )


def _negated(rc: RemitClaim) -> RemitClaim:
    return RemitClaim(
        rc.control_number,
        "22",
        -rc.charge,
        -rc.paid,
        -rc.patient_responsibility,
        payer_claim_number=rc.payer_claim_number,
        lines=tuple(
            RemitLine(
                x.code,
                -x.charge,
                -x.paid,
                tuple(Cas(a.group, a.reason, -a.amount) for a in x.adjustments),
                line_id=x.line_id,
                service_date=x.service_date,
            )
            for x in rc.lines
        ),
        patient_last=rc.patient_last,
        patient_first=rc.patient_first,
        member_id=rc.member_id,
    )


def _post(clinic: Clinic, biller: Any, remit: Remit, day: dt.date) -> None:
    at = dt.datetime.combine(day, dt.time(14, 0), tzinfo=clinic.tz)
    try:
        remittances.import_835(
            actor=biller, content=build_835(remit), clinic=clinic, posted_at=at, today=day
        )
    except RemitRefused as refused:  # a demo file we wrote ourselves: say so loudly
        raise RuntimeError(f"Demo 835 {remit.trace_number} refused: {refused.message}") from None


def post_demo_remittances(
    clinic: Clinic, biller: Any, answered: list[tuple[Claim, str]], rng: random.Random
) -> int:
    """Post one 835 per payer and week of the claims' dates of service; returns files posted."""
    profile = BillingProfile.objects.filter(clinic=clinic).first()
    if profile is None or not answered:
        return 0
    today = clinic.today()
    groups: dict[tuple[int, dt.date], list[tuple[Claim, str]]] = defaultdict(list)
    for claim, outcome in answered:
        if claim.payer is None:
            continue
        week = claim.service_date - dt.timedelta(days=claim.service_date.weekday())
        groups[(claim.payer_id, week)].append((claim, outcome))  # type: ignore[index]
    posted = 0
    reversal_done = False
    for n, ((payer_id, week), items) in enumerate(sorted(groups.items(), key=lambda kv: kv[0][1])):
        payer = items[0][0].payer
        assert payer is not None  # noqa: S101 - filtered above
        pay_day = min(week + dt.timedelta(days=rng.randint(16, 24)), today - dt.timedelta(days=1))
        remit_claims = [
            _remit_claim(claim, outcome, rng, n * 7 + k) for k, (claim, outcome) in enumerate(items)
        ]
        plb = [Plb("WO", f"OVP{clinic.pk}{n}", Decimal("12.00"))] if n == 0 else []
        if plb and sum(c.paid for c in remit_claims) < Decimal("12.00"):
            plb = []
        remit = Remit(
            trace_number=f"DEMO{clinic.pk:02d}{payer_id:03d}{week:%y%m%d}",
            payer_name=payer.name.upper()[:60],
            payer_id=payer.payer_id or f"P{payer.pk}",
            payer_tin=f"1{payer.pk:09d}",
            payee_name=profile.billing_name.upper()[:60],
            payee_npi=profile.group_npi,
            payment_date=pay_day,
            claims=remit_claims,
            plb=plb,
            control_number=int(f"{clinic.pk}{n:04d}"),
        )
        _post(clinic, biller, remit, pay_day)
        posted += 1
        paid_first = next((c for c in remit_claims if c.status == "1" and c.paid > 0), None)
        if not reversal_done and paid_first is not None and pay_day + dt.timedelta(days=3) < today:
            # The payer takes one payment back (posted to the wrong provider), a later file.
            reversal = Remit(
                trace_number=f"DEMOREV{clinic.pk:02d}{payer_id:03d}{week:%y%m%d}",
                payer_name=remit.payer_name,
                payer_id=remit.payer_id,
                payer_tin=remit.payer_tin,
                payee_name=remit.payee_name,
                payee_npi=remit.payee_npi,
                payment_date=pay_day + dt.timedelta(days=3),
                claims=[_negated(paid_first)],
                control_number=int(f"{clinic.pk}9{n:03d}"),
            )
            _post(clinic, biller, reversal, reversal.payment_date)
            posted += 1
            reversal_done = True
    # Work a few denials: some owned, some appealed.
    for k, item in enumerate(DenialItem.objects.filter(clinic=clinic).order_by("pk")):
        if k % 3 == 0:
            denials.assign(actor=biller, items=[item.pk], owner=biller, clinic_id=clinic.pk)
        if k % 5 == 1:
            denials.appeal(actor=biller, item=item.pk)
    return posted
