"""The database itself refuses to change or remove audit events."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent


@pytest.fixture
def event(db: None) -> AuditEvent:
    return audit.record(actor="test", action=AuditEvent.Action.VIEW, summary="original")


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE compliance_auditevent SET summary = 'edited'", "UPDATE"),
        ("DELETE FROM compliance_auditevent", "DELETE"),
        ("TRUNCATE compliance_auditevent", "TRUNCATE"),
    ],
)
def test_the_database_refuses_to_change_the_audit_table(
    event: AuditEvent, statement: str, operation: str
) -> None:
    # given an event; when raw SQL tries to rewrite or remove it (in a savepoint, so the test
    # transaction survives the error)
    with (
        pytest.raises(DatabaseError, match=f"append-only: {operation}"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    # then it is still there, unchanged
    assert AuditEvent.objects.get(pk=event.pk).summary == "original"


def test_the_orm_cannot_update_or_delete_either(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(summary="edited")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk, summary="original").exists()


def test_deleting_a_user_leaves_their_audit_trail_alone(django_user_model: type) -> None:
    # Ids, not foreign keys: removing the row an event talks about must not touch the event.
    user = django_user_model.objects.create(username="leaver")
    audit.record(actor=user, action=AuditEvent.Action.LOGIN, obj=user)
    user.delete()
    assert AuditEvent.objects.filter(actor_label="leaver").count() == 1
