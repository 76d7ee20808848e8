"""The one way to write the audit trail.

Services call `record(...)` inside their own transaction, so the audit row commits or rolls
back with the change it describes. Views that only read PHI call `record_view(request, obj)`.
The request's user and IP reach `record` through a context variable set by
`AuditContextMiddleware`, so services need no request argument.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import hmac
import ipaddress
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
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
# The key id of events sealed before key ids existed (their key_id column is ""), unless the
# setting AUDIT_HMAC_LEGACY_KEY_ID names another.
LEGACY_KEY_ID = "k0"

# The fields the chain hash covers, in the order of `canonical_content`. Every column but the
# surrogate `id`, the two hashes and `key_id` (which is covered too, but only when it is set: the
# events sealed before key ids existed keep the hash they were given). Changing this list changes
# every event's hash: it needs a hash version and a re-anchoring
# (docs/decisions/0002-audit-chain.md), never a silent edit.
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
    values = {name: getattr(event, name) for name in CONTENT_FIELDS}
    if event.key_id:
        values["key_id"] = event.key_id
    return _canonical(values)


def keyring() -> dict[str, str]:
    """{key id: key}: every key the chain was ever signed with (settings.AUDIT_HMAC_KEYRING).

    Unset, it is the one key of AUDIT_HMAC_KEY under the legacy id, so a deployment that never
    rotated needs no new setting.
    """
    ring = dict(getattr(settings, "AUDIT_HMAC_KEYRING", None) or {})
    return ring or {legacy_key_id(): settings.AUDIT_HMAC_KEY}


def legacy_key_id() -> str:
    return str(getattr(settings, "AUDIT_HMAC_LEGACY_KEY_ID", "") or LEGACY_KEY_ID)


def active_key_id() -> str:
    """The key id new events are sealed with (settings.AUDIT_HMAC_KEY_ID)."""
    return str(getattr(settings, "AUDIT_HMAC_KEY_ID", "") or legacy_key_id())


def _key(key_id: str) -> bytes | None:
    key = keyring().get(key_id or legacy_key_id())
    return key.encode() if key else None


def _hmac(prev_hash: str, content: bytes, key_id: str = "") -> str:
    key = _key(key_id)
    if key is None:
        raise KeyError(f"audit key {key_id or legacy_key_id()!r} is not in AUDIT_HMAC_KEYRING")
    return hmac.new(key, prev_hash.encode() + content, hashlib.sha256).hexdigest()


# Functions that add to an event's `changes` what the trail must say about the access itself,
# given (actor, patient id, clinic id): compliance registers break-glass, so every read of a
# record opened by breaking the glass carries {"break_glass": <access id>}. In `changes`, the
# flag is covered by the chain hash like the rest of the row. The trail imports no app of ours.
EventAnnotator = Callable[[Any, int, int | None], Mapping[str, Any] | None]
EVENT_ANNOTATORS: list[EventAnnotator] = []


def compute_hash(event: AuditEvent, prev_hash: str) -> str:
    return _hmac(prev_hash, canonical_content(event), event.key_id)


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
    """Append one event to the audit trail, inside the caller's transaction.

    The row is inserted unsealed (no `seq`, no hashes) and takes no lock, so concurrent requests
    never wait on each other here. The sealer (`clinicops.audit.sealer.seal_pending`, every few
    seconds) chains it once it has committed; a rolled-back row is never seen by it.
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
    if is_user and patient_id is not None:
        for annotate in EVENT_ANNOTATORS:
            extra = annotate(actor, patient_id, clinic_id)
            if extra:
                changes = {**extra, **(changes or {})}

    event = AuditEvent(
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
    )
    _insert(event)
    return event


@functools.cache
def _insert_sql() -> tuple[str, tuple[models.Field[Any, Any], ...]]:
    """The INSERT `record` sends, and the fields whose values it takes, in order: what
    `save(force_insert=True)` sends (every column but the id; the id returned), built once."""
    meta = AuditEvent._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608 - names from the model's metadata, the values parameters
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(str(meta.pk.column))}"
    )
    return sql, fields


