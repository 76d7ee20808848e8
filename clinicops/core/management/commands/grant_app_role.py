"""Give the application's own database role exactly what it needs (run after `migrate`).

The application runs as a role that is neither a superuser nor the owner of any table, so it
cannot disable or drop the audit trail's triggers, replace their function, switch
`session_replication_role`, or take ownership of anything. Migrations run as the owner; this
command, run right after them by the owner, creates the application role if it is missing
and grants it reads and writes on every table and sequence in the schema, except that the
append-only tables get SELECT and INSERT only (no UPDATE, DELETE or TRUNCATE). It is
idempotent; docs/decisions/0010-database-roles.md says why it runs after every migrate
rather than relying on ALTER DEFAULT PRIVILEGES.

    APP_DATABASE_URL=postgres://clinicops_app:secret@db/clinicops \\
        DATABASE_URL=postgres://clinicops:owner-secret@db/clinicops \\
        python manage.py migrate && python manage.py grant_app_role

The role and its password come from APP_DATABASE_URL (the URL the application connects
with), or `--role` (and no password: a socket with peer or trust authentication).
"""

from __future__ import annotations

import os
import re
from typing import Any

import dj_database_url
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

# Models whose rows are never changed or removed once written: the application may only
# read them and add to them. (Database triggers refuse UPDATE/DELETE/TRUNCATE as well; the
# grants make sure the application's role cannot switch the triggers off either.)
APPEND_ONLY_MODELS = ("audit.AuditEvent",)
# Functions the application role may EXECUTE (owned by the owner, SECURITY DEFINER).
SEAL_FUNCTIONS = ("audit_seal_events(bigint[], bigint[], text[], text[], text[])",)

APP_URL_ENV = "APP_DATABASE_URL"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def append_only_tables() -> list[str]:
    return [apps.get_model(label)._meta.db_table for label in APPEND_ONLY_MODELS]


class Command(BaseCommand):
    help = "Create/grant the application's database role (not superuser, not owner)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--role",
            help=f"the application's role (default: the user in ${APP_URL_ENV})",
        )

    def handle(self, *args: Any, role: str | None = None, **options: Any) -> None:
        password = None
        if not role:
            url = os.environ.get(APP_URL_ENV, "")
            if not url:
                raise CommandError(f"Set {APP_URL_ENV} (the application's URL) or pass --role.")
            params = dj_database_url.parse(url)
            role, password = params.get("USER") or "", params.get("PASSWORD") or None
        if not ROLE_NAME.match(role):
            raise CommandError(f"{role!r} is not a plain role name (a-z, 0-9, _).")
        with transaction.atomic(), connection.cursor() as cursor:
            summary = grant(cursor, role=role, password=password)
        self.stdout.write(summary)


def grant(cursor: Any, *, role: str, password: str | None) -> str:
    """The grants, on `cursor` (inside the caller's transaction). Returns a one-line summary."""
    cursor.execute("SELECT current_user, current_schema(), current_database()")
    owner, schema, database = cursor.fetchone()
    if role == owner:
        raise CommandError(
            f"The application role {role!r} is the role running this command (the owner of "
            "the tables): give the application a role of its own."
        )
    cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
    found = cursor.fetchone()
    quoted = f'"{role}"'  # safe: ROLE_NAME allows no quote
    if found is None:
        cursor.execute(
            f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
            + (" PASSWORD %s" if password else ""),
            [password] if password else [],
        )
    else:
        if found[0] or found[1]:
            raise CommandError(
                f"The role {role!r} is a superuser (or bypasses row security): the application "
                "must run as a role that is not."
            )
        if password:
            cursor.execute(f"ALTER ROLE {quoted} LOGIN PASSWORD %s", [password])
    cursor.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND pg_get_userbyid(c.relowner) = %s",
        [schema, role],
    )
    if cursor.fetchone()[0]:
        raise CommandError(
            f"The role {role!r} owns objects in schema {schema!r}: migrations must run as "
            "another role (the owner), and the application as this one."
        )
    cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [role, owner])
    if cursor.fetchone()[0]:
        raise CommandError(f"The role {role!r} is a member of the owner {owner!r}.")

    qschema = connection.ops.quote_name(schema)
    cursor.execute(f"GRANT CONNECT ON DATABASE {connection.ops.quote_name(database)} TO {quoted}")
    cursor.execute(f"GRANT USAGE ON SCHEMA {qschema} TO {quoted}")
    cursor.execute(f"REVOKE CREATE ON SCHEMA {qschema} FROM {quoted}")
    cursor.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {qschema} TO {quoted}"
    )
    cursor.execute(
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {qschema} FROM {quoted}"
    )
    cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {qschema} TO {quoted}")
    tables = append_only_tables()
    for table in tables:
        cursor.execute(
            f"REVOKE UPDATE, DELETE, TRUNCATE ON {qschema}.{connection.ops.quote_name(table)} "
            f"FROM {quoted}"
        )
    # The sealer writes the chain's hashes through this SECURITY DEFINER function only (audit
    # migration 0002): it fills in unsealed rows and nothing else, so no UPDATE is granted.
    for function in SEAL_FUNCTIONS:
        cursor.execute("SELECT to_regprocedure(%s) IS NOT NULL", [function])
        if cursor.fetchone()[0]:
            cursor.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {quoted}")
    return (
        f"Role {role} may read and write the tables of {database}.{schema}; "
        f"append-only (SELECT, INSERT): {', '.join(tables)}."
    )
