"""The compliance officer's screens (who-saw-what search, CSV), on top of clinicops.audit."""

from __future__ import annotations

from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        # Celery autodiscovers `tasks` modules only; the incident alerts live beside it.
        from . import incident_tasks  # noqa: F401
