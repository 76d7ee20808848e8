"""Revenue cycle, part I: billing identity, fee schedules, charge capture, claims and 837P batches.

- Reference data: `BillingProfile` (per clinic), `PayerBillingSettings` (per payer),
  `ProcedureCode` (the clinic-imported CPT/HCPCS list) and effective-dated `FeeSchedule`s.
- Charge capture: an `Encounter` per checked-out visit (diagnoses, status draft/ready) with its
  `ServiceLine`s; charges come from the fee schedule in force on the date of service.
- Claims: a `Claim` per visit and payer with `ClaimLine`s, a status machine
  (`revenue.claim_status`), `ClaimEvent`s (who and why) and the scrubber's last result.
- `ExportBatch`: one 837P interchange as written, kept byte for byte.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import connection, models
from django.db.models import Q

from clinicops.core.models import (
    Clinic,
    ClinicScopedQuerySet,
    Coverage,
    Patient,
    Payer,
    Staff,
    luhn_check_digit,
    validate_npi,
)
from patientflow.models import Visit

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager

MAX_DIAGNOSES = 12
MAX_MODIFIERS = 4
MAX_POINTERS = 4

CPT_RE = re.compile(r"^(\d{5}|\d{4}[FTU])$")
HCPCS_RE = re.compile(r"^[A-V]\d{4}$")
MODIFIER_RE = re.compile(r"^[A-Z0-9]{2}$")


def procedure_code_problem(code: str) -> str:
    """Why `code` is not a CPT/HCPCS code ("" when it is one)."""
    if CPT_RE.match(code) or HCPCS_RE.match(code):
        return ""
    return (
        "A procedure code is a CPT code (5 digits, or 4 digits and F, T or U) or a HCPCS "
        "Level II code (a letter A-V and 4 digits)."
    )


def validate_procedure_code(value: str) -> None:
    problem = procedure_code_problem(value)
    if problem:
        raise ValidationError(problem)


def validate_ein(value: str) -> None:
    if not re.fullmatch(r"\d{9}", value or ""):
        raise ValidationError("A tax id (EIN) is 9 digits, without the dash.")


def validate_taxonomy(value: str) -> None:
    if not re.fullmatch(r"[0-9A-Z]{9}X", value or ""):
        raise ValidationError("A taxonomy code is 10 characters ending in X, e.g. 207Q00000X.")


def validate_modifier(value: str) -> None:
    if not MODIFIER_RE.match(value or ""):
        raise ValidationError("A modifier is 2 letters or digits, e.g. 25.")


# ---------------------------------------------------------------------------------------------
# Reference data


class BillingProfile(models.Model):
    """Who bills for a clinic's visits: loop 2010AA of the 837P."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="billing_profile")
    billing_name = models.CharField("billing provider name", max_length=60)
    group_npi = models.CharField("group NPI", max_length=10, validators=[validate_npi])
    tax_id = models.CharField("tax id (EIN)", max_length=9, validators=[validate_ein])
    taxonomy = models.CharField(max_length=10, validators=[validate_taxonomy])
    address_line1 = models.CharField(
        "street address", max_length=55, help_text="A street address, not a PO box."
    )
    city = models.CharField(max_length=30)
    state = models.CharField(max_length=2)
    postal_code = models.CharField(max_length=9, help_text="ZIP+4 digits, no dash.")
    pay_to_address_line1 = models.CharField(
        "pay-to address", max_length=55, blank=True, help_text="Blank: the same as above."
    )
    pay_to_city = models.CharField(max_length=30, blank=True)
    pay_to_state = models.CharField(max_length=2, blank=True)
    pay_to_postal_code = models.CharField(max_length=9, blank=True)
    place_of_service = models.CharField(
        max_length=2, default="11", help_text="CMS place-of-service code; 11 is an office."
    )
    # The 837P envelope: who sends (the submitter, 1000A) and who receives (1000B).
    submitter_id = models.CharField(
        "submitter id (ETIN)", max_length=15, help_text="The id the clearinghouse gave us."
    )
    contact_name = models.CharField("billing contact", max_length=60)
    contact_phone = models.CharField(
        max_length=10, validators=[RegexValidator(r"^\d{10}$", "Ten digits, no punctuation.")]
    )
    receiver_name = models.CharField("clearinghouse name", max_length=60)
    receiver_id = models.CharField("clearinghouse id", max_length=15)
    coding_from = models.DateField(
        null=True,
        blank=True,
        help_text="Visits before this date were billed before ClinicOps: not in the coding queue.",
    )
    production = models.BooleanField(
        default=False, help_text="Off: files are marked as test data (ISA15 = T)."
    )

    def __str__(self) -> str:
        return f"{self.billing_name} ({self.clinic})"


