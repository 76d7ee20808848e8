"""The compliance officer's records. The audit trail itself is `clinicops.audit`."""

from __future__ import annotations

import secrets
from datetime import date

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


def new_receipt() -> str:
    """A code the reporter keeps to follow a flag, even an anonymous one (no identity in it)."""
    return secrets.token_urlsafe(9)


class Flag(models.Model):
    """A problem any signed-in user flagged from a page, for the clinic's compliance inbox.

    Anonymous flags store no reporter: `reporter` is null, the audit event has no actor and no
    IP address, and the time is kept to the hour only (the minute could be matched against the
    page views in the audit trail). The receipt code lets the reporter follow it all the same.
    """

    class Urgency(models.TextChoices):
        LOW = "low", "Low: when someone has time"
        NORMAL = "normal", "Normal: this week"
        HIGH = "high", "High: today"
        URGENT = "urgent", "Urgent: someone may be harmed"

    class Status(models.TextChoices):
        NEW = "new", "New"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        IN_PROGRESS = "in_progress", "Being looked into"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Closed without action"

    OPEN_STATUSES = (Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS)

    clinic = models.ForeignKey("core.Clinic", on_delete=models.PROTECT, related_name="+")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="flags_reported",
    )
    anonymous = models.BooleanField(default=False)
    description = models.TextField(max_length=2000)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    patient = models.ForeignKey(
        "core.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    page = models.CharField(max_length=300, blank=True, help_text="Path only, no query.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    response = models.TextField(max_length=2000, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="flags_handled",
    )
    receipt = models.CharField(max_length=16, unique=True, default=new_receipt, editable=False)
    # Set by the service (to the hour for an anonymous flag); no "updated at": it would give the
    # exact time of an anonymous report away. Changes are in the audit trail.
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["clinic", "status", "-created_at"], name="flag_inbox")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(anonymous=False) | models.Q(reporter__isnull=True),
                name="flag_anonymous_has_no_reporter",
            )
        ]

    def __str__(self) -> str:
        return f"Flag {self.pk} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


# ---- Incidents and near misses (issue 17) ---------------------------------------------------
# The state machine is `compliance.incident_states`; every change goes through
# `compliance.incidents` (one transaction each, audited). docs/decisions: the incident state
# machine and what "closed" requires.


