"""What an X12 837P (005010X222A1) needs, as frozen dataclasses independent of Django models.

The Django side (revenue models, the export command, the batch screen) builds these from its
rows and passes them to `revenue.x12.writer_837p.build_837p(interchange, groups)`; the writer
never touches the database. Money is `Decimal`; dates are `datetime.date`; codes are strings as
the implementation guide spells them (the writer upper-cases free text, checks lengths and
rejects the delimiter characters, raising `X12DataError` that names the field).

Shape of one file:

    Interchange (ISA/IEA, one per file; control numbers passed in)
      ClaimGroup (GS/GE + ST/SE, one per payer; GS06 and ST02 passed in)
        BillingProvider (2000A/2010AA, optional pay-to 2010AB)
        Claim (2000B subscriber/2010BA/2010BB payer, 2000C/2010CA when patient != subscriber,
               2300 CLM/REF/HI, 2310B rendering, 2320/2330 other payers, 2400 lines)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


class X12DataError(ValueError):
    """Data that cannot go into an 837P; `field` names where, e.g. "claim[PC123].lines[2].units"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Address:
    """N3/N4. `state` is the 2-letter code, `postal_code` 5 or 9 digits (billing provider: 9)."""

    line1: str
    city: str
    state: str
    postal_code: str
    line2: str = ""


@dataclass(frozen=True)
class PersonName:
    """NM103-NM107 for a person."""

    last: str
    first: str = ""
    middle: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class Submitter:
    """Loop 1000A: who sends the file (the clinic or its billing service)."""

    name: str  # NM103, organisation name
    identifier: str  # NM109, the ETIN / submitter id the receiver assigned (2-80 chars)
    contact_name: str  # PER02
    contact_phone: str = ""  # PER04 (digits); at least one of phone/email
    contact_email: str = ""


@dataclass(frozen=True)
class Receiver:
    """Loop 1000B: who receives the file (the clearinghouse or the payer)."""

    name: str  # NM103
    identifier: str  # NM109, ETIN of the receiver


@dataclass(frozen=True)
class BillingProvider:
    """Loops 2000A (PRV taxonomy) / 2010AA (billing provider) / 2010AB (pay-to)."""

    name: str  # organisation name, or a person's last name when is_person
    npi: str  # 10 digits, Luhn-valid with the 80840 prefix (the scrubber checks it)
    ein: str  # tax id, 9 digits (a dash is removed)
    address: Address  # a street address, not a PO box; 9-digit ZIP
    taxonomy: str = ""  # PRV03, 10 characters; omitted when empty
    pay_to_address: Address | None = None  # 2010AB when it differs from `address`
    is_person: bool = False  # NM102 1 (person) rather than 2 (organisation)
    first_name: str = ""  # when is_person


@dataclass(frozen=True)
class Payer:
    """Loop 2010BB (or 2330B for another payer)."""

    name: str  # NM103
    payer_id: str  # NM109 with qualifier PI: the X12 payer id (2-80 chars)
    address: Address | None = None


@dataclass(frozen=True)
class Subscriber:
    """Loops 2000B (SBR) / 2010BA (subscriber) / 2010BB (payer) for the payer billed."""

    payer: Payer
    claim_filing_indicator: (
        str  # SBR09: CI commercial, MB Medicare B, MC Medicaid, BL, HM, 09 self-pay...
    )
    member_id: str  # NM109 (MI)
    name: PersonName
    birth_date: dt.date | None = None  # DMG02; required when the subscriber is the patient
    sex: str = "U"  # DMG03: F, M or U
    address: Address | None = None  # required when the subscriber is the patient
    group_number: str = ""  # SBR03
    group_name: str = ""  # SBR04 (only when there is no group number)
    payer_responsibility: str = "P"  # SBR01: P primary, S secondary, T tertiary (A-H for 4th+)


@dataclass(frozen=True)
class Patient:
    """Loops 2000C (PAT) / 2010CA, only when the patient is not the subscriber."""

    relationship_code: str  # PAT01: 01 spouse, 19 child, 20 employee, 21 unknown, 39, 40, 53, G8
    name: PersonName
    birth_date: dt.date
    sex: str  # F, M or U
    address: Address


@dataclass(frozen=True)
class RenderingProvider:
    """Loop 2310B (claim level): the person who rendered the care, when not the billing provider."""

    name: PersonName
    npi: str
    taxonomy: str = ""  # PRV*PE when given


@dataclass(frozen=True)
class Adjustment:
    """A CAS triple: group code (CO, OA, PI, PR in 5010), reason code (CARC), amount."""

    group_code: str
    reason_code: str
    amount: Decimal
    quantity: Decimal | None = None


