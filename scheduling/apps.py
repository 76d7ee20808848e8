"""Appointment types, schedule templates, availability and booking."""

from __future__ import annotations

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        # The reference-data cache's signals (scheduling.refcache).
        from . import refcache

        refcache.watch()