class PayerBillingSettings(models.Model):
    """How we bill one payer: filing indicator, timely-filing window, prior-auth codes."""

    class FilingIndicator(models.TextChoices):
        COMMERCIAL = "CI", "CI: commercial insurance"
        BLUE_CROSS = "BL", "BL: Blue Cross / Blue Shield"
        MEDICARE_B = "MB", "MB: Medicare Part B"
        MEDICAID = "MC", "MC: Medicaid"
        HMO = "HM", "HM: HMO"
        WORKERS_COMP = "WC", "WC: workers' compensation"
        OTHER = "ZZ", "ZZ: mutually defined"

    payer = models.OneToOneField(Payer, on_delete=models.CASCADE, related_name="billing_settings")
    claim_filing_indicator = models.CharField(
        max_length=2, choices=FilingIndicator.choices, default=FilingIndicator.COMMERCIAL
    )
    timely_filing_days = models.PositiveSmallIntegerField(
        default=365, validators=[MinValueValidator(1)]
    )
    appeal_days = models.PositiveSmallIntegerField(
        "appeal deadline (days)",
        default=90,
        validators=[MinValueValidator(1)],
        help_text="Days from the remittance date to appeal a denial.",
    )
    prior_auth_codes = ArrayField(
        models.CharField(max_length=5, validators=[validate_procedure_code]),
        default=list,
        blank=True,
        help_text="Procedure codes this payer authorizes in advance.",
    )

    class Meta:
        verbose_name_plural = "payer billing settings"

    def __str__(self) -> str:
        return f"Billing settings for {self.payer}"


class ProcedureCode(models.Model):
    """A CPT or HCPCS code a clinic has imported (CPT texts are licensed, so they are data)."""

    code = models.CharField(max_length=5, unique=True, validators=[validate_procedure_code])
    description = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"


class FeeSchedule(models.Model):
    """Charges for one clinic and payer (payer empty: the default, used for self-pay too),
    in force from `effective_from` through `effective_to`."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="fee_schedules")
    payer = models.ForeignKey(
        Payer, on_delete=models.PROTECT, null=True, blank=True, related_name="fee_schedules"
    )
    name = models.CharField(max_length=80)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Blank: open-ended.")

    objects = ClinicScopedQuerySet["FeeSchedule"].as_manager()

    if TYPE_CHECKING:
        items: RelatedManager[FeeScheduleItem]

    class Meta:
        ordering = ["clinic", "payer", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_to__gte=models.F("effective_from")),
                name="fee_schedule_ends_after_it_starts",
            ),
            models.UniqueConstraint(
                fields=["clinic", "payer", "effective_from"],
                nulls_distinct=False,
                name="one_fee_schedule_start_per_clinic_payer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.payer or 'default'}, from {self.effective_from})"

    def is_in_force_on(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )


class FeeScheduleItem(models.Model):
    schedule = models.ForeignKey(FeeSchedule, on_delete=models.CASCADE, related_name="items")
    procedure_code = models.CharField(max_length=5, validators=[validate_procedure_code])
    modifier = models.CharField(max_length=2, blank=True)
    charge = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    expected_allowed = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )

    class Meta:
        ordering = ["schedule", "procedure_code", "modifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "procedure_code", "modifier"], name="one_fee_per_code_modifier"
            )
        ]

    def __str__(self) -> str:
        mod = f"-{self.modifier}" if self.modifier else ""
        return f"{self.procedure_code}{mod}: {self.charge}"


# ---------------------------------------------------------------------------------------------
# Charge capture


class Encounter(models.Model):
    """The coding of one checked-out visit: its diagnoses and service lines."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        READY = "ready", "Ready to bill"

    visit = models.OneToOneField(Visit, on_delete=models.PROTECT, related_name="encounter")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="encounters")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="encounters")
    service_date = models.DateField()
    rendering_provider = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    diagnoses = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    prior_auth_number = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicScopedQuerySet["Encounter"].as_manager()

    if TYPE_CHECKING:
        lines: RelatedManager[ServiceLine]

    class Meta:
        ordering = ["service_date", "pk"]
        permissions = [("code_encounter", "Can code a visit (enter charges)")]
        constraints = [
            models.CheckConstraint(
                condition=Q(diagnoses__len__lte=MAX_DIAGNOSES), name="encounter_at_most_12_dx"
            )
        ]

    def __str__(self) -> str:
        return f"Encounter of {self.patient} on {self.service_date}"

    @property
    def total_charge(self) -> Decimal:
        return sum((line.charge for line in self.lines.all()), Decimal("0"))


