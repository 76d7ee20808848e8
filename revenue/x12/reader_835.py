"""Read an X12 835 (005010X221A1) remittance into plain dataclasses, and balance it. No Django.

pyx12 (`validate.validate_x12`) checks the file's syntax against the guide; it does not read
the payment into anything we can post, and it does not add up the money. This module does both:

- `sniff(text)` checks what must hold before anything else is worth reading (an ISA of 106
  characters, separators that are distinct and not letters or digits, an 835 of version
  005010X221A1, one transaction set) and says plainly what is wrong: pyx12's messages about a
  4010 file or a wrong separator are long lists that name no cause.
- `read_835(text)` walks the segments into a `Remittance` (payment, trace, payer, payee,
  claims with their adjustments, lines, remarks and raw segments, and PLB adjustments).
- `balance_problems(remit)` applies the three balancing rules of the guide (line, claim, and
  BPR02 = claim payments - PLB), naming the segment and the numbers.

Every problem raises `RemitRefused(message)`; nothing here is partial.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

VERSION = "005010X221A1"
GROUP_CODES = frozenset({"CO", "OA", "PI", "PR"})
ZERO = Decimal("0")


class RemitRefused(Exception):
    """The file cannot be posted; `message` says why, naming the segment and numbers."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Adjustment:
    group: str
    reason: str
    amount: Decimal


@dataclass
class Line:
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    paid: Decimal
    units: str
    service_date: dt.date | None
    line_id: str
    adjustments: list[Adjustment]
    remarks: list[str]
    segment_no: int
    segments: list[str] = field(default_factory=list)


@dataclass
class ClaimPayment:
    control_number: str
    status: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    payer_claim_number: str
    adjustments: list[Adjustment]
    remarks: list[str]
    lines: list[Line]
    segment_no: int
    segments: list[str] = field(default_factory=list)
    crossover_payer: str = ""

    @property
    def is_reversal(self) -> bool:
        return self.status == "22"

    @property
    def forwarded(self) -> bool:
        """Processed as primary and forwarded to (or to be billed to) the next payer."""
        return self.status in ("19", "20") or bool(self.crossover_payer)


@dataclass(frozen=True)
class ProviderAdjustment:
    reason: str
    reference: str
    amount: Decimal
    segment_no: int


@dataclass
class Remittance:
    trace_number: str
    payer_key: str  # TRN03: the payer's originating company id (with TRN02 the de-dup key)
    payer_id: str  # REF*2U, else N1*PR's id, else TRN03
    payer_name: str
    payee_name: str
    payee_npi: str
    total: Decimal
    payment_date: dt.date | None
    claims: list[ClaimPayment]
    plb: list[ProviderAdjustment]
    control_number: str


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    segment: str
    repetition: str


def sniff(text: str) -> Delimiters:
    """The separators of a file that looks like a 5010 835, or RemitRefused saying why not."""
    body = text.lstrip()
    if not body:
        raise RemitRefused("The file is empty.")
    if not body.startswith("ISA"):
        raise RemitRefused(
            "This is not an X12 file: it must start with an ISA segment "
            f"(it starts with {body[:20]!r})."
        )
    if len(body) < 106:
        raise RemitRefused(f"The ISA segment is cut short: {len(body)} characters, an ISA has 106.")
    element = body[3]
    fields = body[:106].split(element)
    if len(fields) != 17:
        raise RemitRefused(
            f"The ISA segment has {len(fields)} elements with the separator {element!r} "
            "where it has 17 (a fixed 106 characters): wrong separators, or a damaged ISA."
        )
    component = body[104]
    segment = body[105]
    repetition = fields[11]
    for name, char in (("element", element), ("component", component), ("segment", segment)):
        if char.isalnum() or char == " ":
            raise RemitRefused(
                f"The ISA declares {char!r} as the {name} separator; X12 separators are "
                "punctuation, never a letter, digit or space."
            )
    if len({element, component, segment}) != 3:
        raise RemitRefused(
            f"The ISA declares the same character for two separators (element {element!r}, "
            f"component {component!r}, segment {segment!r})."
        )
    if fields[12] != "00501":
        raise RemitRefused(
            f"ISA12 is {fields[12]!r}: this reader takes version 00501 (5010) interchanges only."
        )
    segs = _split(body, segment)
    gs = [s for s in segs if s.startswith("GS" + element)]
    if not gs:
        raise RemitRefused("The interchange has no GS (functional group) segment.")
    gs_fields = gs[0].split(element)
    version = gs_fields[8] if len(gs_fields) > 8 else ""
    if len(gs_fields) < 2 or gs_fields[1] != "HP":
        raise RemitRefused(
            f"GS01 is {gs_fields[1] if len(gs_fields) > 1 else ''!r}: an 835 remittance is a "
            "group of type HP (health care claim payment)."
        )
    if version != VERSION:
        raise RemitRefused(
            f"GS08 is {version!r}: only 835 version {VERSION} (5010) is read; ask the payer "
            "or clearinghouse for a 5010 file."
        )
    sts = [s for s in segs if s.startswith("ST" + element)]
    if len(sts) != 1:
        raise RemitRefused(
            f"The file has {len(sts)} transaction sets (ST); one payment (one ST/SE) per file "
            "is read: split it."
        )
    if sts[0].split(element)[1:2] != ["835"]:
        raise RemitRefused(f"The transaction set is {sts[0]!r}, not an 835.")
    if not segs[-1].startswith("IEA"):
        raise RemitRefused("The file does not end with an IEA segment: it is truncated or damaged.")
    return Delimiters(element, component, segment, repetition)


