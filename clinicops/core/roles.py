"""The roles of ClinicOps, as Django groups, and the permissions each one carries.

A view declares the permission it needs (`permission_required`), never a role name, so a
clinic can reshape a role in the admin without a code change. This map is the default shape,
applied by data migrations through `sync_roles`; apps that add permissions later add a data
migration that calls `sync_roles` again.
"""

from __future__ import annotations

from typing import Any

FRONT_DESK = "Front desk"
NURSE = "Nurse / medical assistant"
PROVIDER = "Provider"
BILLER = "Biller"
MANAGER = "Manager"
COMPLIANCE = "Compliance officer"
ADMINISTRATOR = "Administrator"

ALL_ROLES = (FRONT_DESK, NURSE, PROVIDER, BILLER, MANAGER, COMPLIANCE, ADMINISTRATOR)

_CLINICAL_READERS = (FRONT_DESK, NURSE, PROVIDER, BILLER, MANAGER)

# "app_label.codename" -> the roles that hold it.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "core.view_patient": (*_CLINICAL_READERS, COMPLIANCE),
    "core.add_patient": (FRONT_DESK, MANAGER),
    "core.change_patient": (FRONT_DESK, MANAGER),
    "core.view_coverage": (*_CLINICAL_READERS, COMPLIANCE),
    "core.add_coverage": (FRONT_DESK, BILLER),
    "core.change_coverage": (FRONT_DESK, BILLER),
    "core.view_clinic": ALL_ROLES,
    "core.view_room": ALL_ROLES,
    "core.view_payer": (FRONT_DESK, BILLER, MANAGER, ADMINISTRATOR),
    # Reference data, kept in the Django admin by administrators.
    "core.add_clinic": (ADMINISTRATOR,),
    "core.change_clinic": (ADMINISTRATOR,),
    "core.add_openinghours": (ADMINISTRATOR,),
    "core.change_openinghours": (ADMINISTRATOR,),
    "core.delete_openinghours": (ADMINISTRATOR,),
    "core.view_openinghours": (ADMINISTRATOR, MANAGER),
    "core.add_room": (ADMINISTRATOR,),
    "core.change_room": (ADMINISTRATOR,),
    "core.add_payer": (ADMINISTRATOR,),
    "core.change_payer": (ADMINISTRATOR,),
    "core.view_staff": (MANAGER, ADMINISTRATOR),
    "core.add_staff": (ADMINISTRATOR,),
    "core.change_staff": (ADMINISTRATOR,),
    "core.view_user": (ADMINISTRATOR,),
    "core.add_user": (ADMINISTRATOR,),
    "core.change_user": (ADMINISTRATOR,),
    "compliance.view_auditevent": (COMPLIANCE,),
}

# Roles whose members may use the Django admin (for reference data).
ADMIN_SITE_ROLES = (ADMINISTRATOR,)


def sync_roles(apps: Any = None) -> None:
    """Create the role groups and grant them the permissions that exist so far (idempotent)."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ALL_ROLES}
    for dotted, role_names in PERMISSIONS.items():
        app_label, codename = dotted.split(".")
        permission = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if permission is None:  # the app that owns it has not migrated yet
            continue
        for name in role_names:
            groups[name].permissions.add(permission)