class ServiceLine(models.Model):
    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    procedure_code = models.CharField(max_length=5)
    modifiers = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    units = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    pointers = ArrayField(models.PositiveSmallIntegerField(), default=list)
    unit_charge = models.DecimalField(max_digits=10, decimal_places=2)
    charge = models.DecimalField(max_digits=10, decimal_places=2)
    rendering_provider = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["encounter", "position"]
        constraints = [
            models.UniqueConstraint(fields=["encounter", "position"], name="one_line_per_position"),
            models.CheckConstraint(
                condition=Q(modifiers__len__lte=MAX_MODIFIERS), name="service_line_at_most_4_mods"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}: {self.procedure_code} x{self.units}"


# ---------------------------------------------------------------------------------------------
# Claims


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCRUBBED = "scrubbed", "Scrubbed (clean)"
    HELD = "held", "Held (failed edits)"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    PAID = "paid", "Paid"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    DENIED = "denied", "Denied"
    APPEALED = "appealed", "Appealed"
    CLOSED = "closed", "Closed"


class Claim(models.Model):
    class Frequency(models.TextChoices):
        ORIGINAL = "1", "Original (1)"
        CORRECTED = "7", "Corrected (7)"
        VOID = "8", "Void (8)"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="claims")
    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="claims")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="claims")
    coverage = models.ForeignKey(
        Coverage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payer = models.ForeignKey(
        Payer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="claims",
        help_text="Empty: self-pay (a patient statement, never an 837).",
    )
    control_number = models.CharField(
        "patient control number (CLM01)", max_length=20, unique=True, editable=False
    )
    frequency = models.CharField(
        max_length=1, choices=Frequency.choices, default=Frequency.ORIGINAL
    )
    original = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replacements"
    )
    payer_claim_number = models.CharField(
        max_length=50, blank=True, help_text="The payer's claim number (needed for 7 and 8)."
    )
    status = models.CharField(max_length=20, choices=ClaimStatus.choices, default=ClaimStatus.DRAFT)
    service_date = models.DateField()
    rendering_provider = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    diagnoses = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    prior_auth_number = models.CharField(max_length=50, blank=True)
    total_charge = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    # The scrubber: the last result, and whether the first pass was clean.
    edit_failures = models.JSONField(default=list, blank=True)
    last_scrubbed_at = models.DateTimeField(null=True, blank=True)
    first_scrubbed_at = models.DateTimeField(null=True, blank=True)
    first_pass_clean = models.BooleanField(null=True)
    manually_changed = models.BooleanField(
        default=False, help_text="Changed by hand after it was built (so not clean on first pass)."
    )
    batch = models.ForeignKey(
        "ExportBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="claims"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    # Remittances (issue 14): running totals of the claim's ledger rows, kept in the posting's
    # transaction; `manage.py check_balances` recomputes them from the ledger.
    paid_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    adjusted_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    balance = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        help_text="Charges - payments - adjustments (denials stay in it until written off).",
    )
    patient_balance = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        help_text="The part of the balance the patient owes.",
    )
    next_payer = models.ForeignKey(
        Payer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The payer the remaining balance moved to (secondary coverage).",
    )
    first_remitted_at = models.DateTimeField(null=True, blank=True)
    first_remit_denied = models.BooleanField(
        null=True, help_text="Denied in full or in part on its first remittance."
    )

    objects = ClinicScopedQuerySet["Claim"].as_manager()

    if TYPE_CHECKING:
        lines: RelatedManager[ClaimLine]
        events: RelatedManager[ClaimEvent]

    class Meta:
        ordering = ["-service_date", "-pk"]
        permissions = [
            ("scrub_claim", "Can build and scrub claims"),
            ("submit_claim", "Can export claims (837P) and download batches"),
            ("change_claim_status", "Can move a claim to another status"),
        ]
        indexes = [
            models.Index(fields=["clinic", "status"], name="claim_clinic_status"),
            models.Index(fields=["clinic", "first_remitted_at"], name="claim_clinic_first_remit"),
            models.Index(fields=["clinic", "first_scrubbed_at"], name="claim_clinic_first_scrub"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(frequency="1", original__isnull=True)
                | (~Q(frequency="1") & Q(original__isnull=False)),
                name="claim_replacement_names_its_original",
            ),
            models.CheckConstraint(
                condition=Q(diagnoses__len__lte=MAX_DIAGNOSES), name="claim_at_most_12_dx"
            ),
        ]

    def __str__(self) -> str:
        return f"Claim {self.control_number}"

    @property
    def is_self_pay(self) -> bool:
        return self.payer_id is None

    @staticmethod
    def next_control_numbers(count: int = 1) -> list[str]:
        """New patient control numbers: "C" + 9 digits of a Postgres sequence + a Luhn digit.

        11 characters (837P allows 20 for payers that truncate), unique and never reused: a
        sequence never hands a number out twice, even when the transaction rolls back."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval('revenue_claim_control_seq') FROM generate_series(1, %s)", [count]
            )
            numbers = [f"{row[0]:09d}" for row in cursor.fetchall()]
        return [f"C{n}{luhn_check_digit(n)}" for n in numbers]


class ClaimLine(models.Model):
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    line_id = models.CharField("line item control number (REF*6R)", max_length=30, editable=False)
    procedure_code = models.CharField(max_length=5)
    modifiers = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    units = models.PositiveSmallIntegerField(default=1)
    pointers = ArrayField(models.PositiveSmallIntegerField(), default=list)
    charge = models.DecimalField(max_digits=10, decimal_places=2)
    service_date = models.DateField()
    rendering_provider = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["claim", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["claim", "position"], name="one_claim_line_per_position"
            ),
            models.UniqueConstraint(fields=["line_id"], name="unique_claim_line_id"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id}: {self.procedure_code}"


class ClaimEvent(models.Model):
    """One status change of a claim: from, to, who and why (append-only)."""

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, choices=ClaimStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=ClaimStatus.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["claim", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.claim}: {self.from_status or '-'} -> {self.to_status}"


class CheckStatus(models.TextChoices):
    """pyx12's verdict on a stored 837P batch."""

    PENDING = "pending", "Not yet checked"
    VALID = "valid", "No findings"
    FINDINGS = "findings", "Findings"


