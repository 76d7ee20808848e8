"""Reference data in the Django admin: clinics, rooms, payers, staff and their accounts.

Patients are not here on purpose: their screens audit every read and write, the admin would
not. Administrators reach the admin through the same login (and lockout) as everyone else.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Clinic, OpeningHours, Payer, Room, Staff, User


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0
    max_num = 7


class RoomInline(admin.TabularInline):
    model = Room
    extra = 0
    fields = ("name", "kind", "is_active")


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ("name", "short_name", "time_zone", "city", "phone", "is_active")
    list_filter = ("is_active", "time_zone")
    search_fields = ("name", "short_name", "city")
    inlines = (OpeningHoursInline, RoomInline)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "clinic", "kind", "is_active")
    list_filter = ("clinic", "kind", "is_active")
    search_fields = ("name",)


@admin.register(Payer)
class PayerAdmin(admin.ModelAdmin):
    list_display = ("name", "payer_id", "kind", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "payer_id")


class StaffInline(admin.StackedInline):
    model = Staff
    can_delete = False
    filter_horizontal = ("clinics",)
    fields = ("title", "clinics", "npi", "specialty", "phone")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = (StaffInline,)
    list_display = ("username", "first_name", "last_name", "email", "role_list", "is_active")
    list_filter = ("is_active", "is_staff", "groups")

    @admin.display(description="roles")
    def role_list(self, user: User) -> str:
        return ", ".join(group.name for group in user.groups.all())

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # The staff profile is added once the account exists (the add form has two steps).
        return super().get_inline_instances(request, obj) if obj else []


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ("__str__", "title", "npi", "specialty")
    search_fields = ("user__username", "user__first_name", "user__last_name", "npi")
    filter_horizontal = ("clinics",)
    list_select_related = ("user",)
