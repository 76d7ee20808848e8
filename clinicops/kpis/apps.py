"""The metric registry, nightly rollups and the weekly dashboard."""

from __future__ import annotations

from django.apps import AppConfig


class KpisConfig(AppConfig):
    name = "clinicops.kpis"
    label = "kpis"
    verbose_name = "KPIs"

    def ready(self) -> None:
        # Every installed app's kpis.py registers its metrics, the way admin.py files do: the
        # engine names no app, so a metric that lands later appears without touching it.
        from . import registry

        registry.autodiscover()
