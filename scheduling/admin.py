"""Reference data of scheduling in the admin. Appointments are read-only here: every change
to one goes through the services, which keep the history and the audit trail."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import (
    Appointment,
    AppointmentType,
    ClinicClosure,
    ProviderTimeOff,
    ScheduleTemplate,
    SchedulingSettings,
    TemplateBlock,
)


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "clinic", "duration_minutes", "kind", "room_kind", "is_active")
    list_filter = ("clinic", "kind", "is_active")
    search_fields = ("name",)


class TemplateBlockInline(admin.TabularInline):
    model = TemplateBlock
    extra = 1
    filter_horizontal = ("appointment_types",)


@admin.register(ScheduleTemplate)
class ScheduleTemplateAdmin(admin.ModelAdmin):
    list_display = ("provider", "clinic", "name", "effective_from", "effective_to")
    list_filter = ("clinic",)
    inlines = (TemplateBlockInline,)


@admin.register(ClinicClosure)
class ClinicClosureAdmin(admin.ModelAdmin):
    list_display = ("clinic", "day", "reason")
    list_filter = ("clinic",)
    date_hierarchy = "day"


@admin.register(ProviderTimeOff)
class ProviderTimeOffAdmin(admin.ModelAdmin):
    list_display = ("provider", "start", "end", "reason")
    readonly_fields = ("created_by", "created_at")


@admin.register(SchedulingSettings)
class SchedulingSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "clinic",
        "late_cancel_hours",
        "auto_no_show_enabled",
        "auto_no_show_minutes",
        "refuse_patient_double_booking",
        "reminder_hours",
    )


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = ("start", "clinic", "provider", "appointment_type", "status")
    list_filter = ("clinic", "status")
    date_hierarchy = "start"
    raw_id_fields = ("patient", "provider", "room", "rescheduled_from", "booked_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
