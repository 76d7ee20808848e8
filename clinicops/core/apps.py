"""The shared model: clinics, rooms, staff and roles, patients, payers and coverage."""

from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "clinicops.core"
    label = "core"
    verbose_name = "Clinics and patients"

    def ready(self) -> None:
        from . import signals  # noqa: F401