class ExportBatch(models.Model):
    """One 837P interchange as written: the bytes, the control numbers in its envelopes, and
    what pyx12 found in them."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="claim_batches")
    payer = models.ForeignKey(
        Payer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: every payer, one functional group each.",
    )
    interchange_control_number = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=150)
    claim_count = models.PositiveIntegerField()
    line_count = models.PositiveIntegerField()
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    # pyx12's check of the stored bytes, done by a Celery task after the export commits (it
    # takes about a minute for 5,000 claims, too long for the export request): see
    # revenue.services.batch_check and docs/decisions/0045-pyx12-check-of-every-batch.md.
    check_status = models.CharField(
        max_length=8, choices=CheckStatus.choices, default=CheckStatus.PENDING
    )
    check_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="When a check was last queued; empty: never queued."
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    finding_count = models.PositiveIntegerField(default=0)
    findings = models.JSONField(
        default=list, blank=True, help_text="pyx12's first findings: segment, element, message."
    )

    objects = ClinicScopedQuerySet["ExportBatch"].as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "export batches"
        indexes = [
            models.Index(
                fields=["check_requested_at"],
                condition=Q(check_status="pending"),
                name="exportbatch_check_pending",
            )
        ]

    def __str__(self) -> str:
        return f"837P batch {self.interchange_control_number:09d}"

    @property
    def filename(self) -> str:
        return f"837P-{self.clinic_id}-{self.interchange_control_number:09d}.x12"


def next_x12_control_numbers(count: int = 1) -> list[int]:
    """Control numbers for ISA13 / GS06 / ST02: a Postgres sequence (1..999,999,999), so two
    exports at once never get the same one and later calls get larger ones."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval('revenue_x12_control_seq') FROM generate_series(1, %s)", [count]
        )
        return [int(row[0]) for row in cursor.fetchall()]


