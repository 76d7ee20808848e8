"""Rosters, shifts, time and credentials."""

from __future__ import annotations

from django.apps import AppConfig


class WorkforceConfig(AppConfig):
    name = "workforce"
    verbose_name = "Workforce"
