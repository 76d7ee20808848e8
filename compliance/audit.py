"""The one way to write the audit trail.

Services call `record(...)` inside their own transaction, so the audit row commits or rolls
back with the change it describes. Views that only read PHI call `record_view(request, obj)`.
The request's user and IP reach `record` through a context variable set by
`AuditContextMiddleware`, so services need no request argument.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from .models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key for the chain head: "audit" in ASCII, an arbitrary fixed number.
CHAIN_LOCK_KEY = 0x6175646974


@dataclass(frozen=True)
class AuditContext:
    ip_address: str | None = None


_context: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "audit_context", default=AuditContext()
)


@contextmanager
def audit_context(*, ip_address: str | None) -> Iterator[None]:
    token = _context.set(AuditContext(ip_address=ip_address))
    try:
        yield
    finally:
        _context.reset(token)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. Behind a proxy, set AXES_IPWARE_PROXY_COUNT so this agrees with
    the lockout's idea of the client (both read X-Forwarded-For the same way)."""
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


class AuditContextMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        with audit_context(ip_address=client_ip(request)):
            return self.get_response(request)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The audited fields of a row, as JSON-able values, for `diff`."""
    return {name: _jsonable(getattr(instance, name)) for name in fields}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields that changed."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def canonical_content(event: AuditEvent) -> bytes:
    """The bytes the chain hash covers: every field but the hashes themselves."""
    content = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "patient_id": event.patient_id,
        "clinic_id": event.clinic_id,
        "ip_address": event.ip_address,
        "summary": event.summary,
        "changes": event.changes,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent, prev_hash: str) -> str:
    key = settings.AUDIT_HMAC_KEY.encode()
    return hmac.new(key, prev_hash.encode() + canonical_content(event), hashlib.sha256).hexdigest()


def record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    patient: Any = None,
    clinic: Any = None,
    summary: str = "",
    changes: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the audit chain, inside the caller's transaction.

    The chain head is serialised by a transaction-level advisory lock: two writers can never
    read the same previous hash, so concurrent requests cannot fork the chain. The lock is held
    until the caller's transaction ends, which is why services record last, just before commit.
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        if patient is None and obj._meta.label_lower == "core.patient":
            patient = obj
        if clinic is None:
            clinic = getattr(obj, "clinic_id", None)
    if patient is not None and clinic is None:
        clinic = getattr(patient, "clinic_id", None)
    is_user = actor is not None and getattr(actor, "is_authenticated", False)

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        head = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        event = AuditEvent(
            seq=(head["seq"] + 1) if head else 1,
            occurred_at=timezone.now(),
            actor=actor if is_user else None,
            actor_label=actor.get_username() if is_user else (str(actor) if actor else "system"),
            action=action,
            object_type=object_type,
            object_id=str(object_id) if object_id != "" else "",
            patient_id=getattr(patient, "pk", patient),
            clinic_id=getattr(clinic, "pk", clinic),
            ip_address=_context.get().ip_address,
            summary=summary[:255],
            changes=_jsonable(dict(changes or {})),
            prev_hash=head["hash"] if head else GENESIS_HASH,
        )
        event.hash = compute_hash(event, event.prev_hash)
        event.save(force_insert=True)
    return event


def record_view(request: HttpRequest, obj: models.Model, *, summary: str = "") -> AuditEvent:
    """Record that the request's user read `obj` (a patient, or a record about one)."""
    return record(actor=request.user, action=AuditEvent.Action.VIEW, obj=obj, summary=summary)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def verify_chain(*, batch_size: int = 5000) -> tuple[int, ChainBreak | None]:
    """Walk the chain from the start; return how many events were checked and the first break."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    checked = 0
    events = AuditEvent.objects.order_by("seq")
    for event in events.iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            return checked, ChainBreak(expected_seq, f"event #{expected_seq} is missing")
        if event.prev_hash != prev_hash:
            return checked, ChainBreak(event.seq, "its previous-hash does not match the event before")
        if not hmac.compare_digest(event.hash, compute_hash(event, prev_hash)):
            return checked, ChainBreak(event.seq, "its content does not match its hash")
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    return checked, None
