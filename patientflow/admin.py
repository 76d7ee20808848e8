"""Patient-flow reference data in the admin: the board's alert thresholds per clinic.

Visits, their history and payments are not here: every change goes through the services,
which keep the history and the audit trail.
"""

from __future__ import annotations

from django.contrib import admin

from .models import StepThreshold


@admin.register(StepThreshold)
class StepThresholdAdmin(admin.ModelAdmin):
    list_display = ("clinic", "step", "amber_minutes", "red_minutes")
    list_filter = ("clinic",)
