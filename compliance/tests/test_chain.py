"""The hash chain: what it covers, that stored events verify, and what the check finds."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from clinicops.audit import audit, sealer
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import PatientFactory

from .conftest import tamper

pytestmark = pytest.mark.django_db


def record_some(count: int, **fields: object) -> list[AuditEvent]:
    """`count` events, sealed (as the sealer would within seconds), read back."""
    events = [
        audit.record(actor="test", action=AuditEvent.Action.VIEW, summary=f"event {n}", **fields)
        for n in range(count)
    ]
    sealer.seal_pending()
    return list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("seq"))


def verify(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit_chain", *args, stdout=out)
    return out.getvalue()


def test_the_hash_covers_every_stored_field() -> None:
    stored = {f.attname for f in AuditEvent._meta.concrete_fields} - {
        "id",
        "prev_hash",
        "hash",
        "key_id",
    }
    assert set(audit.CONTENT_FIELDS) == stored, "a new column must be added to the hash"

    with audit.audit_context(ip_address="192.0.2.1"):
        event = audit.record(
            actor="test",
            action=AuditEvent.Action.UPDATE,
            object_type="core.patient",
            object_id=7,
            patient=7,
            clinic=3,
            summary="Changed phone",
            changes={"phone": ["1", "2"]},
        )
    sealer.seal_pending()
    event.refresh_from_db()
    assert event.key_id == "k0"
    original = audit.compute_hash(event, event.prev_hash)
    assert original == event.hash
    altered_values = {
        "seq": event.seq + 1,
        "occurred_at": event.occurred_at + timedelta(microseconds=1),
        "actor_id": 99,
        "actor_label": "someone-else",
        "action": AuditEvent.Action.VIEW,
        "object_type": "core.coverage",
        "object_id": "8",
        "patient_id": 8,
        "clinic_id": 4,
        "ip_address": "192.0.2.2",
        "summary": "Changed nothing",
        "changes": {"phone": ["1", "3"]},
    }
    assert set(altered_values) == stored
    for name, value in altered_values.items():
        altered = copy.copy(event)
        setattr(altered, name, value)
        assert audit.compute_hash(altered, event.prev_hash) != original, name
    assert audit.compute_hash(event, "f" * 64) != original, "prev_hash is chained in"
    rekeyed = copy.copy(event)
    rekeyed.key_id = "k1"
    with pytest.raises(KeyError):  # a key id not in the ring cannot be hashed at all
        audit.compute_hash(rekeyed, event.prev_hash)


awkward_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.dictionaries(st.text(max_size=8), awkward_json, max_size=4),
    summary=st.text(max_size=300),
    ip=st.one_of(st.none(), st.ip_addresses().map(str), st.text(max_size=20)),
)
def test_whatever_is_recorded_verifies_after_the_round_trip_through_postgres(
    changes: dict[str, object], summary: str, ip: str | None
) -> None:
    # jsonb turns 1e20 into an integer and refuses NUL; inet respells IPv6. The hash is made
    # before the insert and checked after the read, so those must not break the chain.
    with audit.audit_context(ip_address=ip):
        audit.record(
            actor="test", action=AuditEvent.Action.UPDATE, summary=summary, changes=changes
        )
    sealer.seal_pending()
    result = audit.verify_chain()
    assert result.broken is None, result.broken


def test_an_unknown_action_is_refused_before_anything_is_written() -> None:
    with pytest.raises(ValueError, match="not a valid"):
        audit.record(actor="test", action="peek")
    assert not AuditEvent.objects.exists()


def test_a_patient_given_by_id_still_files_the_event_under_their_clinic(clinic: Clinic) -> None:
    patient = PatientFactory(clinic=clinic)
    event = audit.record(actor="test", action=AuditEvent.Action.VIEW, patient=patient.pk)
    assert (event.patient_id, event.clinic_id) == (patient.pk, clinic.pk)


def test_an_intact_chain_is_reported_with_its_count() -> None:
    record_some(5)
    assert "Checked 5 audit events" in verify()
    assert "intact" in verify()


def test_an_empty_chain_is_intact() -> None:
    assert "Checked 0 audit events" in verify()


def test_a_tampered_event_is_named_by_the_verify_command(front_desk: User) -> None:
    # given a chain of five, the third written by the front desk
    record_some(2)
    target = audit.record(actor=front_desk, action=AuditEvent.Action.VIEW, summary="looked")
    record_some(2)
    target.refresh_from_db()
    # when someone with the table's owner role edits it around the trigger
    tamper(
        "UPDATE compliance_auditevent SET summary = 'nothing to see' WHERE seq = %s", [target.seq]
    )
    # then the command fails, naming that event, when and by whom, and why
    with pytest.raises(CommandError) as failure:
        verify("--batch-size", "2")
    message = str(failure.value)
    assert f"event #{target.seq}" in message
    assert target.occurred_at.isoformat() in message
    assert "frontdesk" in message
    assert "altered" in message
    assert "2 event(s) before it are intact" in message


@pytest.mark.parametrize("column", ["occurred_at", "actor_id", "ip_address", "changes"])
def test_an_edit_to_any_column_is_found(column: str) -> None:
    events = record_some(3)
    new_value = {
        "occurred_at": "now() - interval '1 day'",
        "actor_id": "42",
        "ip_address": "'198.51.100.7'",
        "changes": """'{"x": 1}'::jsonb""",
    }[column]
    tamper(f"UPDATE compliance_auditevent SET {column} = {new_value} WHERE seq = 2")  # noqa: S608
    result = audit.verify_chain()
    assert result.broken is not None
    assert result.broken.seq == events[1].seq


def test_a_deleted_event_leaves_a_gap_that_is_found() -> None:
    record_some(6)
    tamper("DELETE FROM compliance_auditevent WHERE seq IN (3, 4)")
    with pytest.raises(CommandError, match=r"event #5 .*\(#3-#4\) are missing"):
        verify()


def test_a_forged_event_without_the_key_is_found() -> None:
    # given an attacker who can insert but does not hold the HMAC key
    record_some(2)
    head = AuditEvent.objects.get(seq=2)
    forged = AuditEvent(
        seq=3,
        occurred_at=head.occurred_at,
        actor_label="attacker",
        action=AuditEvent.Action.VIEW,
        prev_hash=head.hash,
    )
    forged.hash = "0" * 63 + "1"
    forged.save(force_insert=True)
    result = audit.verify_chain()
    assert result.broken is not None
    assert result.broken.seq == 3


def test_a_removed_tail_is_found_against_the_anchor() -> None:
    # A deleted tail leaves no gap; only the head verified earlier (kept outside) reveals it.
    record_some(5)
    anchor = audit.verify_chain().head
    assert anchor == audit.ChainAnchor(5, AuditEvent.objects.get(seq=5).hash)
    tamper("DELETE FROM compliance_auditevent WHERE seq >= 4")
    assert audit.verify_chain().broken is None  # without the anchor: looks fine
    result = audit.verify_chain(anchor=anchor)
    assert result.broken is not None
    assert result.broken.seq == 5
    assert "ends at #3" in result.broken.reason


def test_a_rewritten_chain_is_found_against_the_anchor() -> None:
    # given a chain anchored earlier, then rebuilt from event 2 on by someone holding the key
    record_some(3)
    anchor = audit.verify_chain().head
    tamper("DELETE FROM compliance_auditevent WHERE seq >= 2")
    record_some(4)
    assert audit.verify_chain().broken is None
    result = audit.verify_chain(anchor=anchor)
    assert result.broken is not None
    assert (result.broken.seq, "rebuilt" in result.broken.reason) == (3, True)


def test_the_command_checks_against_the_anchor_kept_in_the_cache() -> None:
    from clinicops.audit import services

    record_some(3)
    services.check_audit_chain()  # remembers #3
    tamper("DELETE FROM compliance_auditevent WHERE seq = 3")
    with pytest.raises(CommandError, match="newest events were removed"):
        verify()
    assert "Checked 2 audit events" in verify("--no-anchor")


def test_a_bad_batch_size_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="--batch-size"):
        verify("--batch-size", "0")


def test_a_different_key_cannot_verify_the_chain(settings: Settings) -> None:
    record_some(2)
    settings.AUDIT_HMAC_KEY = "another-key"
    result = audit.verify_chain()
    assert result.broken is not None
    assert result.broken.seq == 1
