"""Check-in to checkout and the live flow board."""

from __future__ import annotations

from django.apps import AppConfig


class PatientflowConfig(AppConfig):
    name = "patientflow"
    verbose_name = "Patient flow"

    def ready(self) -> None:
        # The step thresholds are cached reference data (patientflow.selectors.THRESHOLDS).
        from .models import StepThreshold
        from .selectors import THRESHOLDS

        THRESHOLDS.watch((StepThreshold,))