@dataclass(frozen=True)
class LineAdjudication:
    """Loop 2430 (secondary claims): what another payer did with one service line."""

    payer_id: str  # SVD01, must equal the 2330B payer id of an OtherPayer of the claim
    paid_amount: Decimal  # SVD02
    procedure_code: str  # SVD03, as adjudicated
    units: Decimal  # SVD05
    adjudication_date: dt.date  # DTP*573
    modifiers: tuple[str, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()


@dataclass(frozen=True)
class OtherPayer:
    """Loops 2320 (other subscriber information) / 2330A (other subscriber) / 2330B (other payer).

    On a secondary claim this is the primary payer: `payer_responsibility` "P", `paid_amount`
    what it paid (AMT*D), `adjustments` its claim-level CAS.
    """

    payer: Payer
    payer_responsibility: str  # SBR01 of 2320: P, S, T...
    relationship_code: (
        str  # SBR02 of 2320: the other subscriber's relation to the patient (18 self)
    )
    claim_filing_indicator: str  # SBR09
    subscriber_name: PersonName  # 2330A NM1*IL
    member_id: str  # 2330A NM109 (MI)
    group_number: str = ""
    group_name: str = ""
    paid_amount: Decimal | None = None  # AMT*D; required once the other payer adjudicated
    adjustments: tuple[Adjustment, ...] = ()  # claim-level CAS in 2320
    adjudication_date: dt.date | None = None  # 2330B DTP*573
    benefits_assigned: bool = True  # OI03
    release_of_information: str = "Y"  # OI06: Y or I


@dataclass(frozen=True)
class ServiceLine:
    """Loop 2400: LX / SV1 / DTP*472 / REF*6R (/ 2430 for secondary claims)."""

    procedure_code: str  # CPT/HCPCS (SV101-2, qualifier HC)
    charge: Decimal  # SV102
    units: Decimal  # SV104
    diagnosis_pointers: tuple[int, ...]  # SV107: 1-4 pointers into Claim.diagnoses (1-based)
    line_control_number: str  # REF*6R, unique within the claim; the 835 echoes it (<= 50 chars)
    modifiers: tuple[str, ...] = ()  # up to 4, 2 characters each
    unit_basis: str = "UN"  # SV103: UN units, MJ minutes
    service_date: dt.date | None = None  # DTP*472; None means the claim's service_date
    place_of_service: str = ""  # SV105, only when it differs from the claim's
    adjudications: tuple[LineAdjudication, ...] = ()  # 2430, secondary claims


@dataclass(frozen=True)
class Claim:
    """Loop 2300 and everything under it, plus the subscriber/patient loops above it.

    `patient` is None when the patient is the subscriber (SBR02 = 18, no 2000C loop).
    `frequency_code` 1 original, 7 replacement (corrected claim), 8 void; 7 and 8 need
    `original_claim_reference` (the payer's claim control number, REF*F8).
    """

    patient_control_number: str  # CLM01, <= 20 characters, unique and never reused
    total_charge: Decimal  # CLM02, must equal the sum of the line charges
    place_of_service: str  # CLM05-1, 2 digits (11 office)
    service_date: dt.date
    subscriber: Subscriber
    diagnoses: tuple[str, ...]  # ICD-10-CM, 1-12, principal first (ABK then ABF); dots allowed
    lines: tuple[ServiceLine, ...]  # 1-50
    patient: Patient | None = None
    frequency_code: str = "1"  # CLM05-3: 1, 7 or 8
    original_claim_reference: str = ""  # REF*F8, required for 7 and 8
    prior_authorization: str = ""  # REF*G1
    referral_number: str = ""  # REF*9F
    rendering_provider: RenderingProvider | None = None
    other_payers: tuple[OtherPayer, ...] = ()  # 2320/2330, up to 10
    provider_signature_on_file: bool = True  # CLM06
    assignment_code: str = "A"  # CLM07: A assigned, B lab only, C not assigned
    benefits_assigned: bool = True  # CLM08
    release_of_information: str = "Y"  # CLM09: Y or I


@dataclass(frozen=True)
class ClaimGroup:
    """One functional group (GS/GE) holding one transaction set (ST/SE): one payer's claims.

    Control numbers are passed in (the caller allocates them, unique and increasing).
    """

    group_control_number: int  # GS06 = GE02, 1-999999999
    transaction_control_number: int  # ST02 = SE02, 1-999999999 (written with at least 4 digits)
    application_receiver_code: str  # GS03, usually the payer or clearinghouse id
    receiver: Receiver  # 1000B
    billing_provider: BillingProvider
    claims: tuple[Claim, ...]
    batch_reference: str = ""  # BHT03; defaults to the ST02 number
    # BHT06: CH chargeable (normal), RP reporting (encounters)
    transaction_type: str = "CH"


@dataclass(frozen=True)
class Interchange:
    """The envelope (ISA/IEA) and the file-wide parts: submitter (1000A), dates, usage."""

    sender_id: str  # ISA06 (<= 15) and, unless application_sender_code is set, GS02
    receiver_id: str  # ISA08 (<= 15)
    control_number: int  # ISA13 = IEA02, 1-999999999
    created_at: dt.datetime  # ISA09/10, GS04/05, BHT04/05
    submitter: Submitter
    usage_indicator: str = "T"  # ISA15: T test, P production
    sender_qualifier: str = "ZZ"  # ISA05
    receiver_qualifier: str = "ZZ"  # ISA07
    application_sender_code: str = ""  # GS02; defaults to sender_id
    acknowledgment_requested: bool = False  # ISA14
