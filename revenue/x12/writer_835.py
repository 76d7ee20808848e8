"""Write an X12 835 (005010X221A1) remittance: what a payer sends us, for tests, the demo data
and the benchmark. No Django here.

A `Remit` holds the payment (BPR/TRN), the payer and payee, its claims (`RemitClaim`, each with
claim-level adjustments and `RemitLine`s) and provider-level adjustments (PLB). `build_835`
writes it with BPR02 computed (sum of claim payments minus PLB amounts) unless `total` is given;
a test that wants an unbalanced file passes its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Cas:
    group: str  # CO, OA, PI, PR
    reason: str  # CARC
    amount: Decimal


@dataclass(frozen=True)
class RemitLine:
    code: str
    charge: Decimal
    paid: Decimal
    adjustments: tuple[Cas, ...] = ()
    line_id: str = ""  # REF*6R echoed back ("" leaves it out: matched by code + date)
    service_date: dt.date | None = None
    units: int = 1
    modifiers: tuple[str, ...] = ()
    remarks: tuple[str, ...] = ()  # RARC (LQ*HE)


@dataclass(frozen=True)
class RemitClaim:
    control_number: str  # CLP01 (our CLM01)
    status: str  # CLP02: 1 primary, 2 secondary, 4 denied, 19/20 primary forwarded, 22 reversal
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal = Decimal("0")
    payer_claim_number: str = "PCN1"
    lines: tuple[RemitLine, ...] = ()
    adjustments: tuple[Cas, ...] = ()  # claim level
    remarks: tuple[str, ...] = ()  # claim-level RARC (MOA)
    patient_last: str = "DOE"
    patient_first: str = "JANE"
    member_id: str = "MBR0001234"
    crossover_payer: str = ""  # NM1*TT: the claim was forwarded to this payer


@dataclass(frozen=True)
class Plb:
    reason: str  # e.g. WO (overpayment recovery), L6 (interest), CS (adjustment)
    reference: str
    amount: Decimal  # positive reduces the payment


@dataclass
class Remit:
    trace_number: str
    payer_name: str = "BLUE VALLEY HEALTH PLAN"
    payer_id: str = "BVHP1"
    payer_tin: str = "1512345678"  # TRN03 / the originating company id
    payee_name: str = "RIVERSIDE FAMILY CLINIC"
    payee_npi: str = "1234567893"
    payment_date: dt.date = dt.date(2026, 12, 1)
    claims: list[RemitClaim] = field(default_factory=list)
    plb: list[Plb] = field(default_factory=list)
    total: Decimal | None = None  # BPR02; None: computed
    control_number: int = 1
    version: str = "005010X221A1"


def money(value: Decimal) -> str:
    """An X12 amount: no trailing zeros after the point, no point for whole amounts."""
    text = f"{value.quantize(Decimal('0.01')):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _d8(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _cas(adjustments: tuple[Cas, ...]) -> list[str]:
    """CAS segments: one per group, up to 6 (reason, amount) pairs each."""
    segments: list[str] = []
    groups: dict[str, list[Cas]] = {}
    for adj in adjustments:
        groups.setdefault(adj.group, []).append(adj)
    for group, items in groups.items():
        for start in range(0, len(items), 6):
            elements = [group]
            for adj in items[start : start + 6]:
                elements += [adj.reason, money(adj.amount), ""]
            while elements and elements[-1] == "":
                elements.pop()
            segments.append("CAS*" + "*".join(elements))
    return segments


def total_paid(remit: Remit) -> Decimal:
    return sum((c.paid for c in remit.claims), Decimal("0")) - sum(
        (p.amount for p in remit.plb), Decimal("0")
    )


def transaction_segments(remit: Remit) -> list[str]:
    total = remit.total if remit.total is not None else total_paid(remit)
    day = _d8(remit.payment_date)
    if total == 0:
        bpr = f"BPR*H*0*C*NON************{day}"
    else:
        bpr = f"BPR*I*{money(total)}*C*CHK************{day}"
    segs = [
        "ST*835*0001",
        bpr,
        f"TRN*1*{remit.trace_number}*{remit.payer_tin}",
        f"DTM*405*{day}",
        f"N1*PR*{remit.payer_name}",
        "N3*PO BOX 100",
        "N4*SPRINGFIELD*IL*62701",
        f"REF*2U*{remit.payer_id}",
        "PER*BL*PROVIDER SERVICES*TE*5555550100",
        f"N1*PE*{remit.payee_name}*XX*{remit.payee_npi}",
    ]
    for n, claim in enumerate(remit.claims, start=1):
        segs.append(f"LX*{n}")
        segs.append(
            f"CLP*{claim.control_number}*{claim.status}*{money(claim.charge)}*"
            f"{money(claim.paid)}*{money(claim.patient_responsibility)}*12*"
            f"{claim.payer_claim_number}"
        )
        segs += _cas(claim.adjustments)
        segs.append(f"NM1*QC*1*{claim.patient_last}*{claim.patient_first}****MI*{claim.member_id}")
        if claim.crossover_payer:
            segs.append(f"NM1*TT*2*{claim.crossover_payer}*****PI*{claim.crossover_payer[:10]}")
        if claim.remarks:
            remarks = list(claim.remarks[:5]) + [""] * (5 - len(claim.remarks[:5]))
            segs.append("MOA***" + "*".join(remarks).rstrip("*"))
        for line in claim.lines:
            code = "HC:" + ":".join((line.code, *line.modifiers))
            segs.append(f"SVC*{code}*{money(line.charge)}*{money(line.paid)}**{line.units}")
            if line.service_date:
                segs.append(f"DTM*472*{_d8(line.service_date)}")
            segs += _cas(line.adjustments)
            if line.line_id:
                segs.append(f"REF*6R*{line.line_id}")
            for remark in line.remarks:
                segs.append(f"LQ*HE*{remark}")
    for plb in remit.plb:
        segs.append(
            f"PLB*{remit.payee_npi}*{remit.payment_date.year}1231*{plb.reason}:{plb.reference}*"
            f"{money(plb.amount)}"
        )
    segs.append(f"SE*{len(segs) + 1}*0001")
    return segs


def build_835(remit: Remit) -> str:
    """The interchange as text, one segment a line (terminator `~`, then a newline)."""
    now = remit.payment_date
    icn = f"{remit.control_number:09d}"
    isa = (
        f"ISA*00*{'':10}*00*{'':10}*ZZ*{remit.payer_id:<15}*ZZ*{'CLINICOPS':<15}*"
        f"{now.strftime('%y%m%d')}*1200*^*00501*{icn}*0*T*:"
    )
    segs = [
        isa,
        f"GS*HP*{remit.payer_id}*CLINICOPS*{_d8(now)}*1200*{remit.control_number}*X*"
        f"{remit.version}",
        *transaction_segments(remit),
        f"GE*1*{remit.control_number}",
        f"IEA*1*{icn}",
    ]
    return "~\n".join(segs) + "~\n"
