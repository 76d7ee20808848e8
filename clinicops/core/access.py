"""Who may do what: a user's roles, clinics, and active / superuser status, changed only here.

Roles and clinics decide what a person sees (every clinic's patients for a superuser), so a
change to them is a deliberate act with an entry in the audit trail, not a side effect of
saving a form. Administrators (staff, not superusers) assign roles and the clinics they work
in themselves; only a superuser grants superuser status or individual permissions, and nobody
but a superuser changes a superuser's account or their own access.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import transaction

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent

from . import roles
from .models import Clinic, Staff, User


class AccessDenied(PermissionDenied):
    """The actor may not make this change to a user's access."""


def may_manage(actor: User, user: User | None) -> bool:
    """Whether `actor` may edit `user`'s account at all (a superuser's only a superuser may)."""
    if actor.is_superuser:
        return True
    return actor.has_perm("core.change_user") and (user is None or not user.is_superuser)


def _current(user: User) -> dict[str, Any]:
    staff = Staff.objects.filter(user=user).first()
    return {
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "roles": sorted(
            user.groups.filter(name__in=roles.ALL_ROLES).values_list("name", flat=True)
        ),
        "clinics": sorted(staff.clinics.values_list("pk", flat=True)) if staff else [],
        "permissions": sorted(
            f"{app}.{code}"
            for app, code in user.user_permissions.values_list(
                "content_type__app_label", "codename"
            )
        ),
    }


def set_user_access(
    *,
    actor: User,
    user: User,
    role_names: Iterable[str],
    clinics: Iterable[Clinic],
    is_active: bool | None = None,
    is_superuser: bool | None = None,
    permissions: Iterable[Permission] | None = None,
) -> dict[str, list[Any]]:
    """Set `user`'s roles and clinics (and, for a superuser actor, superuser status and
    individual permissions); record what changed in the audit trail. Returns {field: [old, new]}.

    `None` leaves a field as it is. Clinics the actor does not work in are neither granted nor
    taken away by them. Staff status (the Django admin) follows the roles: it is held by the
    roles in `roles.ADMIN_SITE_ROLES`, and by superusers.
    """
    wanted_roles = sorted(set(role_names))
    unknown = set(wanted_roles) - set(roles.ALL_ROLES)
    if unknown:
        raise ValueError(f"Unknown role(s): {', '.join(sorted(unknown))}")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        before = _current(user)
        if not may_manage(actor, user):
            raise AccessDenied("Only a superuser may change a superuser's account.")
        if not actor.is_superuser:
            if is_superuser is not None and is_superuser != before["is_superuser"]:
                raise AccessDenied("Only a superuser may grant or remove superuser status.")
            if permissions is not None:
                raise AccessDenied("Only a superuser may grant individual permissions.")
        allowed = set(Clinic.objects.for_user(actor).values_list("pk", flat=True))
        wanted_clinics = {c.pk for c in clinics}
        if wanted_clinics - allowed:
            raise AccessDenied("You can only assign the clinics you work in yourself.")
        kept_elsewhere = set(before["clinics"]) - allowed
        after_clinics = sorted(wanted_clinics | kept_elsewhere)
        superuser = before["is_superuser"] if is_superuser is None else is_superuser
        active = before["is_active"] if is_active is None else is_active
        staff_status = superuser or bool(set(wanted_roles) & set(roles.ADMIN_SITE_ROLES))
        wanted: dict[str, Any] = {
            "is_active": active,
            "is_staff": staff_status,
            "is_superuser": superuser,
            "roles": wanted_roles,
            "clinics": after_clinics,
        }
        if permissions is not None:
            wanted["permissions"] = sorted(
                f"{p.content_type.app_label}.{p.codename}" for p in permissions
            )
        changes = audit.diff(before, wanted)
        if not changes:
            return {}
        if user.pk == actor.pk and not actor.is_superuser:
            raise AccessDenied("You cannot change your own roles, clinics or status.")

        User.objects.filter(pk=user.pk).update(
            is_active=active, is_staff=staff_status, is_superuser=superuser
        )
        role_groups = Group.objects.filter(name__in=roles.ALL_ROLES)
        user.groups.remove(*role_groups.exclude(name__in=wanted_roles))
        user.groups.add(*role_groups.filter(name__in=wanted_roles))
        if "clinics" in changes:
            staff, _ = Staff.objects.get_or_create(user=user)
            staff.clinics.set(after_clinics)
        if permissions is not None:
            user.user_permissions.set(list(permissions))
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=user,
            object_type="core.user",
            summary=f"Access of {user.get_username()} changed: {', '.join(sorted(changes))}",
            changes=changes,
        )
    return changes


def record_account_change(*, actor: User, user: User, created: bool, message: Any) -> None:
    """An account added or changed in the admin (name, e-mail, password), in the audit trail."""
    what = "added" if created else "changed"
    audit.record(
        actor=actor,
        action=AuditEvent.Action.CREATE if created else AuditEvent.Action.UPDATE,
        obj=user,
        object_type="core.user",
        summary=f"Account {user.get_username()} {what} in the admin",
        changes={"admin": message},
    )