def _insert(event: AuditEvent) -> None:
    """`event.save(force_insert=True)` as one constant statement: the same row (each value
    prepared by its field, as the ORM's INSERT does), without the ORM compiling the statement
    on every page that audits a read. Like save(), it marks the caller's atomic block for
    rollback if it fails; the model has no save() or signal receivers of its own."""
    sql, fields = _insert_sql()
    params = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in fields]
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        (event.pk,) = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias


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
class Checkpoint:
    """A (seq, hash) kept outside the database, and where it came from, for a break report."""

    seq: int
    hash: str
    source: str  # "the anchor verified 2026-…" / "the witness published 2026-…"


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain does not hold.

    `reason` quotes the values stored in the chain and outside it (hashes, anchor, witness).
    The time and user are the row's as found now: if the row was altered they may be the
    altered values, and the report says so.
    """

    seq: int
    reason: str
    occurred_at: datetime | None = None
    actor_label: str = ""

    def describe(self) -> str:
        found = ""
        if self.occurred_at or self.actor_label:
            when = f" {self.occurred_at.isoformat()}" if self.occurred_at else ""
            who = f" by {self.actor_label}" if self.actor_label else ""
            found = f" (the row now reads:{when}{who})"
        return f"event #{self.seq}{found}: {self.reason}"


@dataclass(frozen=True)
class ChainVerification:
    checked: int
    head: ChainAnchor | None
    broken: ChainBreak | None
    # The window the sealer has not chained yet: rows committed but not sealed.
    unsealed: int = 0
    oldest_unsealed_at: datetime | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None

    def unsealed_lag_seconds(self, now: datetime | None = None) -> float:
        if self.oldest_unsealed_at is None:
            return 0.0
        return max(0.0, ((now or timezone.now()) - self.oldest_unsealed_at).total_seconds())


VERIFY_COLUMNS = (*CONTENT_FIELDS, "key_id", "prev_hash", "hash")


def _events_in_seq_order(batch_size: int) -> Iterator[tuple[dict[str, Any], str, str, str]]:
    """(content, key_id, prev_hash, hash) of every sealed event, oldest first, in batches."""
    last_seq = 0
    while True:
        rows = list(
            AuditEvent.objects.filter(seq__gt=last_seq)
            .order_by("seq")
            .values_list(*VERIFY_COLUMNS)[:batch_size]
        )
        for *content, key_id, prev_hash, hash_ in rows:
            yield dict(zip(CONTENT_FIELDS, content, strict=True)), key_id, prev_hash, hash_
        if len(rows) < batch_size:
            return
        last_seq = rows[-1][0]


def content_hash(content: Mapping[str, Any], key_id: str, prev_hash: str) -> str:
    """The hash of one row's content (as read back from the database) chained to `prev_hash`."""
    values = dict(content)
    if key_id:
        values["key_id"] = key_id
    return _hmac(prev_hash, _canonical(values), key_id)


def _short(value: str | None) -> str:
    return f"{value[:16]}…" if value else "(none)"


