"""The claim scrubber: the front-end edits a claim must pass before it goes to the payer.

`run(claim)` reads only and returns the failed edits; `claims.scrub` stores them and moves the
claim. Each failure names the field, says how to fix it, and links to the screen that fixes it.
`EDITS` lists every edit in the order they run (the claim page shows them all, passed or not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.urls import reverse

from clinicops.core.models import Coverage, Staff, validate_npi

from .. import codes
from ..models import (
    MAX_POINTERS,
    BillingProfile,
    Claim,
    ClaimLine,
    ClaimStatus,
    PayerBillingSettings,
    procedure_code_problem,
)


@dataclass(frozen=True)
class EditFailure:
    code: str  # the edit's name, e.g. "coverage_active"
    field: str  # what is wrong, as the biller sees it
    message: str
    fix: str
    url: str  # the screen that fixes it

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


Edit = Callable[[Claim, date], Iterator[EditFailure]]


def _coding_url(claim: Claim) -> str:
    return reverse("revenue:charge_entry", args=[claim.encounter_id])


def _claim_url(claim: Claim) -> str:
    return reverse("revenue:claim", args=[claim.pk])


def _coverage_url(claim: Claim) -> str:
    if claim.coverage_id is None:
        return reverse("core:coverage_add", args=[claim.patient_id])
    return reverse("core:coverage_edit", args=[claim.patient_id, claim.coverage_id])


def _npi_problem(npi: str) -> str:
    try:
        validate_npi(npi)
    except ValidationError as error:
        return " ".join(error.messages)
    return ""


def coverage_active(claim: Claim, today: date) -> Iterator[EditFailure]:
    coverage = claim.coverage
    if coverage is None or not coverage.is_active_on(claim.service_date):
        yield EditFailure(
            "coverage_active",
            "Coverage",
            f"No coverage with {claim.payer} is active on the date of service "
            f"{claim.service_date}.",
            "Correct the coverage's effective dates, or bill the coverage that was active.",
            _coverage_url(claim),
        )


def member_id_present(claim: Claim, today: date) -> Iterator[EditFailure]:
    if claim.coverage is not None and not claim.coverage.member_id.strip():
        yield EditFailure(
            "member_id",
            "Member ID",
            "The coverage has no member ID.",
            "Enter the member ID from the insurance card.",
            _coverage_url(claim),
        )


def billing_npi(claim: Claim, today: date) -> Iterator[EditFailure]:
    profile = BillingProfile.objects.filter(clinic_id=claim.clinic_id).first()
    if profile is None:
        yield EditFailure(
            "billing_npi",
            "Billing provider NPI",
            "The clinic has no billing identity.",
            "Set up the clinic's billing profile (name, group NPI, tax id, address).",
            reverse("admin:revenue_billingprofile_add"),
        )
        return
    problem = _npi_problem(profile.group_npi)
    if problem:
        yield EditFailure(
            "billing_npi",
            "Billing provider NPI",
            f"Group NPI {profile.group_npi}: {problem}",
            "Correct the group NPI in the clinic's billing profile.",
            reverse("admin:revenue_billingprofile_change", args=[profile.pk]),
        )


def rendering_npi(claim: Claim, today: date) -> Iterator[EditFailure]:
    provider_ids = {claim.rendering_provider_id} | {
        line.rendering_provider_id for line in claim.lines.all() if line.rendering_provider_id
    }
    if None in provider_ids and len(provider_ids) == 1:
        yield EditFailure(
            "rendering_npi",
            "Rendering provider",
            "The claim names no rendering provider.",
            "Choose the provider who saw the patient on the coding screen.",
            _coding_url(claim),
        )
        return
    for staff in Staff.objects.filter(pk__in=[p for p in provider_ids if p]):
        problem = _npi_problem(staff.npi)
        if problem:
            yield EditFailure(
                "rendering_npi",
                "Rendering provider NPI",
                f"{staff}'s NPI {staff.npi or '(none)'}: {problem}",
                "Correct the provider's NPI in their staff record.",
                reverse("admin:core_staff_change", args=[staff.pk]),
            )


def diagnosis_present(claim: Claim, today: date) -> Iterator[EditFailure]:
    if not claim.diagnoses:
        yield EditFailure(
            "diagnosis_present",
            "Diagnoses",
            "The claim has no diagnosis.",
            "Enter at least one ICD-10-CM diagnosis on the coding screen.",
            _coding_url(claim),
        )


def diagnosis_valid(claim: Claim, today: date) -> Iterator[EditFailure]:
    for n, code in enumerate(claim.diagnoses, start=1):
        problem = codes.icd_problem(code, on=claim.service_date)
        if problem:
            yield EditFailure(
                "diagnosis_valid",
                f"Diagnosis {n}",
                problem,
                "Replace it with a billable ICD-10-CM code on the coding screen.",
                _coding_url(claim),
            )


def procedure_format(claim: Claim, today: date) -> Iterator[EditFailure]:
    for line in claim.lines.all():
        problem = procedure_code_problem(line.procedure_code)
        if problem:
            yield EditFailure(
                "procedure_format",
                f"Line {line.position} procedure code",
                f"{line.procedure_code!r}: {problem}",
                "Correct the line's procedure code on the coding screen.",
                _coding_url(claim),
            )


def pointers_valid(claim: Claim, today: date) -> Iterator[EditFailure]:
    count = len(claim.diagnoses)
    for line in claim.lines.all():
        bad = [p for p in line.pointers if not 1 <= p <= count]
        if not line.pointers or bad or len(line.pointers) > MAX_POINTERS:
            yield EditFailure(
                "pointers_valid",
                f"Line {line.position} diagnosis pointers",
                f"Pointers {line.pointers or '(none)'} must be 1 to {MAX_POINTERS} of the "
                f"claim's {count} diagnoses.",
                "Point the line at the diagnoses it treats on the coding screen.",
                _coding_url(claim),
            )


def charges_balance(claim: Claim, today: date) -> Iterator[EditFailure]:
    lines = list(claim.lines.all())
    total = sum((line.charge for line in lines), start=claim.total_charge * 0)
    if not lines or total != claim.total_charge or any(line.charge <= 0 for line in lines):
        yield EditFailure(
            "charges_balance",
            "Total charge",
            f"The claim's total {claim.total_charge} is not the sum of its {len(lines)} "
            f"line(s), {total}, or a line has no charge.",
            "Rebuild the claim from the coding screen (reopen the coding, mark it ready).",
            _coding_url(claim),
        )


def timely_filing(claim: Claim, today: date) -> Iterator[EditFailure]:
    if claim.payer_id is None:
        return
    settings = PayerBillingSettings.objects.filter(payer_id=claim.payer_id).first()
    days = settings.timely_filing_days if settings else 365
    age = (today - claim.service_date).days
    if age > days:
        yield EditFailure(
            "timely_filing",
            "Date of service",
            f"The service was {age} days ago; {claim.payer} accepts claims within {days} days.",
            "Attach proof of timely filing or write the charge off; check the payer's window.",
            reverse("admin:core_payer_change", args=[claim.payer_id]) if claim.payer_id else "",
        )


def _codes(lines: list[ClaimLine]) -> list[str]:
    return sorted(line.procedure_code for line in lines)


def duplicate(claim: Claim, today: date) -> Iterator[EditFailure]:
    """Another live claim of the same patient, provider, date and codes (not this one's
    original, replacement, or a void)."""
    mine = _codes(list(claim.lines.all()))
    related = {claim.pk, claim.original_id}
    others = (
        Claim.objects.filter(
            patient_id=claim.patient_id,
            rendering_provider_id=claim.rendering_provider_id,
            service_date=claim.service_date,
            frequency=Claim.Frequency.ORIGINAL,
        )
        .exclude(pk__in=[pk for pk in related if pk])
        .exclude(status=ClaimStatus.CLOSED)
        .exclude(replacements__frequency=Claim.Frequency.VOID)
        .prefetch_related("lines")
    )
    if claim.frequency != Claim.Frequency.ORIGINAL:
        return
    for other in others:
        if _codes(list(other.lines.all())) == mine:
            yield EditFailure(
                "duplicate",
                "Claim",
                f"Claim {other.control_number} bills the same patient, provider, date and codes.",
                "Close this claim if it is a duplicate, or change the codes that differ.",
                _claim_url(other),
            )
            return


def prior_authorization(claim: Claim, today: date) -> Iterator[EditFailure]:
    if claim.payer_id is None:
        return
    settings = PayerBillingSettings.objects.filter(payer_id=claim.payer_id).first()
    needs = set(settings.prior_auth_codes) if settings else set()
    billed = {line.procedure_code for line in claim.lines.all()}
    if needs & billed and not claim.prior_auth_number.strip():
        yield EditFailure(
            "prior_authorization",
            "Prior authorization number",
            f"{claim.payer} needs a prior authorization for {', '.join(sorted(needs & billed))}.",
            "Enter the authorization number on the claim page.",
            _claim_url(claim),
        )


def subscriber_complete(claim: Claim, today: date) -> Iterator[EditFailure]:
    coverage = claim.coverage
    if coverage is None:
        return
    if coverage.subscriber_relationship == Coverage.Relationship.SELF:
        patient = claim.patient
        gaps = [
            label
            for label, value in (
                ("address", patient.address_line1.strip()),
                ("city", patient.city.strip()),
                ("state", patient.state.strip()),
                ("ZIP code", patient.postal_code.strip()),
            )
            if not value
        ]
        if gaps:
            yield EditFailure(
                "subscriber_complete",
                "Patient address",
                f"The patient is the subscriber and their {', '.join(gaps)} "
                f"{'is' if len(gaps) == 1 else 'are'} missing.",
                "Enter the patient's address.",
                reverse("core:patient_edit", args=[claim.patient_id]),
            )
        return
    missing = [
        label
        for label, value in (
            ("name", coverage.subscriber_name.strip()),
            ("date of birth", coverage.subscriber_date_of_birth),
            ("sex", coverage.subscriber_sex),
            ("address", coverage.subscriber_address_line1.strip()),
            ("city", coverage.subscriber_city.strip()),
            ("state", coverage.subscriber_state.strip()),
            ("ZIP code", coverage.subscriber_postal_code.strip()),
        )
        if not value
    ]
    if missing:
        yield EditFailure(
            "subscriber_complete",
            "Subscriber",
            f"The patient is not the subscriber and the subscriber's {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing.",
            "Enter the subscriber's details on the coverage.",
            _coverage_url(claim),
        )


EDITS: tuple[tuple[str, str, Edit], ...] = (
    ("coverage_active", "Coverage active on the date of service", coverage_active),
    ("member_id", "Member ID present", member_id_present),
    ("billing_npi", "Billing NPI passes the check digit", billing_npi),
    ("rendering_npi", "Rendering NPI passes the check digit", rendering_npi),
    ("diagnosis_present", "At least one diagnosis", diagnosis_present),
    ("diagnosis_valid", "ICD-10-CM billable and valid on the date", diagnosis_valid),
    ("procedure_format", "Procedure code format", procedure_format),
    ("pointers_valid", "Diagnosis pointers valid", pointers_valid),
    ("charges_balance", "Charges equal the sum of the lines", charges_balance),
    ("timely_filing", "Within the payer's timely-filing window", timely_filing),
    ("duplicate", "Not a duplicate claim", duplicate),
    ("prior_authorization", "Prior authorization where needed", prior_authorization),
    ("subscriber_complete", "Subscriber data complete", subscriber_complete),
)


def run(claim: Claim, *, today: date) -> list[EditFailure]:
    """Every edit's failures, in order (empty: the claim is clean)."""
    claim = (
        Claim.objects.select_related("coverage", "payer", "clinic", "patient")
        .prefetch_related("lines")
        .get(pk=claim.pk)
    )
    failures: list[EditFailure] = []
    for _code, _label, edit in EDITS:
        failures.extend(edit(claim, today))
    return failures
