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
        from django.db.models.signals import post_migrate

        from . import registry

        registry.autodiscover()
        # After every migrate: the change triggers on the metrics' source tables (changes.py).
        post_migrate.connect(_install_change_triggers, sender=self)


def _install_change_triggers(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    from . import changes

    changes.install_triggers(using=using)