class Incident(models.Model):
    """A patient-safety or compliance event (or a near miss) and its investigation."""

    class Kind(models.TextChoices):
        INCIDENT = "incident", "Incident (reached a patient or person)"
        NEAR_MISS = "near_miss", "Near miss (caught before it reached anyone)"
        UNSAFE_CONDITION = "unsafe_condition", "Unsafe condition (no event yet)"

    class Category(models.TextChoices):
        # The AHRQ Common Formats event categories, plus the ones an outpatient clinic and a
        # compliance office need (identification, privacy, documentation, workplace).
        MEDICATION = "medication", "Medication or other substance"
        DEVICE = "device", "Device, medical or surgical supply"
        FALL = "fall", "Fall"
        INFECTION = "infection", "Healthcare-associated infection"
        BLOOD = "blood", "Blood or blood product"
        SURGERY = "surgery", "Surgery, procedure or anesthesia"
        PRESSURE_INJURY = "pressure_injury", "Pressure injury"
        DIAGNOSTIC = "diagnostic", "Diagnostic test or specimen"
        IDENTIFICATION = "identification", "Patient identification"
        PRIVACY = "privacy", "Privacy or confidentiality (PHI)"
        DOCUMENTATION = "documentation", "Documentation or records"
        WORKPLACE = "workplace", "Staff or workplace safety"
        OTHER = "other", "Other"

    class Harm(models.TextChoices):
        # AHRQ Common Formats Harm Scale v1.2, and "did not reach" for near misses.
        DEATH = "death", "Death"
        SEVERE = "severe", "Severe harm"
        MODERATE = "moderate", "Moderate harm"
        MILD = "mild", "Mild harm"
        NO_HARM = "no_harm", "No harm (reached, no harm evident)"
        UNKNOWN = "unknown", "Unknown"
        NOT_REACHED = "not_reached", "Did not reach a patient or person"

    class Status(models.TextChoices):
        REPORTED = "reported", "Reported"
        TRIAGED = "triaged", "Triaged"
        INVESTIGATING = "investigating", "Investigating"
        ACTING = "acting", "Actions under way"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Fishbone(models.TextChoices):
        # The fishbone (Ishikawa) categories used for healthcare root-cause analysis.
        PEOPLE = "people", "People (staff, training, fatigue)"
        PATIENT = "patient", "Patient factors"
        METHODS = "methods", "Methods and procedures"
        EQUIPMENT = "equipment", "Equipment and technology"
        MATERIALS = "materials", "Materials and supplies"
        ENVIRONMENT = "environment", "Environment"
        COMMUNICATION = "communication", "Communication"
        MANAGEMENT = "management", "Policies and management"

    clinic = models.ForeignKey("core.Clinic", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INCIDENT)
    title = models.CharField(max_length=200)
    description = models.TextField(max_length=4000)
    location = models.CharField(max_length=200, help_text="Where it happened.")
    occurred_at = models.DateTimeField()
    category = models.CharField(max_length=20, choices=Category.choices)
    harm = models.CharField(max_length=20, choices=Harm.choices)
    patient = models.ForeignKey(
        "core.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    witnesses = models.TextField(max_length=2000, blank=True)
    immediate_action = models.TextField(max_length=2000, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="incidents_reported"
    )
    reported_at = models.DateTimeField()
    submission_key = models.CharField(max_length=64, blank=True, editable=False)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REPORTED)
    priority = models.CharField(max_length=10, choices=Priority.choices, blank=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incidents_led",
    )
    triage_note = models.TextField(max_length=2000, blank=True)
    triaged_at = models.DateTimeField(null=True, blank=True)

    # Root-cause analysis: five whys (in order, blanks dropped) and fishbone factors by category.
    whys = ArrayField(models.CharField(max_length=500), default=list, blank=True, size=5)
    fishbone = models.JSONField(default=dict, blank=True)
    root_cause = models.TextField(max_length=2000, blank=True)

    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incidents_closed",
    )
    close_reason = models.TextField(max_length=2000, blank=True)
    reopen_count = models.PositiveSmallIntegerField(default=0)

    flags = models.ManyToManyField(Flag, blank=True, related_name="incidents")

    class Meta:
        ordering = ["-reported_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "status", "-reported_at"], name="incident_list"),
            models.Index(fields=["clinic", "closed_at"], name="incident_closed"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reported_by", "submission_key"],
                condition=~models.Q(submission_key=""),
                name="incident_one_per_submission",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status="closed", closed_at__isnull=False)
                    | (~models.Q(status="closed") & models.Q(closed_at__isnull=True))
                ),
                name="incident_closed_has_time",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="incident") | models.Q(harm="not_reached"),
                name="incident_near_miss_did_not_reach",
            ),
        ]

    def __str__(self) -> str:
        return f"Incident {self.pk}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.CLOSED

    @property
    def kind_short(self) -> str:
        """ "Near miss" rather than "Near miss (caught before it reached anyone)"."""
        return str(self.get_kind_display()).split(" (")[0]

    @property
    def fishbone_rows(self) -> list[tuple[str, str]]:
        """(category label, factors) for each fishbone category that has any."""
        return [
            (label, self.fishbone[value])
            for value, label in self.Fishbone.choices
            if self.fishbone.get(value)
        ]


class CorrectiveAction(models.Model):
    """A corrective or preventive action (CAPA) of an incident: who, by when, and whether it
    was verified to work."""

    class Kind(models.TextChoices):
        CORRECTIVE = "corrective", "Corrective"
        PREVENTIVE = "preventive", "Preventive"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done, awaiting verification"
        VERIFIED = "verified", "Verified effective"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.VERIFIED, Status.CANCELLED)

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="actions")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.CORRECTIVE)
    description = models.TextField(max_length=2000)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="corrective_actions"
    )
    due_date = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    completion_note = models.TextField(max_length=2000, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    verification_note = models.TextField(max_length=2000, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(max_length=2000, blank=True)
    # Set when the overdue alert went out for the current overdue spell; cleared whenever the
    # action stops being overdue-able (done, a new due date, reopened by a failed verification).
    overdue_alerted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    submission_key = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["status", "due_date"], name="action_due")]
        permissions = [("verify_correctiveaction", "Can verify a corrective action's effect")]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "submission_key"],
                condition=~models.Q(submission_key=""),
                name="action_one_per_submission",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="verified") | models.Q(verified_at__isnull=False),
                name="action_verified_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Action {self.pk} of incident {self.incident_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def is_overdue(self, today: date) -> bool:
        return self.status == self.Status.OPEN and self.due_date < today


