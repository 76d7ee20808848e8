"""The audit trail moved from `compliance` to this app without touching the table or the chain."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from clinicops.audit import audit, sealer
from clinicops.audit.models import AuditEvent
from clinicops.core import roles

BEFORE_MOVE = [
    ("compliance", "0004_audit_search_indexes"),
    ("audit", None),
    ("core", "0002_mrn_sequence_and_roles"),
]


def insert_legacy_event(*, summary: str) -> None:
    """A row as the design before the sealer wrote it: chained at insert, no key id column."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM compliance_auditevent ORDER BY seq DESC LIMIT 1")
        head = cursor.fetchone()
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
    seq, prev = (head[0] + 1, head[1]) if head else (1, audit.GENESIS_HASH)
    content = {
        "seq": seq,
        "occurred_at": now,
        "actor_id": None,
        "actor_label": "test",
        "action": "view",
        "object_type": "",
        "object_id": "",
        "patient_id": None,
        "clinic_id": None,
        "ip_address": None,
        "summary": summary,
        "changes": {},
    }
    hash_ = audit.content_hash(content, "", prev)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO compliance_auditevent (seq, occurred_at, actor_label, action, "
            "object_type, object_id, summary, changes, prev_hash, hash) "
            "VALUES (%s, %s, 'test', 'view', '', '', %s, '{}'::jsonb, %s, %s)",
            [seq, now, summary, prev, hash_],
        )


def migrate(targets: list[tuple[str, str | None]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def latest() -> list[tuple[str, str | None]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def officers_permissions() -> set[str]:
    group = Group.objects.get(name=roles.COMPLIANCE)
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
        if codename == "view_auditevent"
    }


@pytest.mark.django_db(transaction=True)
def test_the_move_keeps_the_table_its_rows_its_chain_and_the_officers_permission() -> None:
    # given a trail written before the move, read by the Compliance officer role
    migrate(BEFORE_MOVE)
    ContentType.objects.clear_cache()
    # A database made before the move had the grant under the old label. A test database is
    # made by migrating forward from nothing, where whether compliance's own grant found the
    # permission depends on the order the apps' migrations ran in; so make the given explicit.
    Group.objects.get(name=roles.COMPLIANCE).permissions.add(
        Permission.objects.get(content_type__app_label="compliance", codename="view_auditevent")
    )
    assert officers_permissions() == {"compliance.view_auditevent"}
    permission_id = Permission.objects.get(
        content_type__app_label="compliance", codename="view_auditevent"
    ).pk
    insert_legacy_event(summary="before the move")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM compliance_auditevent")
        before = cursor.fetchone()[0]
    assert before >= 1

    # when the move's migrations run
    migrate(latest())
    ContentType.objects.clear_cache()

    # then the same permission row, now audit.view_auditevent, is still the officers'
    assert officers_permissions() == {"audit.view_auditevent"}
    assert (
        Permission.objects.get(content_type__app_label="audit", codename="view_auditevent").pk
        == permission_id
    )
    # and no role holds a permission under the old label. (A stale compliance | auditevent
    # content type may be re-created by a later app's `sync_roles`, which creates the
    # permissions of every app in the migration state it runs in; it is harmless, and
    # `remove_stale_contenttypes` clears it.)
    assert not Permission.objects.filter(
        content_type__app_label="compliance", codename="view_auditevent", group__isnull=False
    ).exists()
    # the model writes and reads the old table, its rows still there, the chain intact
    assert AuditEvent._meta.db_table == "compliance_auditevent"
    audit.record(actor="test", action=AuditEvent.Action.VIEW, summary="after the move")
    assert AuditEvent.objects.count() == before + 1
    # sealed after the sealer's migration, it continues the chain of the rows sealed before
    assert sealer.seal_pending().sealed == 1
    result = audit.verify_chain()
    assert (result.intact, result.checked) == (True, before + 1)
    # and the append-only triggers are the ones compliance 0002 made
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'compliance_auditevent'::regclass"
            " AND NOT tgisinternal ORDER BY 1"
        )
        assert [row[0] for row in cursor.fetchall()] == [
            "audit_no_truncate",
            "audit_no_update_delete",
        ]
