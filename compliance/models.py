"""The compliance officer's records. The audit trail itself is `clinicops.audit`."""

from __future__ import annotations

import secrets

from django.conf import settings
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
