"""Check-in to checkout and the live flow board."""

from __future__ import annotations

from django.apps import AppConfig


class PatientflowConfig(AppConfig):
    name = "patientflow"
    verbose_name = "Patient flow"
