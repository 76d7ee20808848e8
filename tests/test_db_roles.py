"""The application's database role cannot rewrite the audit trail, by any route; it can work.

The role is created inside this test's transaction (CREATE ROLE is transactional, so it
vanishes with the rollback), granted by the same code `manage.py grant_app_role` runs after
migrations, and then the test switches to it with SET ROLE and tries each way round the
append-only triggers that the table's owner or a superuser would have. (SET ROLE keeps the
session user, a superuser here, so "SET ROLE postgres" is not tried: a real connection as the
application role has no such way back.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from clinicops.audit import audit, sealer
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Patient
from clinicops.core.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_role() -> str:
    role = f"clinicops_app_test_{uuid.uuid4().hex[:12]}"
    call_command("grant_app_role", role=role, verbosity=0)
    return role


@pytest.fixture
def as_app(app_role: str) -> Iterator[str]:
    """Run the test body's statements as the application role, then go back."""
    audit.record(actor="test", action=AuditEvent.Action.VIEW, summary="original")
    sealer.seal_pending()
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{app_role}"')
    try:
        yield app_role
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


ROUTES = [
    ("SET session_replication_role = replica", "permission denied"),
    ("SET LOCAL session_replication_role = replica", "permission denied"),
    ("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER", "must be owner"),
    ("ALTER TABLE compliance_auditevent DISABLE TRIGGER audit_no_update_delete", "must be owner"),
    ("DROP TRIGGER audit_no_update_delete ON compliance_auditevent", "must be owner"),
    ("DROP TRIGGER audit_no_truncate ON compliance_auditevent", "must be owner"),
    (
        "CREATE OR REPLACE FUNCTION compliance_audit_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$",
        "must be owner|permission denied",
    ),
    ("ALTER TABLE compliance_auditevent OWNER TO CURRENT_USER", "must be owner"),
    ("DROP TABLE compliance_auditevent", "must be owner"),
    ("UPDATE compliance_auditevent SET summary = 'edited'", "permission denied"),
    ("UPDATE compliance_auditevent SET hash = NULL, seq = NULL", "permission denied"),
    (
        "SELECT set_config('clinicops.audit_sealing', 'on', true); "
        "UPDATE compliance_auditevent SET hash = repeat('1', 64)",
        "permission denied",
    ),
    (
        # the sealing function re-seals nothing: the row is sealed, and the batch would not
        # continue the head anyway
        "SELECT audit_seal_events((SELECT array_agg(id) FROM compliance_auditevent), "
        "ARRAY[1]::bigint[], ARRAY[repeat('0', 64)], ARRAY[repeat('1', 64)], ARRAY['k0'])",
        "does not continue the chain head",
    ),
    ("DELETE FROM compliance_auditevent", "permission denied"),
    ("TRUNCATE compliance_auditevent", "permission denied"),
    ("GRANT UPDATE ON compliance_auditevent TO CURRENT_USER", "permission denied|no privileges"),
    ("CREATE TABLE sneaky (n int)", "permission denied"),
]


@pytest.mark.parametrize(("statement", "refusal"), ROUTES, ids=[s[:50] for s, _ in ROUTES])
def test_the_app_role_cannot_change_the_audit_trail(
    as_app: str, statement: str, refusal: str
) -> None:
    with (  # noqa: PT012
        pytest.raises(DatabaseError, match=refusal) as raised,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
        # GRANT to oneself "succeeds" with a warning and grants nothing: prove that too.
        cursor.execute("UPDATE compliance_auditevent SET summary = 'edited'")
    # Refused by a privilege check, not only by the append-only trigger behind it.
    assert "append-only" not in str(raised.value)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, count(*) FROM compliance_auditevent")
        user, rows = cursor.fetchone()
        cursor.execute("SELECT summary FROM compliance_auditevent")
        summaries = [row[0] for row in cursor.fetchall()]
    assert user == as_app
    assert rows == 1
    assert summaries == ["original"]


def test_the_app_role_does_its_normal_work(as_app: str, clinic) -> None:
    # audit events (INSERT), sealing them (the SECURITY DEFINER function), and rows created,
    # changed and deleted elsewhere
    event = audit.record(actor="app", action=AuditEvent.Action.VIEW, summary="by the app")
    assert sealer.seal_pending().sealed == 1
    patient = PatientFactory(clinic=clinic)
    Patient.objects.filter(pk=patient.pk).update(first_name="Changed")
    assert Patient.objects.get(pk=patient.pk).first_name == "Changed"
    patient.delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == as_app
    assert AuditEvent.objects.filter(pk=event.pk, seq=2).exists()
    result = audit.verify_chain()
    assert (result.intact, result.checked, result.unsealed) == (True, 2, 0)


def test_the_app_role_is_neither_superuser_nor_owner(app_role: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
            [app_role],
        )
        assert cursor.fetchone() == (False, False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE pg_get_userbyid(relowner) = %s", [app_role]
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_name = 'compliance_auditevent' ORDER BY 1",
            [app_role],
        )
        assert [row[0] for row in cursor.fetchall()] == ["INSERT", "SELECT"]
        cursor.execute(
            "SELECT has_function_privilege(%s, "
            "'audit_seal_events(bigint[], bigint[], text[], text[], text[])', 'EXECUTE'), "
            "has_function_privilege('public', "
            "'audit_seal_events(bigint[], bigint[], text[], text[], text[])', 'EXECUTE')",
            [app_role],
        )
        assert cursor.fetchone() == (True, False)


def test_grants_reach_tables_added_after_the_first_run(app_role: str) -> None:
    # A later migration adds a table: the next run (after that migrate) grants it as well.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE later_table (id bigserial PRIMARY KEY, n int)")
    call_command("grant_app_role", role=app_role, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{app_role}"')
        try:
            cursor.execute("INSERT INTO later_table (n) VALUES (1)")
            cursor.execute("UPDATE later_table SET n = 2")
            cursor.execute("SELECT n FROM later_table")
            assert cursor.fetchone() == (2,)
        finally:
            cursor.execute("RESET ROLE")


def test_the_command_refuses_a_superuser_or_the_owner_as_the_app_role() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
        superuser = f"clinicops_su_test_{uuid.uuid4().hex[:12]}"
        cursor.execute(f'CREATE ROLE "{superuser}" SUPERUSER')
    with pytest.raises(CommandError, match="owner"):
        call_command("grant_app_role", role=owner, verbosity=0)
    with pytest.raises(CommandError, match="superuser"):
        call_command("grant_app_role", role=superuser, verbosity=0)


def test_the_role_and_password_come_from_the_app_url(monkeypatch: pytest.MonkeyPatch) -> None:
    role = f"clinicops_app_test_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("APP_DATABASE_URL", f"postgres://{role}:s3cret@db:5432/clinicops")
    call_command("grant_app_role", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s", [role]
        )
        assert cursor.fetchone() == (True, True)
