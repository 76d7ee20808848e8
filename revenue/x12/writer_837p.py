"""Write X12 837P (005010X222A1) claim files from the dataclasses in `claim_data`.

`build_837p(interchange, groups)` returns the whole interchange as one string: segments end with
"~" and a newline (receivers ignore the newline; people can read the file). Delimiters: element
"*", component ":", repetition "^", segment "~".

Data is cleaned before it is written:
- free text (names, addresses, contact) is upper-cased, accents are folded to ASCII, characters
  outside the X12 extended character set and the four delimiters are replaced by a space, runs of
  spaces collapse, and the text is cut to the element's maximum length;
- identifiers and codes (NPI, member id, payer id, CLM01, procedure codes, REF values...) are
  upper-cased and must already be clean: a delimiter, an unknown character or a wrong length
  raises `X12DataError` naming the field, so nothing ambiguous is ever sent;
- amounts are `Decimal` in whole cents (anything finer is refused), written without trailing
  zeros.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal

from revenue.x12.claim_data import (
    Address,
    Adjustment,
    BillingProvider,
    Claim,
    ClaimGroup,
    Interchange,
    OtherPayer,
    PersonName,
    ServiceLine,
    X12DataError,
)

ELEMENT = "*"
COMPONENT = ":"
REPETITION = "^"
SEGMENT = "~"
DELIMITERS = frozenset(ELEMENT + COMPONENT + REPETITION + SEGMENT)
VERSION = "005010X222A1"
SEGMENT_END = SEGMENT + "\n"
# 005010X222A1 1.4.1: at most 5,000 CLM segments in one transaction set.
MAX_CLAIMS_PER_TRANSACTION = 5000

# The X12 basic and extended character sets, less the delimiters we use.
_ALLOWED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !\"&'()+,-./;?=%@[]_{}\\|<>#$abcdefghijklmnopqrstuvwxyz"
)
_SPACES = re.compile(r"\s+")
_CENT = Decimal("0.01")
_FREQUENCY_CODES = ("1", "7", "8")
_SEX_CODES = ("F", "M", "U")
_ADJUSTMENT_GROUPS = ("CO", "OA", "PI", "PR")
_RELATIONSHIP_CODES = ("01", "19", "20", "21", "39", "40", "53", "G8")
_OTHER_RELATIONSHIP_CODES = ("01", "18", "19", "20", "21", "39", "40", "53", "G8")
_RESPONSIBILITY_CODES = tuple("ABCDEFGHPST")
_FILING_INDICATORS = (
    *("11", "12", "13", "14", "15", "16", "17", "AM", "BL", "CH", "CI", "DS", "FI", "HM"),
    *("LM", "MA", "MB", "MC", "OF", "TV", "VA", "WC", "ZZ"),
)
_PROCEDURE = re.compile(r"[A-Z0-9]{5}")
_MODIFIER = re.compile(r"[A-Z0-9]{2}")
_ICD10 = re.compile(r"[A-Z][0-9][0-9A-Z]{1,5}")
_PO_BOX = re.compile(r"(P\.?\s*O\.?\s*BOX|POST\s+OFFICE\s+BOX|LOCK\s*BOX)\b", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Cleaning
# ---------------------------------------------------------------------------------------------


def clean_text(value: str, max_len: int) -> str:
    """Free text: upper case, ASCII, no delimiters, single spaces, at most `max_len` characters."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    kept = "".join(ch if ch in _ALLOWED else " " for ch in folded.upper())
    return _SPACES.sub(" ", kept).strip()[:max_len].rstrip()


def clean_id(value: str, where: str, *, min_len: int = 1, max_len: int) -> str:
    """An identifier or code: upper-cased, must be clean already; raises X12DataError."""
    text = value.strip().upper()
    if not text:
        raise X12DataError(where, "is required")
    bad = sorted({ch for ch in text if ch not in _ALLOWED})
    if bad:
        raise X12DataError(where, f"contains characters an X12 file cannot carry: {''.join(bad)!r}")
    if not min_len <= len(text) <= max_len:
        raise X12DataError(where, f"must be {min_len}-{max_len} characters, not {len(text)}")
    return text


def _required_text(value: str, where: str, max_len: int) -> str:
    text = clean_text(value, max_len)
    if not text:
        raise X12DataError(where, "is required")
    return text