def _break_reason(
    content: dict[str, Any],
    *,
    key_id: str,
    chain_key_id: str | None,
    stored_prev_hash: str,
    stored_hash: str,
    expected_seq: int,
    prev_hash: str,
    checkpoints: Mapping[int, Checkpoint],
) -> str | None:
    seq = content["seq"]
    if seq != expected_seq:
        missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}-#{seq - 1}"
        return f"the event(s) before it ({missing}) are missing: deleted"
    if stored_prev_hash != prev_hash:
        return (
            f"its stored previous-hash {_short(stored_prev_hash)} does not match the stored hash "
            f"{_short(prev_hash)} of the event before it"
        )
    if chain_key_id is not None and (key_id or legacy_key_id()) != chain_key_id:
        return (
            f"it is signed with key {key_id or legacy_key_id()!r}, but the chain's key is "
            f"{chain_key_id!r} and no rotation event before it names a new key"
        )
    if _key(key_id) is None:
        return f"its key {key_id or legacy_key_id()!r} is not in AUDIT_HMAC_KEYRING"
    expected = content_hash(content, key_id, prev_hash)
    if not hmac.compare_digest(stored_hash, expected):
        return (
            f"its content does not match its stored hash {_short(stored_hash)} (the content "
            f"now hashes to {_short(expected)}): it was altered"
        )
    checkpoint = checkpoints.get(seq)
    if checkpoint is not None and stored_hash != checkpoint.hash:
        return (
            f"its stored hash {_short(stored_hash)} differs from {_short(checkpoint.hash)} in "
            f"{checkpoint.source}: the chain was rebuilt"
        )
    return None


def _next_key_id(content: Mapping[str, Any], current: str) -> str:
    """After a rotation event, the chain continues under the key it names."""
    if content["action"] == AuditEvent.Action.KEY_ROTATION:
        changes = content.get("changes") or {}
        new = changes.get("to_key_id") if isinstance(changes, Mapping) else None
        if isinstance(new, str) and new:
            return new
    return current


def unsealed_window() -> tuple[int, datetime | None]:
    """How many committed rows the sealer has not chained yet, and the oldest one's time."""
    pending = AuditEvent.objects.filter(seq__isnull=True)
    oldest = pending.order_by("id").values_list("occurred_at", flat=True).first()
    return pending.count(), oldest


def verify_chain(
    *,
    batch_size: int = 10_000,
    anchor: ChainAnchor | None = None,
    anchor_source: str = "the anchor verified earlier",
    checkpoints: Iterable[Checkpoint] = (),
) -> ChainVerification:
    """Walk the sealed chain from the start; return how many events held and the first break.

    Memory stays flat and no long-lived cursor or transaction is held, however long the table
    grows. With `anchor` (and any `checkpoints`: the witness's published heads), the chain must
    still hold each of those events with that hash: deleting the newest events leaves no gap,
    and rebuilding the chain with the key changes every hash after the edit; only these catch it.
    """
    points: dict[int, Checkpoint] = {}
    for point in checkpoints:
        points.setdefault(point.seq, point)
    if anchor is not None:
        points[anchor.seq] = Checkpoint(anchor.seq, anchor.hash, anchor_source)
    unsealed, oldest = unsealed_window()
    # The first event may be signed with any key of the ring; from then on, only a rotation
    # event changes the key.
    prev_hash, checked = GENESIS_HASH, 0
    chain_key_id: str | None = None
    for content, key_id, stored_prev_hash, stored_hash in _events_in_seq_order(batch_size):
        reason = _break_reason(
            content,
            key_id=key_id,
            chain_key_id=chain_key_id,
            stored_prev_hash=stored_prev_hash,
            stored_hash=stored_hash,
            expected_seq=checked + 1,
            prev_hash=prev_hash,
            checkpoints=points,
        )
        if reason is not None:
            found = ChainBreak(
                content["seq"], reason, content["occurred_at"], content["actor_label"]
            )
            return ChainVerification(checked, None, found, unsealed, oldest)
        prev_hash, checked = stored_hash, checked + 1
        chain_key_id = _next_key_id(content, key_id or legacy_key_id())
    head = ChainAnchor(checked, prev_hash) if checked else None
    beyond = sorted(seq for seq in points if seq > checked)
    if beyond:
        point = points[beyond[-1]]
        reason = (
            f"the chain now ends at #{checked}, but #{point.seq} (hash {_short(point.hash)}) is "
            f"in {point.source}: the newest events were removed"
        )
        return ChainVerification(checked, head, ChainBreak(point.seq, reason), unsealed, oldest)
    return ChainVerification(checked, head, None, unsealed, oldest)