# ---------------------------------------------------------------------------------------------
# Remittances (835), the ledger, denials (issue 14)


class DenialBucket(models.TextChoices):
    """Root-cause buckets of denials (shared/KPIS.md); contractual and patient-responsibility
    codes are not denials and have none."""

    REGISTRATION = "registration", "Registration / eligibility / COB"
    AUTHORIZATION = "authorization", "Authorization / referral"
    CODING = "coding", "Coding / bundling"
    DOCUMENTATION = "documentation", "Missing information / documentation"
    TIMELY_FILING = "timely_filing", "Timely filing"
    DUPLICATE = "duplicate", "Duplicate"
    MEDICAL_NECESSITY = "medical_necessity", "Medical necessity / non-covered"
    CREDENTIALING = "credentialing", "Credentialing"
    OTHER = "other", "Other / unknown code"


class AdjustmentCode(models.Model):
    """A CARC (claim adjustment reason code) or RARC (remark code) with its text, in force from
    `effective_from` through `effective_to`; a CARC's denial bucket is the editable mapping of
    the denial queue and its Pareto chart (blank: not a denial, e.g. CO-45, PR-1)."""

    class Kind(models.TextChoices):
        CARC = "carc", "Claim adjustment reason code (CARC)"
        RARC = "rarc", "Remittance advice remark code (RARC)"

    kind = models.CharField(max_length=4, choices=Kind.choices)
    code = models.CharField(max_length=8)
    description = models.TextField()
    bucket = models.CharField(
        "denial bucket",
        max_length=20,
        choices=DenialBucket.choices,
        blank=True,
        help_text="Blank: not a denial (contractual, patient responsibility, informational).",
    )
    effective_from = models.DateField(default=date(2000, 1, 1))
    effective_to = models.DateField(null=True, blank=True, help_text="Blank: still in force.")

    class Meta:
        ordering = ["kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "code"], name="one_adjustment_code_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.description[:60]}"


