"""The audit trail: append-only in the database, chained by keyed hash."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who did what to which record, when and from where.

    Rows are written only by `clinicops.audit.audit.record`. Database triggers refuse UPDATE,
    DELETE and TRUNCATE (compliance migration 0002, from before the trail had its own app), and
    `hash` chains each row to the one before it, so an edit made around the triggers is still
    found by `manage.py verify_audit_chain`.

    Patient, clinic and object are kept as plain ids, not foreign keys: the trail must outlive
    (and never block) the rows it talks about.
    """

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        SEARCH = "search", "Searched"
        CREATE = "create", "Created"
        UPDATE = "update", "Changed"
        DELETE = "delete", "Deleted"
        EXPORT = "export", "Exported"
        PRINT = "print", "Printed"
        LOGIN = "login", "Logged in"
        LOGIN_FAILED = "login_failed", "Login failed"
        LOGOUT = "logout", "Logged out"

    seq = models.BigIntegerField(unique=True, editable=False)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, help_text="Username at the time (or system).")
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True, blank=True)
    clinic_id = models.BigIntegerField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    summary = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        # The table kept its name when the model moved here from `compliance` (the triggers,
        # the grants and the chain all name it).
        db_table = "compliance_auditevent"
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["actor", "-occurred_at"], name="audit_actor_time"),
            models.Index(fields=["clinic_id", "-occurred_at"], name="audit_clinic_time"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            # Who saw this patient, and every export or failed login, newest first: the
            # audit-log filters that must stay fast however long the trail grows.
            models.Index(fields=["patient_id", "-occurred_at"], name="audit_patient_time"),
            models.Index(fields=["action", "-occurred_at"], name="audit_action_time"),
        ]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"#{self.seq} {self.actor_label} {self.action} {self.object_type} {self.object_id}"