def _digits(value: str, where: str, lengths: Sequence[int]) -> str:
    text = re.sub(r"[\s-]", "", value)
    if not text.isdigit() or len(text) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise X12DataError(where, f"must be {want} digits, not {value!r}")
    return text


def _phone(value: str, where: str) -> str:
    """A US phone number as 10 digits: punctuation and a leading country code 1 are dropped."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        raise X12DataError(where, f"must be a 10-digit phone number, not {value!r}")
    return digits


def _choice(value: str, where: str, allowed: Sequence[str]) -> str:
    text = value.strip().upper()
    if text not in allowed:
        raise X12DataError(where, f"must be one of {', '.join(allowed)}, not {value!r}")
    return text


def amount(value: Decimal, where: str = "amount") -> str:
    """An X12 R (decimal) amount in whole cents: no trailing zeros, no exponent."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise X12DataError(where, f"must be a finite Decimal, not {value!r}")
    if value != value.quantize(_CENT):
        raise X12DataError(where, f"must be whole cents, not {value}")
    text = format(value.quantize(_CENT), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if len(text.replace("-", "").replace(".", "")) > 18:
        raise X12DataError(where, "is too large")
    return text


def quantity(value: Decimal, where: str) -> str:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise X12DataError(where, f"must be a positive Decimal, not {value!r}")
    text = format(value.normalize(), "f")
    if len(text.replace(".", "")) > 15:
        raise X12DataError(where, "is too long")
    return text


def d8(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


# ---------------------------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------------------------


def seg(*elements: str) -> str:
    """One segment without its terminator; trailing empty elements are dropped."""
    parts = list(elements)
    while parts and parts[-1] == "":
        parts.pop()
    return ELEMENT.join(parts)


def comp(*components: str) -> str:
    parts = list(components)
    while parts and parts[-1] == "":
        parts.pop()
    return COMPONENT.join(parts)


def _person_nm1(code: str, name: PersonName, where: str, id_qual: str = "", ident: str = "") -> str:
    return seg(
        "NM1",
        code,
        "1",
        _required_text(name.last, f"{where}.last", 60),
        clean_text(name.first, 35),
        clean_text(name.middle, 25),
        "",
        clean_text(name.suffix, 10),
        id_qual,
        ident,
    )


def _address(address: Address, where: str, *, zip9: bool = False) -> list[str]:
    line1 = _required_text(address.line1, f"{where}.line1", 55)
    n3 = seg("N3", line1, clean_text(address.line2, 55))
    city = _required_text(address.city, f"{where}.city", 30)
    state = clean_id(address.state, f"{where}.state", min_len=2, max_len=2)
    postal = _digits(address.postal_code, f"{where}.postal_code", (9,) if zip9 else (5, 9))
    return [n3, seg("N4", city, state, postal)]


def _dmg(birth_date: dt.date | None, sex: str, where: str) -> str:
    if birth_date is None:
        raise X12DataError(f"{where}.birth_date", "is required")
    return seg("DMG", "D8", d8(birth_date), _choice(sex, f"{where}.sex", _SEX_CODES))


def _cas(adjustments: Iterable[Adjustment], where: str) -> list[str]:
    by_group: dict[str, list[Adjustment]] = {}
    for i, adj in enumerate(adjustments, 1):
        group = _choice(adj.group_code, f"{where}.adjustments[{i}].group_code", _ADJUSTMENT_GROUPS)
        by_group.setdefault(group, []).append(adj)
    out: list[str] = []
    for group, adjs in by_group.items():
        for start in range(0, len(adjs), 6):
            elements = ["CAS", group]
            for adj in adjs[start : start + 6]:
                elements += [
                    clean_id(adj.reason_code, f"{where}.reason_code", max_len=5),
                    amount(adj.amount, f"{where}.amount"),
                    "" if adj.quantity is None else quantity(adj.quantity, f"{where}.quantity"),
                ]
            out.append(seg(*elements))
    return out


def _procedure(code: str, modifiers: Sequence[str], where: str) -> str:
    proc = code.strip().upper()
    if not _PROCEDURE.fullmatch(proc):
        raise X12DataError(f"{where}.procedure_code", f"must be 5 letters/digits, not {code!r}")
    if len(modifiers) > 4:
        raise X12DataError(f"{where}.modifiers", "at most 4 modifiers")
    mods = []
    for j, mod in enumerate(modifiers, 1):
        text = mod.strip().upper()
        if not _MODIFIER.fullmatch(text):
            raise X12DataError(f"{where}.modifiers[{j}]", f"must be 2 letters/digits, not {mod!r}")
        mods.append(text)
    return comp("HC", proc, *mods)


def _diagnosis(code: str, where: str) -> str:
    text = code.strip().upper().replace(".", "")
    if not _ICD10.fullmatch(text):
        raise X12DataError(where, f"is not an ICD-10-CM code: {code!r}")
    return text


# ---------------------------------------------------------------------------------------------
# Loops
# ---------------------------------------------------------------------------------------------


def _billing_provider(bp: BillingProvider) -> list[str]:
    where = "billing_provider"
    out: list[str] = []
    if bp.taxonomy:
        taxonomy = clean_id(bp.taxonomy, f"{where}.taxonomy", min_len=10, max_len=10)
        out.append(seg("PRV", "BI", "PXC", taxonomy))
    npi = _digits(bp.npi, f"{where}.npi", (10,))
    if bp.is_person:
        out.append(
            seg(
                "NM1",
                "85",
                "1",
                _required_text(bp.name, f"{where}.name", 60),
                clean_text(bp.first_name, 35),
                "",
                "",
                "",
                "XX",
                npi,
            )
        )
    else:
        name = _required_text(bp.name, f"{where}.name", 60)
        out.append(seg("NM1", "85", "2", name, "", "", "", "", "XX", npi))
    if _PO_BOX.match(bp.address.line1.strip()):
        raise X12DataError(
            f"{where}.address.line1",
            "the billing provider's address must be a street address; a PO box goes in the "
            "pay-to address",
        )
    out += _address(bp.address, f"{where}.address", zip9=True)
    out.append(seg("REF", "EI", _digits(bp.ein, f"{where}.ein", (9,))))
    if bp.pay_to_address is not None:
        out.append(seg("NM1", "87", "2"))
        out += _address(bp.pay_to_address, f"{where}.pay_to_address")
    return out


def _other_payer(op: OtherPayer, where: str) -> list[str]:
    out = [
        seg(
            "SBR",
            _choice(
                op.payer_responsibility, f"{where}.payer_responsibility", _RESPONSIBILITY_CODES
            ),
            _choice(op.relationship_code, f"{where}.relationship_code", _OTHER_RELATIONSHIP_CODES),
            clean_id(op.group_number, f"{where}.group_number", max_len=50)
            if op.group_number
            else "",
            "" if op.group_number else clean_text(op.group_name, 60),
            "",
            "",
            "",
            "",
            _choice(
                op.claim_filing_indicator, f"{where}.claim_filing_indicator", _FILING_INDICATORS
            ),
        )
    ]
    out += _cas(op.adjustments, where)
    if op.paid_amount is not None:
        out.append(seg("AMT", "D", amount(op.paid_amount, f"{where}.paid_amount")))
    out.append(
        seg(
            "OI",
            "",
            "",
            "Y" if op.benefits_assigned else "N",
            "",
            "",
            _choice(op.release_of_information, f"{where}.release_of_information", ("I", "Y")),
        )
    )
    member = clean_id(op.member_id, f"{where}.member_id", min_len=2, max_len=80)
    out.append(_person_nm1("IL", op.subscriber_name, f"{where}.subscriber_name", "MI", member))
    payer_name = _required_text(op.payer.name, f"{where}.payer.name", 60)
    payer_id = clean_id(op.payer.payer_id, f"{where}.payer.payer_id", min_len=2, max_len=80)
    out.append(seg("NM1", "PR", "2", payer_name, "", "", "", "", "PI", payer_id))
    if op.payer.address is not None:
        out += _address(op.payer.address, f"{where}.payer.address")
    if op.adjudication_date is not None:
        out.append(seg("DTP", "573", "D8", d8(op.adjudication_date)))
    return out


def _service_line(
    n: int, line: ServiceLine, claim: Claim, payer_ids: Sequence[str], where: str
) -> list[str]:
    if not isinstance(line.charge, Decimal) or line.charge < 0:
        raise X12DataError(f"{where}.charge", "must be a Decimal of zero or more")
    pointers = line.diagnosis_pointers
    if not 1 <= len(pointers) <= 4:
        raise X12DataError(f"{where}.diagnosis_pointers", "1 to 4 pointers are needed")
    for p in pointers:
        if not isinstance(p, int) or not 1 <= p <= len(claim.diagnoses):
            raise X12DataError(
                f"{where}.diagnosis_pointers",
                f"{p!r} does not point at one of the claim's {len(claim.diagnoses)} diagnoses",
            )
    if len(set(pointers)) != len(pointers):
        raise X12DataError(f"{where}.diagnosis_pointers", "a pointer is repeated")
    pos = ""
    if line.place_of_service and line.place_of_service != claim.place_of_service:
        pos = _digits(line.place_of_service, f"{where}.place_of_service", (2,))
    out = [
        seg("LX", str(n)),
        seg(
            "SV1",
            _procedure(line.procedure_code, line.modifiers, where),
            amount(line.charge, f"{where}.charge"),
            _choice(line.unit_basis, f"{where}.unit_basis", ("UN", "MJ")),
            quantity(line.units, f"{where}.units"),
            pos,
            "",
            comp(*(str(p) for p in pointers)),
        ),
        seg("DTP", "472", "D8", d8(line.service_date or claim.service_date)),
        seg(
            "REF",
            "6R",
            clean_id(line.line_control_number, f"{where}.line_control_number", max_len=50),
        ),
    ]
    for k, adj in enumerate(line.adjudications, 1):
        at = f"{where}.adjudications[{k}]"
        payer_id = clean_id(adj.payer_id, f"{at}.payer_id", min_len=2, max_len=80)
        if payer_id not in payer_ids:
            raise X12DataError(f"{at}.payer_id", "names no other payer of the claim")
        out.append(
            seg(
                "SVD",
                payer_id,
                amount(adj.paid_amount, f"{at}.paid_amount"),
                _procedure(adj.procedure_code, adj.modifiers, at),
                "",
                quantity(adj.units, f"{at}.units"),
            )
        )
        out += _cas(adj.adjustments, at)
        out.append(seg("DTP", "573", "D8", d8(adj.adjudication_date)))
    return out


def _check_balance(claim: Claim, op: OtherPayer, payer_id: str, where: str) -> None:
    """The guide's balancing rules for what another payer did (payers reject unbalanced claims):
    per adjudicated line, charge - adjustments = paid; per claim, charge - every adjustment of
    this payer (claim and lines) = AMT*D paid. Without 2430 lines, DTP*573 is required."""
    line_adjustments = Decimal(0)
    adjudicated = False
    for n, line in enumerate(claim.lines, 1):
        for k, adj in enumerate(line.adjudications, 1):
            if adj.payer_id.strip().upper() != payer_id:
                continue
            adjudicated = True
            adjusted = sum((a.amount for a in adj.adjustments), Decimal(0))
            line_adjustments += adjusted
            if line.charge - adjusted != adj.paid_amount:
                raise X12DataError(
                    f"{where.rsplit('.', 1)[0]}.lines[{n}].adjudications[{k}]",
                    f"does not balance: charge {line.charge} - adjustments {adjusted} "
                    f"!= paid {adj.paid_amount}",
                )
    if op.paid_amount is None:
        if adjudicated or op.adjustments:
            raise X12DataError(f"{where}.paid_amount", "is required once the payer adjudicated")
        return
    claim_adjustments = sum((a.amount for a in op.adjustments), Decimal(0))
    if claim.total_charge - claim_adjustments - line_adjustments != op.paid_amount:
        raise X12DataError(
            f"{where}.paid_amount",
            f"does not balance: charge {claim.total_charge} - adjustments "
            f"{claim_adjustments + line_adjustments} != paid {op.paid_amount}",
        )
    if not adjudicated and op.adjudication_date is None:
        raise X12DataError(
            f"{where}.adjudication_date", "is required when no line carries this payer's result"
        )


def _claim_loops(claim: Claim, hl_start: int, parent_hl: int) -> tuple[list[str], int]:
    """The 2000B..2400 segments of one claim; returns them and the next free HL number."""
    pcn = clean_id(claim.patient_control_number, "claim.patient_control_number", max_len=20)
    where = f"claim[{pcn}]"
    sub = claim.subscriber
    patient = claim.patient
    out: list[str] = []

    # 2000B subscriber hierarchical level
    hl_sub = hl_start
    out.append(seg("HL", str(hl_sub), str(parent_hl), "22", "1" if patient else "0"))
    group_number = (
        clean_id(sub.group_number, f"{where}.subscriber.group_number", max_len=50)
        if sub.group_number
        else ""
    )
    out.append(
        seg(
            "SBR",
            _choice(
                sub.payer_responsibility,
                f"{where}.subscriber.payer_responsibility",
                _RESPONSIBILITY_CODES,
            ),
            "" if patient else "18",
            group_number,
            "" if group_number else clean_text(sub.group_name, 60),
            "",
            "",
            "",
            "",
            _choice(
                sub.claim_filing_indicator,
                f"{where}.subscriber.claim_filing_indicator",
                _FILING_INDICATORS,
            ),
        )
    )
    # 2010BA subscriber
    member = clean_id(sub.member_id, f"{where}.subscriber.member_id", min_len=2, max_len=80)
    out.append(_person_nm1("IL", sub.name, f"{where}.subscriber.name", "MI", member))
    if sub.address is not None:
        out += _address(sub.address, f"{where}.subscriber.address")
    elif patient is None:
        raise X12DataError(
            f"{where}.subscriber.address", "is required when the subscriber is the patient"
        )
    if sub.birth_date is not None or patient is None:
        out.append(_dmg(sub.birth_date, sub.sex, f"{where}.subscriber"))
    # 2010BB payer
    payer_name = _required_text(sub.payer.name, f"{where}.subscriber.payer.name", 60)
    payer_id_billed = clean_id(
        sub.payer.payer_id, f"{where}.subscriber.payer.payer_id", min_len=2, max_len=80
    )
    out.append(seg("NM1", "PR", "2", payer_name, "", "", "", "", "PI", payer_id_billed))
    if sub.payer.address is not None:
        out += _address(sub.payer.address, f"{where}.subscriber.payer.address")

    next_hl = hl_sub + 1
    if patient is not None:
        # 2000C patient hierarchical level / 2010CA patient
        out.append(seg("HL", str(next_hl), str(hl_sub), "23", "0"))
        next_hl += 1
        out.append(
            seg(
                "PAT",
                _choice(
                    patient.relationship_code,
                    f"{where}.patient.relationship_code",
                    _RELATIONSHIP_CODES,
                ),
            )
        )
        out.append(_person_nm1("QC", patient.name, f"{where}.patient.name"))
        out += _address(patient.address, f"{where}.patient.address")
        out.append(_dmg(patient.birth_date, patient.sex, f"{where}.patient"))

    # 2300 claim
    if not isinstance(claim.total_charge, Decimal):
        raise X12DataError(f"{where}.total_charge", "must be a Decimal")
    if not 1 <= len(claim.lines) <= 50:
        raise X12DataError(f"{where}.lines", "a claim has 1 to 50 service lines")
    line_total = sum((line.charge for line in claim.lines), Decimal(0))
    if line_total.quantize(_CENT) != claim.total_charge.quantize(_CENT):
        raise X12DataError(
            f"{where}.total_charge",
            f"{claim.total_charge} is not the sum of the line charges ({line_total})",
        )
    frequency = _choice(claim.frequency_code, f"{where}.frequency_code", _FREQUENCY_CODES)
    pos = _digits(claim.place_of_service, f"{where}.place_of_service", (2,))
    out.append(
        seg(
            "CLM",
            pcn,
            amount(claim.total_charge, f"{where}.total_charge"),
            "",
            "",
            comp(pos, "B", frequency),
            "Y" if claim.provider_signature_on_file else "N",
            _choice(claim.assignment_code, f"{where}.assignment_code", ("A", "B", "C")),
            "Y" if claim.benefits_assigned else "N",
            _choice(claim.release_of_information, f"{where}.release_of_information", ("I", "Y")),
        )
    )
    if claim.referral_number:
        out.append(
            seg(
                "REF", "9F", clean_id(claim.referral_number, f"{where}.referral_number", max_len=50)
            )
        )
    if claim.prior_authorization:
        prior = clean_id(claim.prior_authorization, f"{where}.prior_authorization", max_len=50)
        out.append(seg("REF", "G1", prior))
    if frequency in ("7", "8"):
        if not claim.original_claim_reference:
            raise X12DataError(
                f"{where}.original_claim_reference",
                "a corrected (7) or void (8) claim needs the payer's original claim number",
            )
        original = clean_id(
            claim.original_claim_reference, f"{where}.original_claim_reference", max_len=50
        )
        out.append(seg("REF", "F8", original))
    if not 1 <= len(claim.diagnoses) <= 12:
        raise X12DataError(f"{where}.diagnoses", "a claim has 1 to 12 diagnoses")
    codes = [
        _diagnosis(code, f"{where}.diagnoses[{i}]") for i, code in enumerate(claim.diagnoses, 1)
    ]
    out.append(seg("HI", comp("ABK", codes[0]), *(comp("ABF", code) for code in codes[1:])))

    # 2310B rendering provider
    if claim.rendering_provider is not None:
        rp = claim.rendering_provider
        npi = _digits(rp.npi, f"{where}.rendering_provider.npi", (10,))
        out.append(_person_nm1("82", rp.name, f"{where}.rendering_provider.name", "XX", npi))
        if rp.taxonomy:
            taxonomy = clean_id(
                rp.taxonomy, f"{where}.rendering_provider.taxonomy", min_len=10, max_len=10
            )
            out.append(seg("PRV", "PE", "PXC", taxonomy))

    # 2320/2330A/2330B other payers
    if len(claim.other_payers) > 10:
        raise X12DataError(f"{where}.other_payers", "at most 10 other payers")
    known = {op.payer.payer_id.strip().upper() for op in claim.other_payers}
    for n, line in enumerate(claim.lines, 1):
        for k, adj in enumerate(line.adjudications, 1):
            if adj.payer_id.strip().upper() not in known:
                raise X12DataError(
                    f"{where}.lines[{n}].adjudications[{k}].payer_id",
                    "names no other payer of the claim",
                )
    payer_ids: list[str] = []
    responsibilities = [sub.payer_responsibility.strip().upper()]
    for i, op in enumerate(claim.other_payers, 1):
        at = f"{where}.other_payers[{i}]"
        out += _other_payer(op, at)
        payer_id = op.payer.payer_id.strip().upper()
        if payer_id in payer_ids:  # SVD01 must say which 2330B payer it means
            raise X12DataError(f"{at}.payer.payer_id", f"{payer_id} appears twice in the claim")
        responsibility = op.payer_responsibility.strip().upper()
        if responsibility in responsibilities:
            raise X12DataError(
                f"{at}.payer_responsibility",
                f"{responsibility} is already the responsibility of another payer of the claim",
            )
        payer_ids.append(payer_id)
        responsibilities.append(responsibility)
        _check_balance(claim, op, payer_id, at)

    # 2400 service lines
    seen: set[str] = set()
    for n, line in enumerate(claim.lines, 1):
        out += _service_line(n, line, claim, payer_ids, f"{where}.lines[{n}]")
        key = line.line_control_number.strip().upper()
        if key in seen:
            raise X12DataError(
                f"{where}.lines[{n}].line_control_number", "is repeated in the claim"
            )
        seen.add(key)
    return out, next_hl


def _control(value: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 999_999_999:
        raise X12DataError(where, f"must be an integer from 1 to 999999999, not {value!r}")
    return value


def transaction_segments(interchange: Interchange, group: ClaimGroup) -> list[str]:
    """ST..SE of one group (the segment strings, without terminators)."""
    st02 = f"{_control(group.transaction_control_number, 'group.transaction_control_number'):04d}"
    sub = interchange.submitter
    out = [
        seg("ST", "837", st02, VERSION),
        seg(
            "BHT",
            "0019",
            "00",
            clean_id(group.batch_reference or st02, "group.batch_reference", max_len=50),
            d8(interchange.created_at),
            interchange.created_at.strftime("%H%M"),
            _choice(group.transaction_type, "group.transaction_type", ("CH", "RP")),
        ),
        # 1000A submitter
        seg(
            "NM1",
            "41",
            "2",
            _required_text(sub.name, "submitter.name", 60),
            "",
            "",
            "",
            "",
            "46",
            clean_id(sub.identifier, "submitter.identifier", min_len=2, max_len=80),
        ),
    ]
    contact: list[str] = []
    if sub.contact_phone:
        contact += ["TE", _phone(sub.contact_phone, "submitter.contact_phone")]
    if sub.contact_email:
        contact += ["EM", clean_id(sub.contact_email, "submitter.contact_email", max_len=256)]
    if not contact:
        raise X12DataError("submitter.contact_phone", "a phone number or an e-mail is required")
    out.append(
        seg("PER", "IC", _required_text(sub.contact_name, "submitter.contact_name", 60), *contact)
    )
    # 1000B receiver
    out.append(
        seg(
            "NM1",
            "40",
            "2",
            _required_text(group.receiver.name, "receiver.name", 60),
            "",
            "",
            "",
            "",
            "46",
            clean_id(group.receiver.identifier, "receiver.identifier", min_len=2, max_len=80),
        )
    )
    # 2000A billing provider hierarchical level
    if not group.claims:
        raise X12DataError("group.claims", "a functional group needs at least one claim")
    if len(group.claims) > MAX_CLAIMS_PER_TRANSACTION:
        raise X12DataError(
            "group.claims",
            f"{len(group.claims)} claims: the guide allows {MAX_CLAIMS_PER_TRANSACTION} a "
            "transaction set; split the batch",
        )
    out.append(seg("HL", "1", "", "20", "1"))
    out += _billing_provider(group.billing_provider)
    hl = 2
    for claim in group.claims:
        segments, hl = _claim_loops(claim, hl, 1)
        out += segments
    out.append(seg("SE", str(len(out) + 1), st02))
    return out


def interchange_segments(interchange: Interchange, groups: Sequence[ClaimGroup]) -> list[str]:
    """Every segment of the interchange, ISA to IEA, without terminators."""
    if not groups:
        raise X12DataError("groups", "an interchange needs at least one functional group")
    isa13 = f"{_control(interchange.control_number, 'interchange.control_number'):09d}"
    sender = clean_id(interchange.sender_id, "interchange.sender_id", min_len=2, max_len=15)
    receiver = clean_id(interchange.receiver_id, "interchange.receiver_id", min_len=2, max_len=15)
    created = interchange.created_at
    usage = _choice(interchange.usage_indicator, "interchange.usage_indicator", ("T", "P"))
    out = [
        seg(
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            clean_id(
                interchange.sender_qualifier, "interchange.sender_qualifier", min_len=2, max_len=2
            ),
            sender.ljust(15),
            clean_id(
                interchange.receiver_qualifier,
                "interchange.receiver_qualifier",
                min_len=2,
                max_len=2,
            ),
            receiver.ljust(15),
            created.strftime("%y%m%d"),
            created.strftime("%H%M"),
            REPETITION,
            "00501",
            isa13,
            "1" if interchange.acknowledgment_requested else "0",
            usage,
            COMPONENT,
        )
    ]
    gs02 = clean_id(
        interchange.application_sender_code or interchange.sender_id,
        "interchange.application_sender_code",
        min_len=2,
        max_len=15,
    )
    seen_gs: set[int] = set()
    seen_st: set[int] = set()
    seen_pcn: set[str] = set()
    for group in groups:
        for claim in group.claims:
            pcn = claim.patient_control_number.strip().upper()
            if pcn in seen_pcn:  # a remittance could not tell the two apart
                raise X12DataError(
                    f"claim[{pcn}].patient_control_number", "appears twice in the interchange"
                )
            seen_pcn.add(pcn)
        gs06 = _control(group.group_control_number, "group.group_control_number")
        st02 = _control(group.transaction_control_number, "group.transaction_control_number")
        if gs06 in seen_gs:
            raise X12DataError("group.group_control_number", f"{gs06} is used twice")
        if st02 in seen_st:
            raise X12DataError("group.transaction_control_number", f"{st02} is used twice")
        seen_gs.add(gs06)
        seen_st.add(st02)
        gs03 = clean_id(
            group.application_receiver_code,
            "group.application_receiver_code",
            min_len=2,
            max_len=15,
        )
        out.append(
            seg(
                "GS",
                "HC",
                gs02,
                gs03,
                d8(created),
                created.strftime("%H%M"),
                str(gs06),
                "X",
                VERSION,
            )
        )
        out += transaction_segments(interchange, group)
        out.append(seg("GE", "1", str(gs06)))
    out.append(seg("IEA", str(len(groups)), isa13))
    return out


def build_837p(interchange: Interchange, groups: Sequence[ClaimGroup]) -> str:
    """The X12 837P interchange for `groups` (one functional group and transaction set each).

    Raises X12DataError (a ValueError naming the field) for data that cannot be written.
    """
    return SEGMENT_END.join(interchange_segments(interchange, groups)) + SEGMENT_END
