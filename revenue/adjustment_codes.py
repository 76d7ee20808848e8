"""A usable subset of the CARC and RARC code lists (X12 / WPC, texts abridged where long) with
the denial bucket of each CARC (shared/KPIS.md). Loaded by migration 0004; the table is data,
editable in the admin, and a code not in it is posted, kept and flagged, never refused.
"""

from __future__ import annotations

from typing import Any

# (code, bucket or "", text)
CARCS: tuple[tuple[str, str, str], ...] = (
    ("1", "", "Deductible amount."),
    ("2", "", "Coinsurance amount."),
    ("3", "", "Co-payment amount."),
    ("4", "coding", "The procedure code is inconsistent with the modifier used."),
    ("11", "coding", "The diagnosis is inconsistent with the procedure."),
    (
        "15",
        "authorization",
        "The authorization number is missing, invalid, or does not apply to the billed services "
        "or provider.",
    ),
    ("16", "documentation", "Claim/service lacks information or has submission/billing error(s)."),
    ("18", "duplicate", "Exact duplicate claim/service."),
    (
        "22",
        "registration",
        "This care may be covered by another payer per coordination of benefits.",
    ),
    ("23", "", "The impact of prior payer(s) adjudication including payments and/or adjustments."),
    ("26", "registration", "Expenses incurred prior to coverage."),
    ("27", "registration", "Expenses incurred after coverage terminated."),
    ("29", "timely_filing", "The time limit for filing has expired."),
    ("31", "registration", "Patient cannot be identified as our insured."),
    (
        "45",
        "",
        "Charge exceeds fee schedule/maximum allowable or contracted/legislated fee arrangement.",
    ),
    (
        "50",
        "medical_necessity",
        "These are non-covered services because this is not deemed a 'medical necessity' by the "
        "payer.",
    ),
    ("94", "", "Processed in excess of charges."),
    ("96", "medical_necessity", "Non-covered charge(s)."),
    (
        "97",
        "coding",
        "The benefit for this service is included in the payment/allowance for another "
        "service/procedure that has already been adjudicated.",
    ),
    (
        "109",
        "registration",
        "Claim/service not covered by this payer/contractor. You must send the claim/service to "
        "the correct payer/contractor.",
    ),
    ("146", "coding", "Diagnosis was invalid for the date(s) of service reported."),
    (
        "151",
        "medical_necessity",
        "Payment adjusted because the payer deems the information submitted does not support "
        "this many/frequency of services.",
    ),
    ("167", "medical_necessity", "This (these) diagnosis(es) is (are) not covered."),
    ("181", "coding", "Procedure code was invalid on the date of service."),
    ("182", "coding", "Procedure modifier was invalid on the date of service."),
    (
        "185",
        "credentialing",
        "The rendering provider is not eligible to perform the service billed.",
    ),
    ("197", "authorization", "Precertification/notification/authorization/pre-treatment absent."),
    ("198", "authorization", "Precertification/notification/authorization/pre-treatment exceeded."),
    (
        "204",
        "medical_necessity",
        "This service/equipment/drug is not covered under the patient's current benefit plan.",
    ),
    (
        "226",
        "documentation",
        "Information requested from the Billing/Rendering Provider was not provided or not "
        "provided timely or was insufficient/incomplete.",
    ),
    (
        "236",
        "coding",
        "This procedure or procedure/modifier combination is not compatible with another "
        "procedure or procedure/modifier combination provided on the same day (NCCI).",
    ),
    ("242", "authorization", "Services not provided by network/primary care providers."),
    (
        "251",
        "documentation",
        "The attachment/other documentation content received did not contain the content "
        "required to process this claim or service.",
    ),
    (
        "252",
        "documentation",
        "An attachment/other documentation is required to adjudicate this claim/service.",
    ),
    ("253", "", "Sequestration - reduction in federal payment."),
    (
        "B7",
        "credentialing",
        "This provider was not certified/eligible to be paid for this procedure/service on this "
        "date of service.",
    ),
    (
        "B13",
        "duplicate",
        "Previously paid. Payment for this claim/service may have been provided in a previous "
        "payment.",
    ),
    ("A1", "other", "Claim/Service denied."),
)

RARCS: tuple[tuple[str, str], ...] = (
    ("M15", "Separately billed services/tests have been bundled as they are considered "
     "components of the same procedure. Separate payment is not allowed."),
    ("M80", "Not covered when performed during the same session/date as a previously processed "
     "service for the patient."),
    ("M86", "Service denied because payment already made for same/similar procedure within set "
     "time frame."),
    ("M127", "Missing patient medical record for this service."),
    ("MA04", "Secondary payment cannot be considered without the identity of or payment "
     "information from the primary payer."),
    ("MA18", "Alert: The claim information is also being forwarded to the patient's supplemental "
     "insurer."),
    ("MA130", "Your claim contains incomplete and/or invalid information, and no appeal rights "
     "are afforded because the claim is unprocessable. Please submit a new claim with the "
     "complete/correct information."),
    ("N20", "Service not payable with other service rendered on the same date."),
    ("N30", "Patient ineligible for this service."),
    ("N54", "Claim information is inconsistent with pre-certified/authorized services."),
    ("N130", "Consult plan benefit documents/guidelines for information about restrictions for "
     "this service."),
    ("N179", "Additional information has been requested from the member."),
    ("N211", "Alert: You may not appeal this decision."),
    ("N290", "Missing/incomplete/invalid rendering provider primary identifier."),
)  # fmt: skip


def load_codes(model: Any = None) -> int:
    """Put the subset above into the code table (`model`: the historical model in a migration);
    rows already there are updated. Returns how many codes were written."""
    import datetime as dt

    if model is None:
        from revenue.models import AdjustmentCode as model

    start = dt.date(2000, 1, 1)
    for code, bucket, text in CARCS:
        model.objects.update_or_create(
            kind="carc",
            code=code,
            defaults={"bucket": bucket, "description": text, "effective_from": start},
        )
    for code, text in RARCS:
        model.objects.update_or_create(
            kind="rarc", code=code, defaults={"description": text, "effective_from": start}
        )
    return len(CARCS) + len(RARCS)


def ensure_codes() -> None:
    """Reload the subset when the table is empty (a transactional test's flush empties it)."""
    from revenue.models import AdjustmentCode

    if not AdjustmentCode.objects.exists():
        load_codes()