def _split(body: str, terminator: str) -> list[str]:
    return [s.strip() for s in body.split(terminator) if s.strip()]


def _amount(value: str, where: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise RemitRefused(f"{where}: {value!r} is not an amount.") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise RemitRefused(f"{where}: {value!r} is not an amount in whole cents.")
    return amount.quantize(Decimal("0.01"))


def _date(value: str, where: str) -> dt.date:
    try:
        if len(value) != 8 or not value.isdigit():
            raise ValueError(value)
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise RemitRefused(f"{where}: {value!r} is not a date (CCYYMMDD).") from None


def _el(elements: list[str], n: int) -> str:
    return elements[n] if len(elements) > n else ""


def read_835(text: str) -> Remittance:
    """The remittance in `text` (RemitRefused when it cannot be read)."""
    delims = sniff(text)
    segments = _split(text.lstrip(), delims.segment)
    e, c = delims.element, delims.component
    trace = payer_key = payer_id = payer_name = payee_name = payee_npi = ""
    ref_2u = ""
    total: Decimal | None = None
    payment_date: dt.date | None = None
    control = ""
    claims: list[ClaimPayment] = []
    plb: list[ProviderAdjustment] = []
    claim: ClaimPayment | None = None
    line: Line | None = None
    n1 = ""
    for no, raw in enumerate(segments, start=1):
        el = raw.split(e)
        tag = el[0]
        where = f"{tag} (segment {no})"
        if tag == "ISA":
            control = _el(el, 13)
        elif tag == "BPR":
            total = _amount(_el(el, 2), f"BPR02 {where}")
            if _el(el, 16):
                payment_date = _date(_el(el, 16), f"BPR16 {where}")
        elif tag == "TRN":
            trace, payer_key = _el(el, 2), _el(el, 3)
        elif tag == "N1":
            n1 = _el(el, 1)
            if n1 == "PR":
                payer_name = _el(el, 2)
                payer_id = payer_id or _el(el, 4)
            elif n1 == "PE":
                payee_name, payee_npi = _el(el, 2), _el(el, 4)
        elif tag == "REF" and claim is None and n1 == "PR" and _el(el, 1) == "2U":
            ref_2u = _el(el, 2)
        elif tag == "CLP":
            line = None
            claim = ClaimPayment(
                control_number=_el(el, 1),
                status=_el(el, 2),
                charge=_amount(_el(el, 3), f"CLP03 {where}"),
                paid=_amount(_el(el, 4), f"CLP04 {where}"),
                patient_responsibility=_amount(_el(el, 5) or "0", f"CLP05 {where}"),
                payer_claim_number=_el(el, 7),
                adjustments=[],
                remarks=[],
                lines=[],
                segment_no=no,
            )
            if not claim.control_number:
                raise RemitRefused(f"{where}: CLP01 (our claim number) is empty.")
            claims.append(claim)
        elif tag == "SVC":
            if claim is None:
                raise RemitRefused(f"{where}: a service line outside a claim.")
            composite = _el(el, 1).split(c)
            line = Line(
                code=_el(composite, 1),
                modifiers=tuple(m for m in composite[2:6] if m),
                charge=_amount(_el(el, 2), f"SVC02 {where}"),
                paid=_amount(_el(el, 3), f"SVC03 {where}"),
                units=_el(el, 5) or "1",
                service_date=None,
                line_id="",
                adjustments=[],
                remarks=[],
                segment_no=no,
            )
            claim.lines.append(line)
        elif tag == "CAS":
            if claim is None:
                raise RemitRefused(f"{where}: an adjustment outside a claim.")
            group = _el(el, 1)
            if group not in GROUP_CODES:
                raise RemitRefused(
                    f"CAS01 {where} is {group!r}: a 5010 adjustment group is CO, OA, PI or PR."
                )
            target = line.adjustments if line is not None else claim.adjustments
            for i in range(2, 20, 3):
                reason, value = _el(el, i), _el(el, i + 1)
                if not reason and not value:
                    continue
                if not reason or not value:
                    raise RemitRefused(f"CAS{i:02d} {where}: a reason code without an amount.")
                target.append(Adjustment(group, reason, _amount(value, f"CAS{i + 1:02d} {where}")))
        elif tag == "DTM" and line is not None and _el(el, 1) in ("472", "150"):
            line.service_date = _date(_el(el, 2), f"DTM02 {where}")
        elif tag == "REF" and line is not None and _el(el, 1) == "6R":
            line.line_id = _el(el, 2)
        elif tag == "LQ" and line is not None and _el(el, 1) == "HE":
            line.remarks.append(_el(el, 2))
        elif tag in ("MOA", "MIA") and claim is not None:
            positions = range(3, 8) if tag == "MOA" else (5, 20, 21, 22, 23)
            claim.remarks += [_el(el, i) for i in positions if _el(el, i)]
        elif tag == "NM1" and claim is not None and _el(el, 1) == "TT":
            claim.crossover_payer = _el(el, 3)
        elif tag == "PLB":
            claim, line = None, None
            for i in range(3, 15, 2):
                reason_ref, value = _el(el, i), _el(el, i + 1)
                if not reason_ref and not value:
                    continue
                parts = reason_ref.split(c)
                plb.append(
                    ProviderAdjustment(
                        reason=parts[0],
                        reference=_el(parts, 1),
                        amount=_amount(value, f"PLB{i + 1:02d} {where}"),
                        segment_no=no,
                    )
                )
        elif tag in ("SE", "GE", "IEA", "LX"):
            claim, line = None, None
        if claim is not None:
            claim.segments.append(raw)
            if line is not None and tag != "CLP":
                line.segments.append(raw)
    if total is None:
        raise RemitRefused("The file has no BPR (payment) segment.")
    if not trace:
        raise RemitRefused("The file has no TRN02 (the payer's trace number).")
    return Remittance(
        trace_number=trace,
        payer_key=payer_key,
        payer_id=ref_2u or payer_id or payer_key,
        payer_name=payer_name,
        payee_name=payee_name,
        payee_npi=payee_npi,
        total=total,
        payment_date=payment_date,
        claims=claims,
        plb=plb,
        control_number=control,
    )


def _sum(values: list[Adjustment]) -> Decimal:
    return sum((a.amount for a in values), ZERO)


def balance_problems(remit: Remittance) -> list[str]:
    """The balancing rules the guide sets and pyx12 does not check, and a negative charge on
    a claim that is not a reversal; each problem names the segment and the numbers."""
    problems: list[str] = []
    for claim in remit.claims:
        at = f"CLP {claim.control_number} (segment {claim.segment_no})"
        if claim.status not in ("22",):
            for name, value in (("CLP03 charge", claim.charge),):
                if value < 0:
                    problems.append(
                        f"{at}: {name} {value} is negative on a claim that is not a reversal "
                        f"(CLP02 {claim.status})."
                    )
        for line in claim.lines:
            where = f"SVC {line.code} (segment {line.segment_no}) of claim {claim.control_number}"
            if claim.status != "22" and line.charge < 0:
                problems.append(
                    f"{where}: the charge {line.charge} is negative on a claim that is not a "
                    f"reversal (CLP02 {claim.status})."
                )
            adjusted = _sum(line.adjustments)
            if line.charge - adjusted != line.paid:
                problems.append(
                    f"{where} does not balance: charge {line.charge} - adjustments {adjusted} = "
                    f"{line.charge - adjusted}, but it says paid {line.paid}."
                )
        all_adjustments = _sum(claim.adjustments) + sum(
            (_sum(line.adjustments) for line in claim.lines), ZERO
        )
        if claim.charge - all_adjustments != claim.paid:
            problems.append(
                f"{at} does not balance: charge {claim.charge} - adjustments {all_adjustments} "
                f"= {claim.charge - all_adjustments}, but it says paid {claim.paid}."
            )
    paid = sum((claim.paid for claim in remit.claims), ZERO)
    provider = sum((p.amount for p in remit.plb), ZERO)
    if paid - provider != remit.total:
        problems.append(
            f"BPR02 {remit.total} does not balance: the claims pay {paid} and the PLB "
            f"adjustments take {provider}, so the payment should be {paid - provider}."
        )
    return problems
