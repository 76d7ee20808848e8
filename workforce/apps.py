"""Rosters, shifts, time and credentials."""

from __future__ import annotations

from django.apps import AppConfig


class WorkforceConfig(AppConfig):
    name = "workforce"
    verbose_name = "Workforce"

    def ready(self) -> None:
        from . import rules
        from .credentials import credential_rule

        # A lapsed (or missing) required credential keeps a person off a shift: reported by
        # the rule checker, kept by the auto-fill, refused when a manager assigns.
        if credential_rule not in rules._CREDENTIAL_RULES:
            rules.register_credential_rule(credential_rule)
        # Compliance's "outside rostered hours" hint reads published rosters through this.
        from compliance import rosters

        from .access_hours import rostered_windows

        rosters.register(rostered_windows)
