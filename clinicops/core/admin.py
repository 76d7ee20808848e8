"""Reference data in the Django admin: clinics, rooms, payers, staff and their accounts.

Patients are not here on purpose: their screens audit every read and write, the admin would
not. Administrators reach the admin through the same login (and lockout) as everyone else.

Accounts: an Administrator (staff, not superuser) assigns roles and clinics on the account's
page, through `access.set_user_access` (checked and audited). Superuser status, groups and
individual permissions, and the roles themselves (groups), are for superusers only: the fields
are not on a non-superuser's form and posting them is refused.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from . import access
from .models import Clinic, OpeningHours, Payer, Room, Staff, User
from .roles import ALL_ROLES


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
    # Clinics are access: they are set on the account's form, through core.access.
    fields = ("title", "npi", "specialty", "phone")


class AccountForm(UserChangeForm):
    """The account form, with roles and clinics set through `access.set_user_access`."""

    roles = forms.MultipleChoiceField(
        choices=[(name, name) for name in ALL_ROLES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What this person may do. Administrator also opens this admin site.",
    )
    clinics = forms.ModelMultipleChoiceField(
        queryset=Clinic.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The clinics this person works in (you can assign those you work in).",
    )

    # Set per request by UserAdmin.get_form.
    actor: User | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = self.instance
        if "clinics" in self.fields and self.actor is not None:
            self.fields["clinics"].queryset = Clinic.objects.for_user(self.actor)
            if user.pk:
                self.initial["clinics"] = list(
                    Clinic.objects.filter(staff__user=user).values_list("pk", flat=True)
                )
        if "roles" in self.fields and user.pk:
            self.initial["roles"] = user.role_names


# Fields that grant access. Only a superuser's form has is_superuser and user_permissions;
# nobody's has groups or is_staff (roles decide them). A non-superuser who posts any of them
# is refused outright, not quietly ignored.
SUPERUSER_ONLY_FIELDS = ("is_superuser", "user_permissions", "groups", "is_staff")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = (StaffInline,)
    form = AccountForm
    list_display = ("username", "first_name", "last_name", "email", "role_list", "is_active")
    list_filter = ("is_active", "is_staff", "groups")
    filter_horizontal = ("user_permissions",)

    @admin.display(description="roles")
    def role_list(self, user: User) -> str:
        return ", ".join(group.name for group in user.groups.all())

    @admin.display(description="clinics")
    def clinic_list(self, user: User) -> str:
        names = Clinic.objects.filter(staff__user=user).values_list("name", flat=True)
        return ", ".join(names) or "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        users = super().get_queryset(request).prefetch_related("groups")
        # A superuser's account is a superuser's business: not even listed for others, so
        # no change form, password form or bulk action can reach it.
        return users if request.user.is_superuser else users.filter(is_superuser=False)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and access.may_manage(request.user, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and access.may_manage(request.user, obj)

    def _own_account(self, request: HttpRequest, obj: Any) -> bool:
        return obj is not None and obj.pk == request.user.pk and not request.user.is_superuser

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        if self._own_account(request, obj):
            access_fields: tuple[str, ...] = ("role_list", "clinic_list")
        else:
            access_fields = ("is_active", "roles", "clinics")
        fieldsets: list[Any] = [
            (None, {"fields": ("username", "password")}),
            ("Personal info", {"fields": ("first_name", "last_name", "email")}),
            ("Access", {"fields": access_fields}),
        ]
        if request.user.is_superuser:
            fieldsets.append(("Superuser only", {"fields": ("is_superuser", "user_permissions")}))
        fieldsets.append(("Important dates", {"fields": ("last_login", "date_joined")}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("role_list", "clinic_list") if self._own_account(request, obj) else ()

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            return form
        form = type(form.__name__, (form,), {"actor": request.user})
        if self._own_account(request, obj):
            # Declared fields would be on the form whatever the fieldsets say.
            for name in ("roles", "clinics"):
                form.base_fields.pop(name, None)
        return form

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        self._refuse_superuser_only_fields(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _refuse_superuser_only_fields(request: HttpRequest) -> None:
        if request.method == "POST" and not request.user.is_superuser:
            posted = sorted(set(SUPERUSER_ONLY_FIELDS) & set(request.POST))
            if posted:
                raise PermissionDenied(
                    "Only a superuser may grant superuser status, groups or permissions "
                    f"({', '.join(posted)})."
                )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            # Access fields keep their stored values here; save_related sets them through
            # access.set_user_access, which checks and audits the change.
            stored = User.objects.get(pk=obj.pk)
            obj.is_active, obj.is_staff, obj.is_superuser = (
                stored.is_active,
                stored.is_staff,
                stored.is_superuser,
            )
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        data = form.cleaned_data
        granted = {name: data.pop(name) for name in ("user_permissions", "groups") if name in data}
        super().save_related(request, form, formsets, change)
        if not change or "roles" not in data:
            return
        access.set_user_access(
            actor=request.user,
            user=form.instance,
            role_names=data["roles"],
            clinics=data["clinics"],
            is_active=data.get("is_active"),
            is_superuser=data.get("is_superuser"),
            permissions=granted.get("user_permissions"),
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        access.record_account_change(actor=request.user, user=obj, created=True, message=message)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        access.record_account_change(actor=request.user, user=obj, created=False, message=message)
        return super().log_change(request, obj, message)

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # The staff profile is added once the account exists (the add form has two steps).
        return super().get_inline_instances(request, obj) if obj else []


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ("__str__", "title", "npi", "specialty")
    search_fields = ("user__username", "user__first_name", "user__last_name", "npi")
    list_select_related = ("user",)
    # Clinics are access: they are set on the account's page (core.access, audited).
    fields = ("user", "clinic_list", "title", "npi", "specialty", "phone")
    readonly_fields = ("clinic_list",)

    @admin.display(description="clinics")
    def clinic_list(self, staff: Staff) -> str:
        return ", ".join(staff.clinics.values_list("name", flat=True)) if staff.pk else "—"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("user", "clinic_list") if obj else ("clinic_list",)


class RoleAdmin(GroupAdmin):
    """Roles are groups of permissions: reshaping one grants permissions, so superusers only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


admin.site.unregister(Group)
admin.site.register(Group, RoleAdmin)