class IncidentAuditLink(models.Model):
    """An audit event the investigator tied to an incident (by id: the trail has no FKs)."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="audit_links")
    event_id = models.BigIntegerField()
    note = models.CharField(max_length=300, blank=True)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    linked_at = models.DateTimeField()

    class Meta:
        ordering = ["event_id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "event_id"], name="incident_event_once")
        ]

    def __str__(self) -> str:
        return f"Audit event {self.event_id} of incident {self.incident_id}"


class BreakGlassAccess(models.Model):
    """Emergency access to one patient outside the user's clinics: a stated reason, a time box,
    and a review by the compliance officer of the patient's clinic.

    While `started_at <= now < expires_at`, `Patient.objects.for_user(user)` includes the patient
    (compliance registers it in `core.models.PATIENT_GRANT_PROVIDERS`) and every audit event the
    user causes on that patient carries `{"break_glass": <this id>}` in its changes.
    """

    class Reason(models.TextChoices):
        EMERGENCY = "emergency", "Medical emergency: the patient needs care now"
        CONTINUITY = "continuity", "Continuity of care: the patient is being seen here today"
        COVERING = "covering", "Covering for a colleague at the other clinic"
        CALLBACK = "callback", "Urgent call-back about results or medication"
        OTHER = "other", "Other (explain below)"

    class Review(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved"
        REFERRED = "referred", "Referred to an incident"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="break_glass_uses"
    )
    patient = models.ForeignKey("core.Patient", on_delete=models.PROTECT, related_name="+")
    # The patient's clinic: its compliance officer reviews the use.
    clinic = models.ForeignKey("core.Clinic", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    explanation = models.TextField(max_length=1000)
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    review = models.CharField(max_length=10, choices=Review.choices, default=Review.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(max_length=2000, blank=True)
    # Set when the review referred the use to an incident (opened by the referral).
    incident = models.ForeignKey(
        Incident,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="break_glass_uses",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "break-glass access"
        verbose_name_plural = "break-glass accesses"
        indexes = [
            models.Index(fields=["user", "-expires_at"], name="breakglass_user_expiry"),
            models.Index(fields=["clinic", "review", "-started_at"], name="breakglass_review"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("started_at")),
                name="breakglass_expires_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(review="pending") | models.Q(reviewed_by__isnull=False),
                name="breakglass_reviewed_has_reviewer",
            ),
        ]

    def __str__(self) -> str:
        return f"Break-glass {self.pk} ({self.get_review_display()})"


class AccessReview(models.Model):
    """One clinic's periodic (quarterly) or on-demand review of who can get in."""

    class Trigger(models.TextChoices):
        QUARTERLY = "quarterly", "Quarterly"
        ON_DEMAND = "on_demand", "On demand"

    clinic = models.ForeignKey("core.Clinic", on_delete=models.PROTECT, related_name="+")
    # "2026-Q4" for the quarterly one (unique per clinic: the task may run twice), "" otherwise.
    period = models.CharField(max_length=8, blank=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Accounts not used for this many days were flagged (the setting at the time).
    dormant_days = models.PositiveIntegerField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "period"],
                condition=~models.Q(period=""),
                name="access_review_one_per_quarter",
            )
        ]

    def __str__(self) -> str:
        return f"Access review {self.pk} ({self.period or 'on demand'})"


class AccessReviewLine(models.Model):
    """One active user of the clinic as the review found them, and the manager's decision."""

    class Decision(models.TextChoices):
        PENDING = "pending", "To review"
        CONFIRMED = "confirmed", "Confirmed"
        REVOKED = "revoked", "Revoked"

    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="lines")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    roles = models.JSONField(default=list)
    clinics = models.JSONField(default=list, help_text="Clinic names at the time.")
    last_login = models.DateTimeField(null=True, blank=True)
    # {"action label": count} of exports, changes of access, audit-log reads, break-glass uses
    # in the review window, from the audit trail.
    privileged_actions = models.JSONField(default=dict)
    dormant = models.BooleanField(default=False)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["review", "id"]
        constraints = [
            models.UniqueConstraint(fields=["review", "user"], name="access_review_line_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} in review {self.review_id}: {self.decision}"


class AnomalyHint(models.Model):
    """Something in the audit trail a person should look at: a hint, never a verdict."""

    class Rule(models.TextChoices):
        VOLUME = "volume", "Many more patient records than usual"
        SURNAME = "surname", "Patient shares the user's surname"
        HOUSEHOLD = "household", "Patient shares the user's phone (same household)"
        OFF_HOURS = "off_hours", "Access outside rostered or opening hours"

    class Status(models.TextChoices):
        OPEN = "open", "To look at"
        EXPLAINED = "explained", "Explained, nothing wrong"
        REFERRED = "referred", "Needs follow-up"

    clinic = models.ForeignKey("core.Clinic", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rule = models.CharField(max_length=12, choices=Rule.choices)
    day = models.DateField(help_text="The clinic-local day the accesses happened.")
    detail = models.CharField(max_length=300)
    # The audit events behind the hint (ids; the trail keeps them for six years).
    event_ids = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "-id"]
        indexes = [models.Index(fields=["clinic", "status", "-day"], name="hint_inbox")]
        constraints = [
            # Computing a day twice (the nightly task and on demand) adds nothing.
            models.UniqueConstraint(fields=["clinic", "user", "rule", "day"], name="hint_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_rule_display()}: {self.user} on {self.day}"
