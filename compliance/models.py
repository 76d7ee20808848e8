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
