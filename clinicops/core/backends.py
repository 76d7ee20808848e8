"""Django's model permissions, read in one query per request instead of three.

The stock `ModelBackend` reads a user's own permissions and their groups' permissions in two
queries, and the header's role names (`User.role_names`) take a third. Every page needs all
three, so this backend reads them together, once per request (the same per-request cache the
stock backend keeps on the user object: nothing is cached across requests, so a revoked role
takes effect on the next request exactly as before).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from .models import User


def _sql() -> str:
    permission = Permission._meta.db_table
    content_type = ContentType._meta.db_table
    group = Group._meta.db_table
    user_groups = User.groups.through._meta.db_table
    user_permissions = User.user_permissions.through._meta.db_table
    group_permissions = Group.permissions.through._meta.db_table
    return f"""
        SELECT 'p', ct.app_label || '.' || p.codename
          FROM {permission} p JOIN {content_type} ct ON ct.id = p.content_type_id
         WHERE p.id IN (
               SELECT permission_id FROM {user_permissions} WHERE user_id = %(user)s
               UNION
               SELECT gp.permission_id
                 FROM {group_permissions} gp
                 JOIN {user_groups} ug ON ug.group_id = gp.group_id
                WHERE ug.user_id = %(user)s)
        UNION ALL
        SELECT 'g', g.name
          FROM {group} g JOIN {user_groups} ug ON ug.group_id = g.id
         WHERE ug.user_id = %(user)s
    """  # noqa: S608 - table names from the models' own metadata, the user id a parameter


def _tables() -> dict[str, str]:
    return {
        "permission": Permission._meta.db_table,
        "content_type": ContentType._meta.db_table,
        "group": Group._meta.db_table,
        "user_groups": User.groups.through._meta.db_table,
        "user_permissions": User.user_permissions.through._meta.db_table,
        "group_permissions": Group.permissions.through._meta.db_table,
    }


def permission_names_sql() -> str:
    """An SQL array of the user's permissions ("app.codename"), own and through groups; the
    user id is the parameter (twice). CurrentClinicMiddleware reads it with the clinics."""
    t = _tables()
    return f"""ARRAY(
        SELECT ct.app_label || '.' || p.codename
          FROM {t["permission"]} p JOIN {t["content_type"]} ct ON ct.id = p.content_type_id
         WHERE p.id IN (
               SELECT permission_id FROM {t["user_permissions"]} WHERE user_id = %s
               UNION
               SELECT gp.permission_id
                 FROM {t["group_permissions"]} gp
                 JOIN {t["user_groups"]} ug ON ug.group_id = gp.group_id
                WHERE ug.user_id = %s))"""  # noqa: S608 - table names from model metadata


def group_names_sql() -> str:
    """An SQL array of the user's group (role) names; the user id is the parameter."""
    t = _tables()
    return f"""ARRAY(
        SELECT g.name FROM {t["group"]} g JOIN {t["user_groups"]} ug ON ug.group_id = g.id
         WHERE ug.user_id = %s)"""  # noqa: S608 - table names from model metadata


def remember_permissions(user: Any, permissions: Iterable[str], groups: Iterable[str]) -> None:
    """Keep permissions and role names read elsewhere in this request (the same per-request
    caches `get_all_permissions` fills), so the backend does not query them again."""
    if user.is_active and not user.is_superuser and not hasattr(user, "_perm_cache"):
        user._perm_cache = set(permissions)
        user.__dict__.setdefault("role_names", sorted(groups))


class OneQueryModelBackend(ModelBackend):
    """`ModelBackend` with the user's permissions and role names read in one query."""

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            perms: set[str] = set()
            groups: list[str] = []
            with connection.cursor() as cursor:
                cursor.execute(_sql(), {"user": user_obj.pk})
                for kind, value in cursor.fetchall():
                    (perms.add if kind == "p" else groups.append)(value)
            user_obj._perm_cache = perms
            # `User.role_names` is a cached_property: fill it from the same answer.
            user_obj.__dict__.setdefault("role_names", sorted(groups))
        return user_obj._perm_cache  # type: ignore[no-any-return]
