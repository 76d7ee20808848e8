"""The compliance officer's screens (who-saw-what search, CSV), on top of clinicops.audit."""

from __future__ import annotations

from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"
