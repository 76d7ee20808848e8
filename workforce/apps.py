"""Rosters, shifts, time and credentials."""

from __future__ import annotations

from django.apps import AppConfig


class WorkforceConfig(AppConfig):
    name = "workforce"
    verbose_name = "Workforce"

    def ready(self) -> None:
        # Compliance's "outside rostered hours" hint reads published rosters through this.
        from compliance import rosters

        from .access_hours import rostered_windows

        rosters.register(rostered_windows)
