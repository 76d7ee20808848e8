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
import ipaddress
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from .models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key for the chain head: "audit" in ASCII, an arbitrary fixed number.
CHAIN_LOCK_KEY = 0x6175646974

# The fields the chain hash covers, in the order of `canonical_content`. Every column but the
# surrogate `id` and the two hashes. Changing this list changes every event's hash: it needs a
# hash version and a re-anchoring (docs/decisions/0002-audit-chain.md), never a silent edit.
CONTENT_FIELDS = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "clinic_id",
    "ip_address",
    "summary",
    "changes",
)
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_TEXT_LIMITS = {"actor_label": 150, "object_type": 100, "object_id": 64, "summary": 255}


@dataclass(frozen=True)
class AuditContext:
    ip_address: str | None = None


_NO_CONTEXT = AuditContext()
_context: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "audit_context", default=_NO_CONTEXT
)


@contextmanager
def audit_context(*, ip_address: str | None) -> Iterator[None]:
    token = _context.set(AuditContext(ip_address=ip_address))
    try:
        yield
    finally:
        _context.reset(token)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, as the audit trail and the login lockout both see it.

    With `TRUSTED_PROXY_COUNT` = 0 (no proxy) it is the connection's own address and any
    X-Forwarded-For is ignored: a client cannot choose the address it is logged under. With N
    trusted proxies in front, each appending the address it received the request from, the
    client is the Nth address from the right of X-Forwarded-For + REMOTE_ADDR; whatever a
    client wrote further left is not believed. `AXES_CLIENT_IP_CALLABLE` names this function,
    so the lockout counts failures per real client too.
    """
    remote = _canonical_ip(request.META.get("REMOTE_ADDR"))
    proxies = max(0, int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0))
    if proxies == 0:
        return remote
    forwarded = [item.strip() for item in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    chain = [item for item in forwarded if item]
    chain.append(request.META.get("REMOTE_ADDR", ""))
    # Fewer hops than trusted proxies: the request did not come through all of them, and the
    # leftmost address is the furthest we can see.
    candidate = chain[-(proxies + 1)] if len(chain) > proxies else chain[0]
    return _canonical_ip(_strip_port(candidate)) or remote


def _strip_port(value: str) -> str:
    """'[2001:db8::1]:443' -> '2001:db8::1', '192.0.2.1:8080' -> '192.0.2.1'."""
    value = value.strip()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class AuditContextMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        with audit_context(ip_address=client_ip(request)):
            return self.get_response(request)


def _clean_text(value: Any, limit: int | None = None) -> str:
    """Text as Postgres will store it: no NUL characters, no lone surrogates, cut to fit."""
    text = str(value).replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text[:limit] if limit else text


def _jsonable(value: Any) -> Any:
    """`value` as JSON that survives a round trip through jsonb unchanged.

    The hash is computed before the insert and checked against what is read back, so the two
    must be identical: jsonb rewrites floats (1e20 comes back as an integer) and refuses NUL
    characters, hence floats become strings and text is cleaned.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float | Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Mapping):
        return {_clean_text(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return _clean_text(value)


def _canonical_ip(value: str | None) -> str | None:
    """One spelling per address: the one Postgres's inet prints (::ffff:1.2.3.4, lower case)."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(str(value).split("%", 1)[0].strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return address.compressed


def _id(value: Any) -> int | None:
    value = getattr(value, "pk", value)
    return None if value is None or value == "" else int(value)


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The audited fields of a row, as JSON-able values, for `diff`."""
    return {name: _jsonable(getattr(instance, name)) for name in fields}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields that changed."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def _canonical(values: Mapping[str, Any]) -> bytes:
    ip = values["ip_address"]
    content = {
        **values,
        "occurred_at": values["occurred_at"].astimezone(UTC).isoformat(),
        # IPv4 comes back from inet in its one spelling already; parsing it is the slow part.
        "ip_address": _canonical_ip(ip) if ip and ":" in ip else ip,
    }
    return _CANONICAL_JSON.encode(content).encode()


def canonical_content(event: AuditEvent) -> bytes:
    """The bytes the chain hash covers: every field but the id and the hashes themselves."""
    return _canonical({name: getattr(event, name) for name in CONTENT_FIELDS})


def _hmac(prev_hash: str, content: bytes) -> str:
    key = settings.AUDIT_HMAC_KEY.encode()
    return hmac.new(key, prev_hash.encode() + content, hashlib.sha256).hexdigest()


def compute_hash(event: AuditEvent, prev_hash: str) -> str:
    return _hmac(prev_hash, canonical_content(event))


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
    action = AuditEvent.Action(action).value  # an unknown action is a programming error
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        if patient is None and obj._meta.label_lower == settings.AUDIT_PATIENT_MODEL.lower():
            patient = obj
        if clinic is None:
            clinic = getattr(obj, "clinic_id", None)
    patient_id, clinic_id = _id(patient), _id(clinic)
    if patient_id is not None and clinic_id is None:
        clinic_id = _patient_clinic_id(patient, patient_id)
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    label = actor.get_username() if is_user else (str(actor) if actor else "system")

    # No savepoint inside the caller's transaction (two round trips on every audited page):
    # a failed audit write fails the caller's whole transaction, as it should.
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        head = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        event = AuditEvent(
            seq=(head["seq"] + 1) if head else 1,
            occurred_at=timezone.now(),
            actor=actor if is_user else None,
            actor_label=_clean_text(label, _TEXT_LIMITS["actor_label"]),
            action=action,
            object_type=_clean_text(object_type, _TEXT_LIMITS["object_type"]),
            object_id=_clean_text(object_id, _TEXT_LIMITS["object_id"]),
            patient_id=patient_id,
            clinic_id=clinic_id,
            ip_address=_canonical_ip(_context.get().ip_address),
            summary=_clean_text(summary, _TEXT_LIMITS["summary"]),
            changes=_jsonable(dict(changes or {})),
            prev_hash=head["hash"] if head else GENESIS_HASH,
        )
        event.hash = compute_hash(event, event.prev_hash)
        event.save(force_insert=True)
    return event


def _patient_clinic_id(patient: Any, patient_id: int) -> int | None:
    """The clinic of a patient given as a row or as a bare id (scoping needs one)."""
    clinic_id: int | None = getattr(patient, "clinic_id", None)
    if clinic_id is None:
        # Named by a setting (like AUTH_USER_MODEL), so the trail imports no app of ours.
        Patient = django_apps.get_model(settings.AUDIT_PATIENT_MODEL)
        clinic_id = (
            Patient.objects.filter(pk=patient_id).values_list("clinic_id", flat=True).first()
        )
    return clinic_id


def record_view(request: HttpRequest, obj: models.Model, *, summary: str = "") -> AuditEvent:
    """Record that the request's user read `obj` (a patient, or a record about one)."""
    return record(actor=request.user, action=AuditEvent.Action.VIEW, obj=obj, summary=summary)


@dataclass(frozen=True)
class ChainAnchor:
    """A (seq, hash) seen intact earlier, kept outside the database to catch a cut-off tail."""

    seq: int
    hash: str


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain does not hold, and the event found there (if any)."""

    seq: int
    reason: str
    occurred_at: datetime | None = None
    actor_label: str = ""

    def describe(self) -> str:
        when = f" recorded {self.occurred_at.isoformat()}" if self.occurred_at else ""
        who = f" by {self.actor_label}" if self.actor_label else ""
        return f"event #{self.seq}{when}{who}: {self.reason}"


@dataclass(frozen=True)
class ChainVerification:
    checked: int
    head: ChainAnchor | None
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def _events_in_seq_order(batch_size: int) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(content, prev_hash, hash) of every event, oldest first, in keyset batches."""
    columns = (*CONTENT_FIELDS, "prev_hash", "hash")
    last_seq = 0
    while True:
        rows = list(
            AuditEvent.objects.filter(seq__gt=last_seq)
            .order_by("seq")
            .values_list(*columns)[:batch_size]
        )
        for *content, prev_hash, hash_ in rows:
            yield dict(zip(CONTENT_FIELDS, content, strict=True)), prev_hash, hash_
        if len(rows) < batch_size:
            return
        last_seq = rows[-1][0]


def _break_reason(
    content: dict[str, Any],
    *,
    stored_prev_hash: str,
    stored_hash: str,
    expected_seq: int,
    prev_hash: str,
    anchor: ChainAnchor | None,
) -> str | None:
    seq = content["seq"]
    if seq != expected_seq:
        missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}-#{seq - 1}"
        return f"the event(s) before it ({missing}) are missing: deleted"
    if stored_prev_hash != prev_hash:
        return "its previous-hash does not match the event before it"
    if not hmac.compare_digest(stored_hash, _hmac(prev_hash, _canonical(content))):
        return "its content does not match its hash: it was altered"
    if anchor is not None and seq == anchor.seq and stored_hash != anchor.hash:
        return "its hash differs from the one verified earlier: the chain was rebuilt"
    return None


def verify_chain(
    *, batch_size: int = 10_000, anchor: ChainAnchor | None = None
) -> ChainVerification:
    """Walk the chain from the start; return how many events held and the first break.

    Memory stays flat and no long-lived cursor or transaction is held, however long the table
    grows. With `anchor`, the chain must still hold that event with that hash: deleting the
    newest events leaves no gap, and only this catches it.
    """
    prev_hash, checked = GENESIS_HASH, 0
    for content, stored_prev_hash, stored_hash in _events_in_seq_order(batch_size):
        reason = _break_reason(
            content,
            stored_prev_hash=stored_prev_hash,
            stored_hash=stored_hash,
            expected_seq=checked + 1,
            prev_hash=prev_hash,
            anchor=anchor,
        )
        if reason is not None:
            found = ChainBreak(
                content["seq"], reason, content["occurred_at"], content["actor_label"]
            )
            return ChainVerification(checked, None, found)
        prev_hash, checked = stored_hash, checked + 1
    head = ChainAnchor(checked, prev_hash) if checked else None
    if anchor is not None and checked < anchor.seq:
        reason = (
            f"the chain now ends at #{checked}, but #{anchor.seq} was verified earlier: "
            "the newest events were removed"
        )
        return ChainVerification(checked, head, ChainBreak(anchor.seq, reason))
    return ChainVerification(checked, head, None)
