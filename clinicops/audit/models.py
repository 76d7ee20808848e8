"""The audit trail: append-only in the database, chained by keyed hash."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who did what to which record, when and from where.

    Rows are written only by `clinicops.audit.audit.record`, unsealed (no `seq`, no hashes), with
    no lock. The sealer (`clinicops.audit.sealer`, a Celery task every few seconds) gives each
    committed row its place in the chain (`seq`), the key it is signed with (`key_id`) and its
    hashes, through the database function `audit_seal_events` (audit migration 0002): the
    application role has no UPDATE on this table. Database triggers refuse every other UPDATE,
    DELETE and TRUNCATE (compliance migration 0002), and `hash` chains each row to the one before
    it, so an edit made around the triggers is still found by `manage.py verify_audit_chain`.

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
        KEY_ROTATION = "key_rotation", "Signing key rotated"

    # The place in the chain, given by the sealer; null until the row is sealed.
    seq = models.BigIntegerField(unique=True, editable=False, null=True, blank=True)
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
    # The key of AUDIT_HMAC_KEYRING the sealer signed this row with ("" = sealed before key ids
    # existed, with the key AUDIT_HMAC_LEGACY_KEY_ID names).
    key_id = models.CharField(max_length=32, blank=True, default="")
    # Null (not "") until sealed: "no hash yet" must differ from any hash, and UNIQUE allows
    # many nulls.
    prev_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    hash = models.CharField(max_length=64, unique=True, null=True, blank=True)

    class Meta:
        # The table kept its name when the model moved here from `compliance` (the triggers,
        # the grants and the chain all name it).
        db_table = "compliance_auditevent"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["actor", "-occurred_at"], name="audit_actor_time"),
            models.Index(fields=["clinic_id", "-occurred_at"], name="audit_clinic_time"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            # Who saw this patient, and every export or failed login, newest first: the
            # audit-log filters that must stay fast however long the trail grows.
            models.Index(fields=["patient_id", "-occurred_at"], name="audit_patient_time"),
            models.Index(fields=["action", "-occurred_at"], name="audit_action_time"),
            # What the sealer has still to chain: small, however long the trail grows.
            models.Index(
                fields=["id"], condition=models.Q(seq__isnull=True), name="audit_unsealed"
            ),
        ]
        default_permissions = ("view",)

    def __str__(self) -> str:
        where = f"#{self.seq}" if self.seq else "(unsealed)"
        return f"{where} {self.actor_label} {self.action} {self.object_type} {self.object_id}"
