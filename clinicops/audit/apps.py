"""The audit trail: the foundation every app records into. It imports no other app of ours."""

from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "clinicops.audit"
    label = "audit"
    verbose_name = "Audit trail"
