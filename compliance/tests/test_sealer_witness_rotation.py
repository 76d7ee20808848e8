"""The hardened trail: unsealed window, anchor kept by the command, witness, key rotation."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone
from pytest_django.fixtures import Settings

from clinicops.audit import audit, sealer, services, tasks
from clinicops.audit.models import AuditEvent
from clinicops.core import roles

from .conftest import tamper

pytestmark = pytest.mark.django_db


def record(count: int, *, seal: bool = True) -> None:
    for n in range(count):
        audit.record(actor="test", action=AuditEvent.Action.VIEW, summary=f"event {n}")
    if seal:
        sealer.seal_pending()


def verify(*args: str) -> str:
    out = StringIO()
    call_command("verify_audit_chain", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def witness_file(settings: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "witness" / "audit-witness.log"
    settings.AUDIT_WITNESS_PATH = str(path)
    return path


def test_a_request_inserts_an_unsealed_row_and_the_verifier_reports_the_window() -> None:
    record(2)
    event = audit.record(actor="test", action=AuditEvent.Action.VIEW)
    assert (event.seq, event.hash, event.prev_hash) == (None, None, None)
    out = verify()
    assert "Checked 2 audit events" in out
    assert "1 event(s) not sealed yet" in out
    assert "Sealed 1 pending event(s)" in verify("--seal")
    assert "no event waits to be sealed" in verify()


def test_a_stalled_sealer_is_reported(settings: Settings) -> None:
    settings.AUDIT_SEAL_MAX_LAG_SECONDS = 60
    event = audit.record(actor="test", action=AuditEvent.Action.VIEW)
    tamper(
        "UPDATE compliance_auditevent SET occurred_at = %s WHERE id = %s",
        [timezone.now() - timedelta(minutes=5), event.pk],
    )
    with pytest.raises(CommandError, match="sealer is behind: 1 event"):
        verify()


def test_the_sealed_rows_cannot_be_sealed_again_by_the_function() -> None:
    record(2)
    from django.db import DatabaseError, connection, transaction

    head = AuditEvent.objects.get(seq=2)
    with (
        pytest.raises(DatabaseError, match="missing or sealed already"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT audit_seal_events(%s::bigint[], %s::bigint[], %s::text[], %s::text[], "
            "%s::text[])",
            [[head.pk], [3], [head.hash], ["1" * 64], ["k0"]],
        )


def test_the_command_keeps_the_same_anchor_as_the_hourly_task() -> None:
    # the command alone (no task run) now remembers the head, so a removed tail fails it
    record(4)
    verify()
    assert services.load_chain_anchor() == audit.ChainAnchor(4, AuditEvent.objects.get(seq=4).hash)
    stored = AuditEvent.objects.get(seq=4).hash
    tamper("DELETE FROM compliance_auditevent WHERE seq = 4")
    with pytest.raises(CommandError) as failure:
        verify()
    message = str(failure.value)
    assert "newest events were removed" in message
    # the report quotes the stored anchor (its hash and when it was verified)
    assert stored[:16] in message
    assert "the anchor verified 20" in message
    # and the hourly task sees the same anchor
    assert tasks.verify_audit_chain.apply().get() == {"checked": 3, "broken_at": 4}


def test_a_break_report_quotes_the_stored_hashes() -> None:
    record(3)
    event = AuditEvent.objects.get(seq=2)
    tamper("UPDATE compliance_auditevent SET actor_label = 'nobody' WHERE seq = 2")
    with pytest.raises(CommandError) as failure:
        verify()
    message = str(failure.value)
    assert f"stored hash {event.hash[:16]}" in message
    assert "the row now reads" in message
    assert "nobody" in message


def test_the_witness_detects_a_rewrite_by_someone_holding_the_db_and_the_key(
    witness_file: Path,
) -> None:
    # given a chain whose head #3 was published to the witness file
    record(3)
    published = services.publish_witness()
    assert published is not None
    assert published.seq == 3
    record(2)
    assert "1 witness head(s) match" in verify("--witness")
    # when someone with the owner role and the key rewrites #2 and re-seals everything after it
    tamper("DELETE FROM compliance_auditevent WHERE seq >= 2")
    audit.record(actor="test", action=AuditEvent.Action.VIEW, summary="rewritten history")
    record(3)
    assert audit.verify_chain().broken is None  # the chain alone verifies
    services.cache.clear()  # and they cleared the anchor in Redis too
    # then the witness does not match at #3
    with pytest.raises(CommandError) as failure:
        verify("--witness", str(witness_file))
    message = str(failure.value)
    assert "event #3" in message
    assert "the witness published" in message
    assert published.hash[:16] in message


def test_a_forged_witness_line_is_refused(witness_file: Path) -> None:
    record(2)
    services.publish_witness()
    line = json.loads(witness_file.read_text().splitlines()[0])
    line["hash"] = "f" * 64
    with witness_file.open("a") as handle:
        handle.write(json.dumps(line) + "\n")
    with pytest.raises(CommandError, match=r"line 2 .* bad signature"):
        verify("--witness")


def test_the_daily_witness_is_mailed_to_the_compliance_officers(
    witness_file: Path, make_user
) -> None:
    make_user(roles.COMPLIANCE, username="officer", email="officer@example.org")
    record(2)
    assert tasks.publish_audit_witness.apply(kwargs={"email": True}).get() == 2
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["officer@example.org"]
    published = json.loads(witness_file.read_text().splitlines()[-1])
    assert published["hash"] in mail.outbox[0].body
    assert published["signature"] in mail.outbox[0].body


def test_key_rotation_keeps_old_events_verifying(settings: Settings) -> None:
    # given events sealed with the one key of before key ids (the legacy "k0")
    record(3)
    assert set(AuditEvent.objects.values_list("key_id", flat=True)) == {"k0"}
    # when the keyring gains k1 and it becomes the active key
    settings.AUDIT_HMAC_KEYRING = {"k0": settings.AUDIT_HMAC_KEY, "k1": "a-new-key"}
    settings.AUDIT_HMAC_KEY_ID = "k1"
    record(2)
    # then a rotation event, signed with k0, names k1, and the new events are signed with k1
    chain = list(AuditEvent.objects.order_by("seq").values_list("action", "key_id", "changes"))
    assert chain[3] == (
        AuditEvent.Action.KEY_ROTATION,
        "k0",
        {"from_key_id": "k0", "to_key_id": "k1"},
    )
    assert [key for _, key, _ in chain[4:]] == ["k1", "k1"]
    result = audit.verify_chain()
    assert (result.checked, result.broken) == (6, None)
    # an event signed with the new key without the rotation event before it is a break
    tamper("DELETE FROM compliance_auditevent WHERE seq >= 4")
    settings.AUDIT_HMAC_KEY_ID = "k0"
    record(1)
    tamper("UPDATE compliance_auditevent SET key_id = 'k1' WHERE seq = 4")
    result = audit.verify_chain()
    assert result.broken is not None
    assert result.broken.seq == 4
    assert "no rotation event" in result.broken.reason


def test_a_legacy_row_without_key_id_still_verifies(settings: Settings) -> None:
    # rows sealed before key ids existed have key_id "" and a hash that does not cover it
    record(2)
    tamper("UPDATE compliance_auditevent SET key_id = '' WHERE seq = 1")
    first = AuditEvent.objects.get(seq=1)
    values = {f: getattr(first, f) for f in audit.CONTENT_FIELDS}
    legacy_hash = audit.content_hash(values, "", audit.GENESIS_HASH)
    second = AuditEvent.objects.get(seq=2)
    second_values = {f: getattr(second, f) for f in audit.CONTENT_FIELDS}
    second_hash = audit.content_hash(second_values, "k0", legacy_hash)
    tamper("UPDATE compliance_auditevent SET hash = %s WHERE seq = 1", [legacy_hash])
    tamper(
        "UPDATE compliance_auditevent SET prev_hash = %s, hash = %s WHERE seq = 2",
        [legacy_hash, second_hash],
    )
    assert audit.verify_chain().broken is None
    # with a keyring that lacks k0, the legacy row cannot verify
    settings.AUDIT_HMAC_KEYRING = {"k1": "a-new-key"}
    settings.AUDIT_HMAC_KEY_ID = "k1"
    result = audit.verify_chain()
    assert result.broken is not None
    assert "not in AUDIT_HMAC_KEYRING" in result.broken.reason


def test_the_sealer_and_the_witness_are_in_the_beat_schedule(settings: Settings) -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["audit-seal"]["task"] == tasks.seal_audit_trail.name
    assert schedule["audit-seal"]["schedule"] <= timedelta(seconds=5)
    assert schedule["audit-witness-file"]["task"] == tasks.publish_audit_witness.name
    assert schedule["audit-witness-email"]["kwargs"] == {"email": True}


def test_the_witness_file_is_appended_to_never_rewritten(witness_file: Path) -> None:
    record(1)
    services.publish_witness()
    first = witness_file.read_text()
    record(2)
    services.publish_witness()
    lines = witness_file.read_text().splitlines()
    assert witness_file.read_text().startswith(first)
    assert [json.loads(line)["seq"] for line in lines] == [1, 3]
    assert "2 witness head(s) match" in verify("--witness")


def test_no_anchor_neither_checks_nor_moves_the_anchor() -> None:
    record(3)
    verify()
    kept = services.load_chain_anchor()
    tamper("DELETE FROM compliance_auditevent WHERE seq = 3")
    assert "Checked 2 audit events" in verify("--no-anchor")
    assert services.load_chain_anchor() == kept  # a restore must clear it on purpose


def test_the_hourly_task_logs_a_stalled_sealer(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.AUDIT_SEAL_MAX_LAG_SECONDS = 60
    event = audit.record(actor="test", action=AuditEvent.Action.VIEW)
    tamper(
        "UPDATE compliance_auditevent SET occurred_at = %s WHERE id = %s",
        [timezone.now() - timedelta(minutes=10), event.pk],
    )
    tasks.verify_audit_chain.apply().get()
    assert any("sealer is behind" in r.message for r in caplog.records)


def test_the_seal_task_and_command_seal_what_is_pending() -> None:
    record(2, seal=False)
    assert tasks.seal_audit_trail.apply().get() == {"sealed": 2, "head": 2, "busy": False}
    out = StringIO()
    call_command("seal_audit_trail", stdout=out)
    assert "Sealed 0 event(s); the chain head is #2." in out.getvalue()
