"""The compliance officer's screens (who-saw-what search, CSV), on top of clinicops.audit."""

from __future__ import annotations

from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from clinicops.audit import audit
        from clinicops.core import models as core_models

        # Celery autodiscovers `tasks` modules only; the incident alerts live beside it.
        from . import breakglass, incident_tasks  # noqa: F401

        # Break-glass extends patient scoping at its one place (core's for_user asks the grant
        # providers) and flags every audit event about a patient opened that way.

        if breakglass.USER_READ not in core_models.USER_READS:
            core_models.USER_READS.append(breakglass.USER_READ)
        if breakglass.active_grants not in core_models.PATIENT_GRANT_PROVIDERS:
            core_models.PATIENT_GRANT_PROVIDERS.append(breakglass.active_grants)
        if breakglass.flag_event not in audit.EVENT_ANNOTATORS:
            audit.EVENT_ANNOTATORS.append(breakglass.flag_event)