class Remittance(models.Model):
    """One posted 835 payment (the file kept as received); (payer_key, trace_number) is the
    de-duplication key: a trace is posted once, whatever file it arrives in."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="remittances")
    payer = models.ForeignKey(
        Payer, on_delete=models.PROTECT, null=True, blank=True, related_name="remittances"
    )
    payer_key = models.CharField("payer id (TRN03)", max_length=50)
    payer_name = models.CharField(max_length=60)
    trace_number = models.CharField("trace number (TRN02)", max_length=50)
    payment_date = models.DateField(null=True, blank=True)
    total_paid = models.DecimalField(max_digits=12, decimal_places=2)
    provider_adjustments = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    filename = models.CharField(max_length=255, blank=True)
    content = models.TextField()
    sha256 = models.CharField(max_length=64)
    imported_at = models.DateTimeField()
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    imported_by_label = models.CharField(max_length=150)
    claims_posted = models.PositiveIntegerField(default=0)
    lines_posted = models.PositiveIntegerField(default=0)
    denials_opened = models.PositiveIntegerField(default=0)
    exceptions = models.PositiveIntegerField(default=0)

    objects = ClinicScopedQuerySet["Remittance"].as_manager()

    class Meta:
        ordering = ["-imported_at", "-pk"]
        permissions = [("post_remittance", "Can import and post 835 remittances")]
        constraints = [
            models.UniqueConstraint(
                fields=["payer_key", "trace_number"], name="one_remittance_per_payer_trace"
            )
        ]

    def __str__(self) -> str:
        return f"835 {self.trace_number} from {self.payer_name}"


class LedgerEntry(models.Model):
    """One money movement on a claim (append-only: a trigger refuses UPDATE and DELETE; a
    reversal is new rows with the opposite sign). The claim's balance is its charges minus
    PAYMENT, CONTRACTUAL, OTHER_ADJUSTMENT and WRITE_OFF rows; the patient's share is
    PATIENT_RESPONSIBILITY minus TRANSFER (moved to the next payer) and PATIENT_PAYMENT rows.
    DENIAL rows stay in the balance (the denial queue works them) until written off or paid."""

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        CONTRACTUAL = "contractual", "Contractual adjustment"
        PATIENT_RESPONSIBILITY = "patient", "Patient responsibility"
        OTHER_ADJUSTMENT = "other", "Other adjustment"
        DENIAL = "denial", "Denial"
        WRITE_OFF = "write_off", "Write-off"
        TRANSFER = "transfer", "Moved to the next payer"
        PATIENT_PAYMENT = "patient_payment", "Patient payment"
        PROVIDER = "provider", "Provider-level adjustment (PLB)"

    REDUCES_BALANCE: tuple[str, ...] = (
        Kind.PAYMENT,
        Kind.CONTRACTUAL,
        Kind.OTHER_ADJUSTMENT,
        Kind.WRITE_OFF,
        Kind.PATIENT_PAYMENT,
    )

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    claim = models.ForeignKey(
        Claim, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger"
    )
    claim_line = models.ForeignKey(
        ClaimLine, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payer = models.ForeignKey(
        Payer, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    remittance = models.ForeignKey(
        Remittance, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    group_code = models.CharField(max_length=2, blank=True)
    reason_code = models.CharField(max_length=8, blank=True)
    unknown_code = models.BooleanField(
        default=False, help_text="The reason code is not in the code table (kept, flagged)."
    )
    reversal = models.BooleanField(default=False)
    posted_at = models.DateTimeField()
    posted_by_label = models.CharField(max_length=150)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["posted_at", "pk"]
        indexes = [
            models.Index(fields=["claim", "kind"], name="ledger_claim_kind"),
            models.Index(fields=["clinic", "posted_at"], name="ledger_clinic_posted"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"


class RemittanceException(models.Model):
    """A claim or line of a posted 835 that matched nothing of ours, with its raw segments."""

    class Reason(models.TextChoices):
        CLAIM_NOT_FOUND = "claim", "Claim number is not one of ours"
        LINE_NOT_FOUND = "line", "Service line matched no line of the claim"

    remittance = models.ForeignKey(Remittance, on_delete=models.CASCADE, related_name="problems")
    reason = models.CharField(max_length=8, choices=Reason.choices)
    control_number = models.CharField(max_length=50)
    claim = models.ForeignKey(
        Claim, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    segments = models.TextField()
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["remittance", "pk"]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.control_number}"


class DenialItem(models.Model):
    """Work on one denied line (or a claim denied at claim level): new -> working -> appealed ->
    won / lost / written off."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        WORKING = "working", "Working"
        APPEALED = "appealed", "Appealed"
        WON = "won", "Won"
        LOST = "lost", "Lost"
        WRITTEN_OFF = "written_off", "Written off"

    OPEN = (Status.NEW, Status.WORKING, Status.APPEALED)

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="denials")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="denials")
    claim_line = models.ForeignKey(
        ClaimLine, on_delete=models.PROTECT, null=True, blank=True, related_name="denials"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    payer = models.ForeignKey(
        Payer, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    remittance = models.ForeignKey(Remittance, on_delete=models.PROTECT, related_name="denials")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    carcs = ArrayField(models.CharField(max_length=12), default=list)  # "CO-16"
    rarcs = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    bucket = models.CharField(max_length=20, choices=DenialBucket.choices)
    service_date = models.DateField()
    denied_on = models.DateField()
    due_date = models.DateField(help_text="The payer's appeal deadline.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    resolution_reason = models.CharField(max_length=255, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicScopedQuerySet["DenialItem"].as_manager()

    class Meta:
        ordering = ["due_date", "pk"]
        permissions = [
            ("work_denial", "Can work denials (assign, notes, appeal, resubmit)"),
            ("write_off_denial", "Can write a denial off"),
        ]
        indexes = [models.Index(fields=["clinic", "status", "due_date"], name="denial_queue")]

    def __str__(self) -> str:
        return f"Denial {self.pk} on {self.claim}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN
