"""The sealer: chains committed audit rows, one worker at a time, outside the request path.

Requests insert unsealed rows (`audit.record`: no lock, no hash). `seal_pending` runs every few
seconds (Celery beat) and on demand (`manage.py seal_audit_trail`, `verify_audit_chain --seal`):

- One sealer at a time: each round runs in one transaction that first takes
  `pg_try_advisory_xact_lock(SEAL_LOCK_KEY)`; a second sealer finds it taken and returns at once.
  Requests never take this lock.
- Order: each round reads the chain head, then the unsealed rows that have committed (READ
  COMMITTED: a row whose transaction has not committed is not visible), oldest id first, and
  gives them the next `seq` numbers. A transaction that took a lower id but commits later is
  simply sealed by a later round, after rows with higher ids: the chain's order is the order in
  which rows were sealed, each after its commit. Nothing is skipped, because the sealer keeps no
  "sealed up to id N" watermark: it seals whatever is still unsealed.
- Crash safety: the hashes are written by the database function `audit_seal_events` inside the
  round's transaction, which also checks that the batch continues the stored head with
  consecutive `seq` numbers. A sealer killed mid-round rolls back with its transaction (the
  advisory lock goes with its connection): the rows stay unsealed for the next round, and `seq`
  is UNIQUE, so no interleaving can fork the chain.
- Grants: the application role has no UPDATE on the table; `audit_seal_events` is SECURITY
  DEFINER (audit migration 0002) and only fills in `seq`, `key_id`, `prev_hash` and `hash` of
  rows that have none yet (its trigger refuses anything else).
- Key rotation: when `AUDIT_HMAC_KEY_ID` differs from the head's key, the round first appends a
  rotation event signed with the old key that names the new one; every event after it is
  signed with the new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from . import audit
from .models import AuditEvent

# pg_try_advisory_xact_lock key of the single sealer: "seal" in ASCII. Only the sealer takes it.
SEAL_LOCK_KEY = 0x7365616C
BATCH_SIZE = 2_000
_READ_COLUMNS = ("id", *[name for name in audit.CONTENT_FIELDS if name != "seq"])


@dataclass(frozen=True)
class SealResult:
    sealed: int
    head_seq: int
    busy: bool = False  # another sealer held the lock


def seal_pending(*, batch_size: int = BATCH_SIZE, max_rounds: int | None = None) -> SealResult:
    """Seal every committed unsealed row, in rounds of `batch_size`; return how many."""
    sealed, rounds, head_seq = 0, 0, 0
    while max_rounds is None or rounds < max_rounds:
        rounds += 1
        outcome = _seal_round(batch_size)
        if outcome is None:
            return SealResult(sealed, head_seq, busy=True)
        count, head_seq = outcome
        sealed += count
        if count < batch_size:
            break
    return SealResult(sealed, head_seq)


def _seal_round(batch_size: int) -> tuple[int, int] | None:
    """One transaction: lock, read head and pending rows, seal them. None if the lock is taken."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return None
        head = (
            AuditEvent.objects.filter(seq__isnull=False)
            .order_by("-seq")
            .values("seq", "hash", "key_id", "action", "changes")
            .first()
        )
        head_seq: int = int(head["seq"] or 0) if head else 0
        head_hash: str = str(head["hash"]) if head else audit.GENESIS_HASH
        head_key = _key_after(dict(head)) if head else audit.active_key_id()
        new_key = audit.active_key_id()
        if new_key not in audit.keyring():
            raise KeyError(f"AUDIT_HMAC_KEY_ID {new_key!r} is not in AUDIT_HMAC_KEYRING")
        plan: list[tuple[dict[str, Any], str]] = []
        if head and head_key != new_key:
            rotation = audit.record(
                actor="system",
                action=AuditEvent.Action.KEY_ROTATION,
                summary=f"Audit signing key rotated from {head_key} to {new_key}",
                changes={"from_key_id": head_key, "to_key_id": new_key},
            )
            plan.append((_content_of(rotation.pk), head_key))
        rows = AuditEvent.objects.filter(seq__isnull=True).order_by("id")
        if plan:
            rows = rows.exclude(pk=plan[0][0]["id"])
        plan.extend(
            (dict(zip(_READ_COLUMNS, row, strict=True)), new_key)
            for row in rows.values_list(*_READ_COLUMNS)[:batch_size]
        )
        if not plan:
            return 0, head_seq
        ids: list[int] = []
        seqs: list[int] = []
        prevs: list[str] = []
        hashes: list[str] = []
        keys: list[str] = []
        prev, seq = head_hash, head_seq
        for content, key_id in plan:
            seq += 1
            row_id = content.pop("id")
            content["seq"] = seq
            hash_ = audit.content_hash(content, key_id, prev)
            ids.append(row_id)
            seqs.append(seq)
            prevs.append(prev)
            hashes.append(hash_)
            keys.append(key_id)
            prev = hash_
        cursor.execute(
            "SELECT audit_seal_events(%s::bigint[], %s::bigint[], %s::text[], %s::text[], "
            "%s::text[])",
            [ids, seqs, prevs, hashes, keys],
        )
        return len(plan), seq


def _content_of(pk: int) -> dict[str, Any]:
    row = AuditEvent.objects.filter(pk=pk).values_list(*_READ_COLUMNS).get()
    return dict(zip(_READ_COLUMNS, row, strict=True))


def _key_after(head: dict[str, Any]) -> str:
    """The key the event after `head` must be signed with."""
    key_id = head["key_id"] or audit.legacy_key_id()
    return audit._next_key_id(head, key_id)
