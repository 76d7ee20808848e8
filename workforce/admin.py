"""Roster reference data in the Django admin (administrators): contracts, availability, shift
templates, coverage rules and each clinic's limits. Weeks are built on the roster screens."""

from __future__ import annotations

from django.contrib import admin

from .models import (
    CoverageRule,
    OvertimeRule,
    RosterSettings,
    ShiftTemplate,
    StaffContract,
    TimeclockBadge,
    Unavailability,
)


@admin.register(StaffContract)
class StaffContractAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("staff", "role", "contract_minutes_week", "is_active")
    list_filter = ("role", "is_active")


@admin.register(Unavailability)
class UnavailabilityAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("staff", "weekday", "start_time", "end_time", "note")


@admin.register(ShiftTemplate)
class ShiftTemplateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "clinic", "role", "start_time", "end_time", "overnight", "is_active")
    list_filter = ("clinic", "role", "is_active")


@admin.register(CoverageRule)
class CoverageRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("clinic", "role", "kind", "start_time", "end_time", "count", "is_active")
    list_filter = ("clinic", "role", "kind")


@admin.register(RosterSettings)
class RosterSettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("clinic", "min_rest_minutes", "max_day_minutes", "max_week_minutes")


@admin.register(OvertimeRule)
class OvertimeRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "clinic",
        "effective_from",
        "week_start_day",
        "week_start_hour",
        "weekly_minutes",
        "daily_minutes",
        "double_minutes",
    )
    list_filter = ("clinic",)


@admin.register(TimeclockBadge)
class TimeclockBadgeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Badge codes only: a PIN is set by its owner on My time clock, and stored hashed."""

    list_display = ("staff", "badge_code", "updated_at")
    fields = ("staff", "badge_code")
    readonly_fields = ("staff",)
    search_fields = ("staff__user__last_name", "badge_code")

    def has_add_permission(self, request: object) -> bool:
        return False
