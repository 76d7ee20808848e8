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
