"""The metric registry, nightly rollups and the weekly dashboard."""

from __future__ import annotations

from django.apps import AppConfig


class KpisConfig(AppConfig):
    name = "clinicops.kpis"
    label = "kpis"
    verbose_name = "KPIs"
