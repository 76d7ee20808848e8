"""The verbs of the supply room: log use, undo, transfer, receive, count, waste, order.

Each public function is one transaction and writes the stock ledger (`StockMovement`) in the same
transaction as the on-hand change it explains, so the two cannot disagree.

Locking, the same everywhere so two services can never deadlock each other:
1. a document row first, when there is one (purchase order, count session, submission);
2. then `LocationItem` rows in ascending id order;
3. `LotStock` rows only while holding their location-item's lock, so every lot change of a
   location-item is serialised by that one row.
The nurse's hot path (`log_usage`) takes step 2 as a conditional UPDATE
(`on_hand = on_hand - q WHERE on_hand >= q`) that locks, checks, decrements and, in the same
statement, writes the ledger line, so the contended row is held only from that statement to
COMMIT; the CHECK constraint `on_hand >= 0` is the backstop.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, Patient

from . import selectors
from .models import (
    CountLine,
    CountSession,
    ExpiryAlert,
    FoundStockReview,
    LocationItem,
    Lot,
    LotStock,
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderSuggestion,
    StockLocation,
    StockMovement,
    StockoutSnapshot,
    Supplier,
    SupplyItem,
    UsageSubmission,
)

Kind = StockMovement.Kind
Reason = StockMovement.Reason

# Reasons a person may give for a count adjustment.
COUNT_REASONS = (Reason.MISCOUNTED, Reason.FOUND, Reason.EXPIRED, Reason.LOST, Reason.DAMAGED)
WASTE_REASONS = (Reason.EXPIRED, Reason.DAMAGED)
# Far above any real transfer, receipt or count; below the 32-bit column limit.
MAX_BULK_QUANTITY = 1_000_000
MAX_KEY_LENGTH = 64


class SupplyError(Exception):
    """A refusal a person can act on. `field` names the input it is about, when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InsufficientStock(SupplyError):
    """Fewer units (in date) than asked for; the message tells the nurse what to do."""

    def __init__(
        self,
        *,
        location_item: LocationItem,
        available: int,
        requested: int,
        expired: int = 0,
        lot: Lot | None = None,
        verb: str = "log",
    ) -> None:
        self.location_item = location_item
        self.available = available
        self.requested = requested
        self.expired = expired
        where = location_item.location.name
        of_lot = f" of lot {lot.lot_number}" if lot is not None else ""
        if available > 0 and expired:
            message = (
                f"only {available}{of_lot} in date at {where} ({expired} expired) — "
                f"{verb} {available}, or record a count"
            )
        elif available > 0:
            message = (
                f"only {available}{of_lot} left at {where} — {verb} {available}, or record a count"
            )
        elif expired:
            message = (
                f"none{of_lot} in date at {where} ({expired} expired) — "
                "waste them, or record a count"
            )
        else:
            message = f"none{of_lot} left at {where} — record a count"
        super().__init__(message, field="lot" if lot is not None else "quantity")


class UndoRefused(SupplyError):
    """An undo that is too late, not the undoer's own, or already done."""


# ---------------------------------------------------------------------------------------------
# Input checks shared by the services


def _check_quantity(
    value: object,
    *,
    label: str = "quantity",
    field: str = "quantity",
    cap: int = MAX_BULK_QUANTITY,
    minimum: int = 1,
) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SupplyError(f"The {label} must be a whole number.", field=field)
    if value < minimum:
        message = (
            f"The {label} must be at least {minimum}."
            if minimum
            else f"The {label} cannot be negative."
        )
        raise SupplyError(message, field=field)
    if value > cap:
        raise SupplyError(f"The {label} {value} is over the limit of {cap}.", field=field)
    return value


def _check_id(value: object, *, field: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SupplyError(f"That {what} was not found.", field=field)
    return value


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise SupplyError(
            "The submission has no idempotency key; reload the screen.", field="idempotency_key"
        )
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise SupplyError(
            "The submission's idempotency key is malformed; reload the screen.",
            field="idempotency_key",
        )
    return key


def _visit_ref(visit: Any) -> tuple[int | None, Patient | None]:
    """(visit id, the visit's patient) for a visit given as an id or (later) a Visit object."""
    if visit is None:
        return None, None
    if isinstance(visit, bool):
        raise SupplyError("That visit was not found.", field="visit")
    if isinstance(visit, int):
        return visit, None
    return visit.pk, getattr(visit, "patient", None)


def _lock_location_items(ids: Iterable[int]) -> dict[int, LocationItem]:
    """Lock location-item rows in ascending id order (the one order every service uses)."""
    rows = (
        LocationItem.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=sorted(set(ids)))
        .select_related("item", "location")
        .order_by("pk")
    )
    return {li.pk: li for li in rows}


def _lot_stocks(location_item_id: int) -> list[LotStock]:
    """The lots on hand at a location-item, first-expiring first (call under its lock)."""
    return list(
        LotStock.objects.filter(location_item_id=location_item_id, on_hand__gt=0)
        .select_related("lot")
        .order_by(F("lot__expiry").asc(nulls_last=True), "lot_id")
    )


@dataclass
class _Take:
    lot: Lot | None
    quantity: int
    lot_stock_id: int | None = None


def _allocate(
    *,
    location_item: LocationItem,
    quantity: int,
    picked_lot_id: int | None,
    on_hand_before: int,
    today: date,
    verb: str,
) -> list[_Take]:
    """Which lots a removal of `quantity` takes, first-expiring first (FEFO), skipping expired
    lots; a picked lot is taken alone. Stock without a lot (received before the item was
    lot-tracked) is taken after every dated lot. Call under the location-item's lock."""
    stocks = _lot_stocks(location_item.pk)
    if picked_lot_id is not None:
        for stock in stocks:
            if stock.lot_id == picked_lot_id:
                break
        else:
            lot = Lot.objects.filter(pk=picked_lot_id, item_id=location_item.item_id).first()
            if lot is None:
                raise SupplyError("That lot is not one of this item's lots.", field="lot")
            raise InsufficientStock(
                location_item=location_item, available=0, requested=quantity, lot=lot, verb=verb
            )
        if stock.lot.is_expired_on(today):
            raise SupplyError(
                f"Lot {stock.lot.lot_number} expired on {stock.lot.expiry:%Y-%m-%d}; "
                "waste it instead.",
                field="lot",
            )
        if stock.on_hand < quantity:
            raise InsufficientStock(
                location_item=location_item,
                available=stock.on_hand,
                requested=quantity,
                lot=stock.lot,
                verb=verb,
            )
        return [_Take(lot=stock.lot, quantity=quantity, lot_stock_id=stock.pk)]

    takes: list[_Take] = []
    remaining = quantity
    expired = 0
    for stock in stocks:
        if stock.lot.is_expired_on(today):
            expired += stock.on_hand
            continue
        if remaining == 0:
            break
        take = min(stock.on_hand, remaining)
        takes.append(_Take(lot=stock.lot, quantity=take, lot_stock_id=stock.pk))
        remaining -= take
    unlotted = on_hand_before - sum(s.on_hand for s in stocks)
    if remaining and unlotted > 0:
        take = min(unlotted, remaining)
        takes.append(_Take(lot=None, quantity=take))
        remaining -= take
    if remaining:
        usable = quantity - remaining
        raise InsufficientStock(
            location_item=location_item,
            available=usable,
            requested=quantity,
            expired=expired,
            verb=verb,
        )
    return takes


def _apply_lot_takes(takes: Sequence[_Take], *, sign: int) -> None:
    for take in takes:
        if take.lot_stock_id is not None:
            LotStock.objects.filter(pk=take.lot_stock_id).update(
                on_hand=F("on_hand") + sign * take.quantity
            )


def _add_to_lot(location_item_id: int, lot_id: int, quantity: int) -> None:
    """Add (or, negative, remove) units of a lot at a location-item, creating its LotStock row
    when adding (call under the location-item's lock)."""
    if quantity < 0:
        # An INSERT of a negative row would trip the CHECK before ON CONFLICT is considered.
        LotStock.objects.filter(location_item_id=location_item_id, lot_id=lot_id).update(
            on_hand=F("on_hand") + quantity
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO supplies_lotstock (location_item_id, lot_id, on_hand) VALUES (%s, %s, %s) "
            "ON CONFLICT (location_item_id, lot_id) "
            "DO UPDATE SET on_hand = supplies_lotstock.on_hand + EXCLUDED.on_hand",
            [location_item_id, lot_id, quantity],
        )


def _fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _claim_submission(
    *,
    actor: Any,
    key: str,
    kind: str,
    location: StockLocation,
    patient: Patient | None,
    visit_id: int | None,
    fingerprint: str,
    now: datetime,
) -> int | None:
    """Insert the submission row; None if this user already used this key.

    ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit or roll
    back, so of two simultaneous identical requests exactly one gets an id.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO supplies_usagesubmission (user_id, idempotency_key, kind, location_id, "
            "patient_id, visit_id, "
            "fingerprint, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING id",
            [
                actor.pk,
                key,
                kind,
                location.pk,
                getattr(patient, "pk", None),
                visit_id,
                fingerprint,
                now,
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------------------------------------
# Logging use


@dataclass(frozen=True)
class UsageLine:
    """One tile or scan: an item, how many, and optionally the lot the nurse picked."""

    item_id: int
    quantity: int
    lot_id: int | None = None


@dataclass(frozen=True)
class LoggedLine:
    location_item_id: int
    item_name: str
    unit_of_use: str
    quantity: int
    on_hand: int
    reorder_point: int
    par: int
    lots: tuple[str, ...] = ()
    # Units used beyond what the books held, posted as found and flagged for review.
    found: int = 0
    # Expired units still on the books here (reported when some use had to be found).
    expired: int = 0

    @property
    def at_or_below_reorder_point(self) -> bool:
        return self.par > 0 and self.on_hand <= self.reorder_point


@dataclass(frozen=True)
class UsageResult:
    submission: UsageSubmission
    lines: tuple[LoggedLine, ...]
    replayed: bool = False

    @property
    def low_lines(self) -> tuple[LoggedLine, ...]:
        return tuple(line for line in self.lines if line.at_or_below_reorder_point)

    @property
    def found_lines(self) -> tuple[LoggedLine, ...]:
        return tuple(line for line in self.lines if line.found)


def _merge_lines(lines: Iterable[UsageLine]) -> dict[tuple[int, int | None], int]:
    merged: dict[tuple[int, int | None], int] = defaultdict(int)
    for line in lines:
        _check_id(line.item_id, field="item", what="item")
        if line.lot_id is not None:
            _check_id(line.lot_id, field="lot", what="lot")
        # The per-item cap is checked once the items are loaded; this only keeps sums sane.
        _check_quantity(line.quantity, cap=MAX_BULK_QUANTITY)
        merged[(line.item_id, line.lot_id)] += line.quantity
    if not merged:
        raise SupplyError("Add at least one item to log.", field="lines")
    return dict(merged)


def _stocked_items(location: StockLocation, item_ids: set[int]) -> dict[int, LocationItem]:
    """{item id: location-item (with its item)} at a location, in one plain query: this is
    the nurse's hot path, so it skips the ORM's query building."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT li.id, li.item_id, li.par, li.reorder_point, li.max_quantity, li.on_hand, "
            "li.is_active, i.sku, i.name, i.unit_of_use, i.pack_size, i.unit_cost, i.is_active, "
            "i.is_lot_tracked, i.max_use_quantity, i.is_critical, i.supplier_id "
            "FROM supplies_locationitem li JOIN supplies_supplyitem i ON i.id = li.item_id "
            "WHERE li.location_id = %s AND li.item_id = ANY(%s)",
            [location.pk, sorted(item_ids)],
        )
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        item = SupplyItem(
            id=row[1],
            sku=row[7],
            name=row[8],
            unit_of_use=row[9],
            pack_size=row[10],
            unit_cost=row[11],
            is_active=row[12],
            is_lot_tracked=row[13],
            max_use_quantity=row[14],
            is_critical=row[15],
            supplier_id=row[16],
        )
        li = LocationItem(
            id=row[0],
            location_id=location.pk,
            item_id=row[1],
            par=row[2],
            reorder_point=row[3],
            max_quantity=row[4],
            on_hand=row[5],
            is_active=row[6],
        )
        li.item = item
        li.location = location
        found[item.pk] = li
    return found


def _lock_on_hand(li: LocationItem) -> int:
    """Lock the location-item row (the lock order's step 2) and read its on hand."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT on_hand FROM supplies_locationitem WHERE id = %s FOR NO KEY UPDATE", [li.pk]
        )
        row = cursor.fetchone()
    return row[0]


def _take_and_record(
    *,
    li: LocationItem,
    quantity: int,
    actor: Any,
    now: datetime,
    operation: uuid.UUID,
    submission_id: int,
    patient_id: int | None,
    visit_id: int | None,
) -> int | None:
    """Take `quantity` if the location-item has them, and write the ledger line of the use, in
    one statement, so the row lock is held for as short a time as possible (it is released at
    commit); the new on hand, or None (nothing taken, no lock kept) if it has fewer."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH taken AS (UPDATE supplies_locationitem SET on_hand = on_hand - %(q)s "
            "WHERE id = %(li)s AND on_hand >= %(q)s RETURNING on_hand), "
            "logged AS (INSERT INTO supplies_stockmovement (location_item_id, kind, quantity, "
            "unit_cost, user_id, occurred_at, reason, note, operation_id, submission_id, "
            "patient_id, visit_id) "
            "SELECT %(li)s, 'use', -%(q)s, %(cost)s, %(user)s, %(now)s, '', '', %(op)s, %(sub)s, "
            "%(patient)s, %(visit)s FROM taken) "
            "SELECT on_hand FROM taken",
            {
                "q": quantity,
                "li": li.pk,
                "cost": li.item.unit_cost,
                "user": actor.pk,
                "now": now,
                "op": operation,
                "sub": submission_id,
                "patient": patient_id,
                "visit": visit_id,
            },
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _logged_line(
    li: LocationItem,
    quantity: int,
    on_hand: int,
    lots: tuple[str, ...] = (),
    *,
    found: int = 0,
    expired: int = 0,
) -> LoggedLine:
    return LoggedLine(
        location_item_id=li.pk,
        item_name=li.item.name,
        unit_of_use=li.item.unit_of_use,
        quantity=quantity,
        on_hand=on_hand,
        reorder_point=li.reorder_point,
        par=li.par,
        lots=lots,
        found=found,
        expired=expired,
    )


def _found_movement(
    *,
    li: LocationItem,
    quantity: int,
    actor: Any,
    now: datetime,
    operation: uuid.UUID,
    submission_id: int,
) -> StockMovement:
    """The automatic "found" line for use beyond the books: stock without a lot (nobody said
    which lot), tied to the log that needed it."""
    return StockMovement(
        location_item_id=li.pk,
        kind=Kind.FOUND,
        quantity=quantity,
        unit_cost=li.item.unit_cost,
        user=actor,
        occurred_at=now,
        reason=Reason.FOUND,
        note="Used beyond the books at logging; for review",
        operation_id=operation,
        submission_id=submission_id,
    )


def log_usage(
    *,
    actor: Any,
    location: StockLocation,
    lines: Sequence[UsageLine],
    visit: Any = None,
    patient: Patient | None = None,
    idempotency_key: str,
    now: datetime | None = None,
) -> UsageResult:
    """Log supplies used at a location, once per idempotency key, never below zero."""
    key = _check_key(idempotency_key)
    wanted = _merge_lines(lines)
    visit_id, visit_patient = _visit_ref(visit)
    patient = patient or visit_patient
    if patient is not None and patient.clinic_id != location.clinic_id:
        raise SupplyError("That patient is not registered at this clinic.", field="patient")
    now = now or timezone.now()
    fingerprint = _fingerprint(
        [location.pk, getattr(patient, "pk", None), visit_id, sorted(wanted.items(), key=str)]
    )

    with transaction.atomic():
        submission_id = _claim_submission(
            actor=actor,
            key=key,
            kind=UsageSubmission.Kind.USE,
            location=location,
            patient=patient,
            visit_id=visit_id,
            fingerprint=fingerprint,
            now=now,
        )
        if submission_id is None:
            return _replay(actor=actor, key=key, fingerprint=fingerprint)

        by_item = _stocked_items(location, {item_id for item_id, _ in wanted})
        per_li: dict[int, list[tuple[int | None, int]]] = defaultdict(list)
        for (item_id, lot_id), quantity in wanted.items():
            li = by_item.get(item_id)
            if li is None or not li.is_active or not li.item.is_active:
                raise SupplyError(f"That item is not stocked at {location.name}.", field="item")
            li.location = location
            cap = min(li.item.use_cap, MAX_BULK_QUANTITY)
            total = sum(q for (i, _), q in wanted.items() if i == item_id)
            if total > cap:
                raise SupplyError(
                    f"{total} {li.item.unit_of_use} of {li.item.name} is over the limit of {cap} "
                    "for one log; check the quantity.",
                    field="quantity",
                )
            if lot_id is not None and not li.item.is_lot_tracked:
                raise SupplyError(
                    f"{li.item.name} is not lot-tracked; do not pick a lot.", field="lot"
                )
            per_li[li.pk].append((lot_id, quantity))

        lis = {li.pk: li for li in by_item.values()}
        today = (
            timezone.localdate(now, timezone=location.clinic.tz)
            if any(lis[i].item.is_lot_tracked for i in per_li)
            else None
        )
        operation = uuid.uuid4()
        movements: list[StockMovement] = []
        logged: list[LoggedLine] = []
        for li_id in sorted(per_li):
            li = lis[li_id]
            requests = sorted(per_li[li_id], key=lambda r: (r[0] is None, r[0] or 0))
            total = sum(q for _, q in requests)
            if not li.item.is_lot_tracked:
                # The common case in one round trip: take the units and write the ledger line.
                on_hand = _take_and_record(
                    li=li,
                    quantity=total,
                    actor=actor,
                    now=now,
                    operation=operation,
                    submission_id=submission_id,
                    patient_id=getattr(patient, "pk", None),
                    visit_id=visit_id,
                )
                if on_hand is not None:
                    logged.append(_logged_line(li, total, on_hand))
                    continue
                # Fewer on the books than were used: under the row's lock, post the
                # shortfall as found, then the use, so on hand lands on zero, not below.
                before = _lock_on_hand(li)
                found = max(total - before, 0)
                on_hand = before + found - total
                LocationItem.objects.filter(pk=li_id).update(on_hand=on_hand)
                if found:
                    movements.append(
                        _found_movement(
                            li=li,
                            quantity=found,
                            actor=actor,
                            now=now,
                            operation=operation,
                            submission_id=submission_id,
                        )
                    )
                movements.append(
                    StockMovement(
                        location_item_id=li_id,
                        kind=Kind.USE,
                        quantity=-total,
                        unit_cost=li.item.unit_cost,
                        user=actor,
                        occurred_at=now,
                        operation_id=operation,
                        submission_id=submission_id,
                        patient=patient,
                        visit_id=visit_id,
                    )
                )
                logged.append(_logged_line(li, total, on_hand, found=found))
                continue
            if today is None:  # pragma: no cover - set above whenever a lot-tracked item is logged
                raise RuntimeError("today is needed for lot-tracked items")
            held = _lock_on_hand(li)
            expired = sum(s.on_hand for s in _lot_stocks(li_id) if s.lot.is_expired_on(today))
            # Expired lots are never used: what is short of the in-date stock was found.
            found = max(total - (held - expired), 0)
            if found:
                movements.append(
                    _found_movement(
                        li=li,
                        quantity=found,
                        actor=actor,
                        now=now,
                        operation=operation,
                        submission_id=submission_id,
                    )
                )
            on_hand = held + found - total
            LocationItem.objects.filter(pk=li_id).update(on_hand=on_hand)
            before = held + found
            takes: list[_Take] = []
            for lot_id, quantity in requests:
                part = _allocate(
                    location_item=li,
                    quantity=quantity,
                    picked_lot_id=lot_id,
                    on_hand_before=before,
                    today=today,
                    verb="log",
                )
                _apply_lot_takes(part, sign=-1)
                takes.extend(part)
                before -= quantity
            movements.extend(
                StockMovement(
                    location_item_id=li_id,
                    lot=take.lot,
                    kind=Kind.USE,
                    quantity=-take.quantity,
                    unit_cost=li.item.unit_cost,
                    user=actor,
                    occurred_at=now,
                    operation_id=operation,
                    submission_id=submission_id,
                    patient=patient,
                    visit_id=visit_id,
                )
                for take in takes
            )
            lots = tuple(t.lot.lot_number for t in takes if t.lot is not None)
            logged.append(
                _logged_line(li, total, on_hand, lots, found=found, expired=expired if found else 0)
            )
        if movements:
            StockMovement.objects.bulk_create(movements)
        found_lines = [line for line in logged if line.found]
        if found_lines:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.CREATE,
                object_type="supplies.stockmovement",
                object_id=str(operation),
                clinic=location.clinic_id,
                summary=(
                    f"Use beyond the books at {location.name}: "
                    + ", ".join(f"{line.found} {line.item_name}" for line in found_lines)
                    + " posted as found, for review"
                ),
                changes={
                    "found": [
                        {"item": line.item_name, "found": line.found, "used": line.quantity}
                        for line in found_lines
                    ]
                },
            )
        submission = UsageSubmission(
            pk=submission_id,
            user=actor,
            idempotency_key=key,
            kind=UsageSubmission.Kind.USE,
            location=location,
            patient=patient,
            visit_id=visit_id,
            fingerprint=fingerprint,
            created_at=now,
        )
        if patient is not None or visit_id is not None:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.CREATE,
                obj=submission,
                patient=patient,
                clinic=location.clinic_id,
                summary=f"Logged supply use at {location.name} for a patient visit",
                changes={
                    "visit_id": visit_id,
                    "lines": [
                        {"item": line.item_name, "quantity": line.quantity} for line in logged
                    ],
                },
            )
    return UsageResult(submission=submission, lines=tuple(logged))


def _replay(*, actor: Any, key: str, fingerprint: str) -> UsageResult:
    """The answer to a repeated submission: what the first one logged, logging nothing."""
    submission = UsageSubmission.objects.select_related("location").get(
        user=actor, idempotency_key=key
    )
    if submission.fingerprint != fingerprint:
        raise SupplyError(
            "This submission key was already used for a different log; reload the screen.",
            field="idempotency_key",
        )
    used: dict[int, int] = defaultdict(int)
    found: dict[int, int] = defaultdict(int)
    lots: dict[int, list[str]] = defaultdict(list)
    for movement in submission.movements.filter(
        kind__in=(Kind.USE, Kind.TRANSFER_IN, Kind.FOUND)
    ).select_related("lot"):
        if movement.kind == Kind.FOUND:
            found[movement.location_item_id] += movement.quantity
            continue
        used[movement.location_item_id] += abs(movement.quantity)
        if movement.lot is not None:
            lots[movement.location_item_id].append(movement.lot.lot_number)
    lis = LocationItem.objects.filter(pk__in=used).select_related("item").order_by("pk")
    lines = tuple(
        LoggedLine(
            location_item_id=li.pk,
            item_name=li.item.name,
            unit_of_use=li.item.unit_of_use,
            quantity=used[li.pk],
            on_hand=li.on_hand,
            reorder_point=li.reorder_point,
            par=li.par,
            lots=tuple(lots[li.pk]),
            found=found[li.pk],
        )
        for li in lis
    )
    return UsageResult(submission=submission, lines=lines, replayed=True)


def undo_usage(
    *, actor: Any, submission: UsageSubmission, now: datetime | None = None
) -> UsageResult:
    """Reverse a log within the undo window with compensating movements (nothing is deleted)."""
    now = now or timezone.now()
    window = timedelta(seconds=settings.SUPPLIES_UNDO_SECONDS)
    with transaction.atomic():
        locked = (
            UsageSubmission.objects.select_for_update(of=("self",))
            .select_related("location")
            .filter(pk=submission.pk)
            .first()
        )
        if locked is None:
            raise UndoRefused("That log was not found.", field="submission")
        if locked.user_id != actor.pk:
            raise UndoRefused("Only the person who logged it can undo it.", field="submission")
        if locked.kind != UsageSubmission.Kind.USE:
            raise UndoRefused("Only a log of use can be undone here.", field="submission")
        if locked.undone_at is not None:
            raise UndoRefused("That log was already undone.", field="submission")
        if now - locked.created_at > window:
            minutes = settings.SUPPLIES_UNDO_SECONDS // 60
            raise UndoRefused(
                f"Undo is possible for {minutes} minutes after logging; record a count instead.",
                field="submission",
            )
        originals = list(
            locked.movements.filter(kind=Kind.USE).select_related("lot").order_by("pk")
        )
        # Stock found only because this log needed it goes again with the log.
        found = list(locked.movements.filter(kind=Kind.FOUND).order_by("pk"))
        lis = _lock_location_items(m.location_item_id for m in originals)
        back: dict[int, int] = defaultdict(int)
        reversals = []
        operation = uuid.uuid4()
        for movement in originals:
            back[movement.location_item_id] += -movement.quantity
            if movement.lot_id is not None:
                _add_to_lot(movement.location_item_id, movement.lot_id, -movement.quantity)
            reversals.append(
                StockMovement(
                    location_item_id=movement.location_item_id,
                    lot_id=movement.lot_id,
                    kind=Kind.RETURN,
                    quantity=-movement.quantity,
                    unit_cost=movement.unit_cost,
                    user=actor,
                    occurred_at=now,
                    reason=Reason.UNDO,
                    operation_id=operation,
                    submission=locked,
                    reverses=movement,
                    patient_id=movement.patient_id,
                    visit_id=movement.visit_id,
                )
            )
        for movement in found:
            back[movement.location_item_id] -= movement.quantity
            reversals.append(
                StockMovement(
                    location_item_id=movement.location_item_id,
                    kind=Kind.COUNT_ADJUST,
                    quantity=-movement.quantity,
                    unit_cost=movement.unit_cost,
                    user=actor,
                    occurred_at=now,
                    reason=Reason.UNDO,
                    note="The log that found this stock was undone",
                    operation_id=operation,
                    submission=locked,
                    reverses=movement,
                )
            )
        logged = []
        for li_id in sorted(back):
            LocationItem.objects.filter(pk=li_id).update(on_hand=F("on_hand") + back[li_id])
            li = lis[li_id]
            logged.append(
                LoggedLine(
                    location_item_id=li_id,
                    item_name=li.item.name,
                    unit_of_use=li.item.unit_of_use,
                    quantity=back[li_id],
                    on_hand=li.on_hand + back[li_id],
                    reorder_point=li.reorder_point,
                    par=li.par,
                )
            )
        StockMovement.objects.bulk_create(reversals)
        locked.undone_at = now
        locked.undone_by = actor
        locked.save(update_fields=["undone_at", "undone_by"])
        if locked.patient_id is not None or locked.visit_id is not None:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.UPDATE,
                obj=locked,
                patient=locked.patient_id,
                clinic=locked.location.clinic_id,
                summary=f"Undid a supply log at {locked.location.name}",
                changes={"undone": [False, True]},
            )
    return UsageResult(submission=locked, lines=tuple(logged))


# ---------------------------------------------------------------------------------------------
# Transfers (refilling carts from the supply room)


@dataclass(frozen=True)
class TransferResult:
    quantity: int
    source: LocationItem
    destination: LocationItem
    movements: tuple[StockMovement, ...]
    replayed: bool = False


def transfer(
    *,
    actor: Any,
    source: StockLocation,
    destination: StockLocation,
    item: SupplyItem,
    quantity: int,
    lot: Lot | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> TransferResult:
    """Move stock between two locations of one clinic (first-expiring lots first)."""
    quantity = _check_quantity(quantity)
    if source.clinic_id != destination.clinic_id:
        raise SupplyError("Both locations must belong to the same clinic.", field="destination")
    if source.pk == destination.pk:
        raise SupplyError("Pick two different locations.", field="destination")
    if lot is not None and lot.item_id != item.pk:
        raise SupplyError("That lot is not one of this item's lots.", field="lot")
    key = _check_key(idempotency_key) if idempotency_key is not None else None
    now = now or timezone.now()
    pair = dict(
        LocationItem.objects.filter(location__in=(source, destination), item=item).values_list(
            "location_id", "pk"
        )
    )
    if source.pk not in pair:
        raise SupplyError(f"{item.name} is not stocked at {source.name}.", field="item")
    if destination.pk not in pair:
        raise SupplyError(
            f"{item.name} is not stocked at {destination.name}; add it there first.", field="item"
        )

    with transaction.atomic():
        submission = None
        if key is not None:
            fingerprint = _fingerprint(
                ["transfer", source.pk, destination.pk, item.pk, quantity, getattr(lot, "pk", None)]
            )
            submission_id = _claim_submission(
                actor=actor,
                key=key,
                kind=UsageSubmission.Kind.TRANSFER,
                location=destination,
                patient=None,
                visit_id=None,
                fingerprint=fingerprint,
                now=now,
            )
            if submission_id is None:
                return _replay_transfer(actor=actor, key=key, fingerprint=fingerprint)
            submission = UsageSubmission(pk=submission_id)
        lis = _lock_location_items(pair.values())
        src, dst = lis[pair[source.pk]], lis[pair[destination.pk]]
        if not src.is_active or not dst.is_active:
            raise SupplyError(
                f"{item.name} is no longer stocked at one of those locations.", field="item"
            )
        if src.on_hand < quantity and lot is None:
            raise InsufficientStock(
                location_item=src, available=src.on_hand, requested=quantity, verb="move"
            )
        today = timezone.localdate(now, timezone=source.clinic.tz)
        if item.is_lot_tracked or lot is not None:
            takes = _allocate(
                location_item=src,
                quantity=quantity,
                picked_lot_id=getattr(lot, "pk", None),
                on_hand_before=src.on_hand,
                today=today,
                verb="move",
            )
            _apply_lot_takes(takes, sign=-1)
            for take in takes:
                if take.lot is not None:
                    _add_to_lot(dst.pk, take.lot.pk, take.quantity)
        else:
            takes = [_Take(lot=None, quantity=quantity)]
        LocationItem.objects.filter(pk=src.pk).update(on_hand=F("on_hand") - quantity)
        LocationItem.objects.filter(pk=dst.pk).update(on_hand=F("on_hand") + quantity)
        src.on_hand -= quantity
        dst.on_hand += quantity
        operation = uuid.uuid4()
        movements = []
        for take in takes:
            for li, kind, sign in ((src, Kind.TRANSFER_OUT, -1), (dst, Kind.TRANSFER_IN, 1)):
                movements.append(
                    StockMovement(
                        location_item=li,
                        lot=take.lot,
                        kind=kind,
                        quantity=sign * take.quantity,
                        unit_cost=item.unit_cost,
                        user=actor,
                        occurred_at=now,
                        operation_id=operation,
                        submission=submission,
                    )
                )
        StockMovement.objects.bulk_create(movements)
    return TransferResult(
        quantity=quantity, source=src, destination=dst, movements=tuple(movements)
    )


def _replay_transfer(*, actor: Any, key: str, fingerprint: str | None) -> TransferResult:
    submission = UsageSubmission.objects.get(user=actor, idempotency_key=key)
    if submission.kind != UsageSubmission.Kind.TRANSFER or fingerprint not in (
        None,
        submission.fingerprint,
    ):
        raise SupplyError(
            "This submission key was already used for something else; reload the screen.",
            field="idempotency_key",
        )
    movements = tuple(
        submission.movements.select_related("location_item__item", "location_item__location")
    )
    out = next(m for m in movements if m.kind == Kind.TRANSFER_OUT)
    into = next(m for m in movements if m.kind == Kind.TRANSFER_IN)
    moved = sum(m.quantity for m in movements if m.kind == Kind.TRANSFER_IN)
    return TransferResult(
        quantity=moved,
        source=out.location_item,
        destination=into.location_item,
        movements=movements,
        replayed=True,
    )


def refill_from_supply_room(
    *,
    actor: Any,
    location_item: LocationItem,
    quantity: int | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> TransferResult:
    """One tap of the pick list: move what refills a cart to par (or what the supply room has)."""
    location = location_item.location
    if idempotency_key is not None:
        # A retried tap must get the first answer back, not "already at par".
        key = _check_key(idempotency_key)
        if UsageSubmission.objects.filter(user=actor, idempotency_key=key).exists():
            return _replay_transfer(actor=actor, key=key, fingerprint=None)
    if location.is_supply_room:
        raise SupplyError(
            "The supply room is refilled by purchase orders, not from itself.", field="location"
        )
    room = selectors.supply_room(location.clinic)
    if room is None:
        raise SupplyError("This clinic has no supply room set up.", field="location")
    if quantity is None:
        available = (
            LocationItem.objects.filter(location=room, item_id=location_item.item_id)
            .values_list("on_hand", flat=True)
            .first()
        )
        quantity = min(location_item.refill_quantity, available or 0)
        if quantity <= 0:
            if location_item.refill_quantity <= 0:
                raise SupplyError(
                    f"{location_item.item.name} is already at par here.", field="quantity"
                )
            raise SupplyError(
                f"The supply room has no {location_item.item.name} to send; order more.",
                field="quantity",
            )
    return transfer(
        actor=actor,
        source=room,
        destination=location,
        item=location_item.item,
        quantity=quantity,
        idempotency_key=idempotency_key,
        now=now,
    )


# ---------------------------------------------------------------------------------------------
# Receiving


def _resolve_lot(
    item: SupplyItem, lot_number: str, expiry: date | None, *, field_prefix: str = ""
) -> Lot | None:
    lot_number = (lot_number or "").strip()
    if not item.is_lot_tracked:
        if lot_number or expiry:
            raise SupplyError(
                f"{item.name} is not lot-tracked; leave the lot and expiry blank.",
                field=f"{field_prefix}lot_number",
            )
        return None
    if not lot_number:
        raise SupplyError(
            f"{item.name} is lot-tracked: enter the lot number from the label.",
            field=f"{field_prefix}lot_number",
        )
    if len(lot_number) > 40:
        raise SupplyError(
            "A lot number is at most 40 characters.", field=f"{field_prefix}lot_number"
        )
    lot, created = Lot.objects.get_or_create(
        item=item, lot_number=lot_number, defaults={"expiry": expiry}
    )
    if not created and expiry is not None and lot.expiry != expiry:
        if lot.expiry is None:
            Lot.objects.filter(pk=lot.pk).update(expiry=expiry)
            lot.expiry = expiry
        else:
            raise SupplyError(
                f"Lot {lot_number} of {item.name} is on file with expiry "
                f"{lot.expiry:%Y-%m-%d}; check the label.",
                field=f"{field_prefix}expiry",
            )
    return lot


def _receive_into(
    *,
    actor: Any,
    location_item: LocationItem,
    quantity: int,
    lot: Lot | None,
    unit_cost: Decimal,
    now: datetime,
    operation: uuid.UUID,
    reason: str = "",
    note: str = "",
    purchase_order_line: PurchaseOrderLine | None = None,
) -> StockMovement:
    """Add received units at a location-item (call under its lock, inside a transaction)."""
    LocationItem.objects.filter(pk=location_item.pk).update(on_hand=F("on_hand") + quantity)
    location_item.on_hand += quantity
    if lot is not None:
        _add_to_lot(location_item.pk, lot.pk, quantity)
    return StockMovement.objects.create(
        location_item=location_item,
        lot=lot,
        kind=Kind.RECEIVE,
        quantity=quantity,
        unit_cost=unit_cost,
        user=actor,
        occurred_at=now,
        operation_id=operation,
        reason=reason,
        note=note[:200],
        purchase_order_line=purchase_order_line,
    )


def receive_stock(
    *,
    actor: Any,
    location_item: LocationItem,
    quantity: int,
    lot_number: str = "",
    expiry: date | None = None,
    unit_cost: Decimal | None = None,
    reason: str = "",
    note: str = "",
    now: datetime | None = None,
) -> StockMovement:
    """Receive stock that did not come on a purchase order (an opening balance, a donation)."""
    quantity = _check_quantity(quantity)
    if reason and reason not in Reason.values:
        raise SupplyError("Pick a reason from the list.", field="reason")
    now = now or timezone.now()
    with transaction.atomic():
        li = _lock_location_items([location_item.pk])[location_item.pk]
        lot = _resolve_lot(li.item, lot_number, expiry)
        movement = _receive_into(
            actor=actor,
            location_item=li,
            quantity=quantity,
            lot=lot,
            unit_cost=li.item.unit_cost if unit_cost is None else unit_cost,
            now=now,
            operation=uuid.uuid4(),
            reason=reason,
            note=note,
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=movement,
            clinic=li.location.clinic_id,
            summary=f"Received {quantity} {li.item.name} at {li.location.name}",
            changes={"quantity": quantity, "lot": lot_number or None, "reason": reason},
        )
    location_item.on_hand = li.on_hand
    return movement


@dataclass(frozen=True)
class Receipt:
    """What arrived for one purchase-order line."""

    line_id: int
    quantity: int
    lot_number: str = ""
    expiry: date | None = None


def receive_purchase_order(
    *, actor: Any, order: PurchaseOrder, receipts: Sequence[Receipt], now: datetime | None = None
) -> PurchaseOrder:
    """Record what arrived on an order (lots and expiry included) and put it into stock."""
    now = now or timezone.now()
    if not receipts:
        raise SupplyError("Enter at least one received quantity.", field="lines")
    with transaction.atomic():
        po = PurchaseOrder.objects.select_for_update().select_related("location").get(pk=order.pk)
        if po.status not in (PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTLY_RECEIVED):
            raise SupplyError(
                f"{po} is {po.get_status_display().lower()}; only a sent order can be received.",
                field="status",
            )
        lines = {line.pk: line for line in po.lines.select_for_update().select_related("item")}
        planned: list[tuple[PurchaseOrderLine, int, Lot | None]] = []
        seen: set[int] = set()
        for index, receipt in enumerate(receipts, start=1):
            prefix = f"lines[{index}]."
            line = lines.get(receipt.line_id)
            if line is None:
                raise SupplyError(f"Line {index} is not on {po}.", field=f"{prefix}line")
            if line.pk in seen:
                raise SupplyError(
                    f"{line.item.name} appears twice; enter it once.", field=f"{prefix}line"
                )
            seen.add(line.pk)
            quantity = _check_quantity(receipt.quantity, field=f"{prefix}quantity")
            if quantity > line.outstanding:
                raise SupplyError(
                    f"Only {line.outstanding} {line.item.name} are still expected on {po}.",
                    field=f"{prefix}quantity",
                )
            lot = _resolve_lot(line.item, receipt.lot_number, receipt.expiry, field_prefix=prefix)
            planned.append((line, quantity, lot))
        location_items = {}
        for line, _, _ in planned:
            li, _ = LocationItem.objects.get_or_create(location=po.location, item=line.item)
            location_items[line.pk] = li.pk
        locked = _lock_location_items(location_items.values())
        operation = uuid.uuid4()
        for line, quantity, lot in sorted(planned, key=lambda p: location_items[p[0].pk]):
            _receive_into(
                actor=actor,
                location_item=locked[location_items[line.pk]],
                quantity=quantity,
                lot=lot,
                unit_cost=line.unit_cost,
                now=now,
                operation=operation,
                purchase_order_line=line,
            )
            PurchaseOrderLine.objects.filter(pk=line.pk).update(
                received_quantity=F("received_quantity") + quantity
            )
            line.received_quantity += quantity
        before = po.status
        if all(line.outstanding == 0 for line in lines.values()):
            po.status = PurchaseOrder.Status.RECEIVED
            po.received_at = now
        else:
            po.status = PurchaseOrder.Status.PARTLY_RECEIVED
        po.save(update_fields=["status", "received_at"])
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=po,
            summary=f"Received {sum(q for _, q, _ in planned)} units on {po}",
            changes={
                "status": [before, po.status],
                "received": [
                    {"item": line.item.sku, "quantity": q, "lot": getattr(lot, "lot_number", None)}
                    for line, q, lot in planned
                ],
            },
        )
    return po


# ---------------------------------------------------------------------------------------------
# Purchase orders


def create_purchase_order(
    *,
    actor: Any,
    clinic: Clinic,
    supplier: Supplier,
    lines: Sequence[tuple[SupplyItem, int]],
    note: str = "",
) -> PurchaseOrder:
    """A draft order to the clinic's supply room; each quantity is rounded up to whole packs."""
    room = selectors.supply_room(clinic)
    if room is None:
        raise SupplyError("This clinic has no supply room to deliver to.", field="location")
    if not lines:
        raise SupplyError("Add at least one item to the order.", field="lines")
    merged: dict[int, tuple[SupplyItem, int]] = {}
    for index, (item, quantity) in enumerate(lines, start=1):
        quantity = _check_quantity(quantity, field=f"lines[{index}].quantity")
        if not item.is_active:
            raise SupplyError(f"{item.name} is no longer active.", field=f"lines[{index}].item")
        previous = merged.get(item.pk, (item, 0))[1]
        merged[item.pk] = (item, previous + quantity)
    with transaction.atomic():
        po = PurchaseOrder.objects.create(
            clinic=clinic, location=room, supplier=supplier, created_by=actor, note=note[:200]
        )
        PurchaseOrderLine.objects.bulk_create(
            PurchaseOrderLine(
                order=po,
                item=item,
                quantity=selectors.round_up_to_pack(quantity, item.pack_size),
                pack_size=item.pack_size,
                unit_cost=item.unit_cost,
            )
            for item, quantity in merged.values()
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=po,
            summary=f"Drafted {po} to {supplier.name}",
            changes={"lines": [{"item": item.sku, "quantity": q} for item, q in merged.values()]},
        )
    return po


@dataclass(frozen=True)
class OrdersFromSuggestions:
    orders: tuple[PurchaseOrder, ...]
    without_supplier: tuple[SupplyItem, ...] = field(default_factory=tuple)


def create_purchase_orders_from_suggestions(
    *, actor: Any, clinic: Clinic, location_item_ids: Iterable[int] | None = None
) -> OrdersFromSuggestions:
    """Turn the current reorder suggestions into draft orders, one per supplier."""
    wanted = set(location_item_ids) if location_item_ids is not None else None
    with transaction.atomic():
        # Serialise per clinic: two managers pressing "order" at once must not order twice.
        room = (
            StockLocation.objects.select_for_update(no_key=True)
            .filter(clinic=clinic, kind=StockLocation.Kind.SUPPLY_ROOM)
            .first()
        )
        if room is None:
            raise SupplyError("This clinic has no supply room to deliver to.", field="location")
        suggestions = [
            s
            for s in selectors.reorder_suggestions(clinic)
            if wanted is None or s.location_item.pk in wanted
        ]
        by_supplier: dict[int, list[selectors.ReorderLine]] = defaultdict(list)
        orphans = []
        for suggestion in suggestions:
            item = suggestion.location_item.item
            if item.supplier_id is None:
                orphans.append(item)
            else:
                by_supplier[item.supplier_id].append(suggestion)
        orders = []
        for lines in by_supplier.values():
            supplier = lines[0].location_item.item.supplier
            if supplier is None:  # pragma: no cover - grouped by supplier_id above
                continue
            orders.append(
                create_purchase_order(
                    actor=actor,
                    clinic=clinic,
                    supplier=supplier,
                    lines=[(s.location_item.item, s.quantity) for s in lines],
                    note="From reorder suggestions",
                )
            )
        ReorderSuggestion.objects.filter(
            location_item__in=[
                s.location_item for s in suggestions if s.location_item.item.supplier_id
            ]
        ).delete()
    return OrdersFromSuggestions(orders=tuple(orders), without_supplier=tuple(orphans))


_PO_TRANSITIONS = {
    PurchaseOrder.Status.SENT: (PurchaseOrder.Status.DRAFT,),
    PurchaseOrder.Status.CANCELLED: (PurchaseOrder.Status.DRAFT, PurchaseOrder.Status.SENT),
}


def _move_order(
    *, actor: Any, order: PurchaseOrder, to: str, now: datetime | None = None
) -> PurchaseOrder:
    with transaction.atomic():
        po = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
        if po.status not in _PO_TRANSITIONS[to]:
            raise SupplyError(
                f"{po} is {po.get_status_display().lower()} and cannot be "
                f"{PurchaseOrder.Status(to).label.lower()}.",
                field="status",
            )
        before = po.status
        po.status = to
        if to == PurchaseOrder.Status.SENT:
            po.sent_at = now or timezone.now()
        po.save(update_fields=["status", "sent_at"])
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=po,
            summary=f"{po}: {before} → {to}",
            changes={"status": [before, to]},
        )
    return po


def send_purchase_order(
    *, actor: Any, order: PurchaseOrder, now: datetime | None = None
) -> PurchaseOrder:
    """Mark a draft order as sent to its supplier."""
    return _move_order(actor=actor, order=order, to=PurchaseOrder.Status.SENT, now=now)


def cancel_purchase_order(*, actor: Any, order: PurchaseOrder) -> PurchaseOrder:
    """Cancel an order nothing has been received on yet."""
    return _move_order(actor=actor, order=order, to=PurchaseOrder.Status.CANCELLED)


# ---------------------------------------------------------------------------------------------
# Counts


@dataclass(frozen=True)
class CountEntry:
    item_id: int
    counted: int
    lot_id: int | None = None


def start_count(
    *, actor: Any, location: StockLocation, now: datetime | None = None
) -> CountSession:
    """Open a count of a location (one open count per location)."""
    try:
        with transaction.atomic():
            return CountSession.objects.create(
                location=location, started_by=actor, started_at=now or timezone.now()
            )
    except IntegrityError:
        raise SupplyError(
            f"A count of {location.name} is already open; continue that one.", field="location"
        ) from None


def _expected(li: LocationItem, lot_id: int | None) -> int:
    """The system's quantity for a count line: one lot, or the stock held without a lot."""
    lots = dict(LotStock.objects.filter(location_item=li).values_list("lot_id", "on_hand"))
    if lot_id is not None:
        return lots.get(lot_id, 0)
    return li.on_hand - sum(lots.values())


def record_count(
    *, actor: Any, session: CountSession, entries: Sequence[CountEntry], now: datetime | None = None
) -> list[CountLine]:
    """Record counted quantities (a recount replaces the earlier figure) with their variance."""
    now = now or timezone.now()
    if not entries:
        raise SupplyError("Enter at least one counted quantity.", field="lines")
    for index, entry in enumerate(entries, start=1):
        _check_id(entry.item_id, field=f"lines[{index}].item", what="item")
        if entry.lot_id is not None:
            _check_id(entry.lot_id, field=f"lines[{index}].lot", what="lot")
        _check_quantity(
            entry.counted, label="counted quantity", field=f"lines[{index}].counted", minimum=0
        )
    with transaction.atomic():
        locked = (
            CountSession.objects.select_for_update().select_related("location").get(pk=session.pk)
        )
        if locked.status != CountSession.Status.OPEN:
            raise SupplyError("That count is already closed.", field="session")
        by_item = {
            li.item_id: li
            for li in LocationItem.objects.filter(
                location=locked.location, item_id__in=[e.item_id for e in entries]
            ).select_related("item")
        }
        saved = []
        for index, entry in enumerate(entries, start=1):
            prefix = f"lines[{index}]."
            li = by_item.get(entry.item_id)
            if li is None:
                raise SupplyError(
                    f"That item is not stocked at {locked.location.name}.", field=f"{prefix}item"
                )
            counted = entry.counted
            lot_id = entry.lot_id
            if (
                lot_id is not None
                and not Lot.objects.filter(pk=lot_id, item_id=li.item_id).exists()
            ):
                raise SupplyError(
                    f"That lot is not one of {li.item.name}'s lots.", field=f"{prefix}lot"
                )
            line, _ = CountLine.objects.update_or_create(
                session=locked,
                location_item=li,
                lot_id=lot_id,
                defaults={
                    "expected": _expected(li, lot_id),
                    "counted": counted,
                    "counted_by": actor,
                    "counted_at": now,
                },
            )
            saved.append(line)
    return saved


def post_count(
    *,
    actor: Any,
    session: CountSession,
    reasons: dict[int, str] | None = None,
    now: datetime | None = None,
) -> list[StockMovement]:
    """Post a count: each variance becomes a count adjustment with its reason."""
    now = now or timezone.now()
    reasons = reasons or {}
    with transaction.atomic():
        locked = (
            CountSession.objects.select_for_update().select_related("location").get(pk=session.pk)
        )
        if locked.status != CountSession.Status.OPEN:
            raise SupplyError("That count is already closed.", field="session")
        lines = list(locked.lines.select_related("location_item__item", "lot"))
        if not lines:
            raise SupplyError("Nothing has been counted yet.", field="lines")
        movements = _post_lines(actor=actor, lines=lines, reasons=reasons, now=now)
        locked.status = CountSession.Status.POSTED
        locked.posted_by = actor
        locked.posted_at = now
        locked.save(update_fields=["status", "posted_by", "posted_at"])
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=locked,
            clinic=locked.location.clinic_id,
            summary=f"Posted a count of {locked.location.name}: {len(movements)} adjustments",
            changes={
                "adjustments": [
                    {"item": m.location_item.item.sku, "quantity": m.quantity, "reason": m.reason}
                    for m in movements
                ]
            },
        )
    return movements


def _post_lines(
    *, actor: Any, lines: Sequence[CountLine], reasons: dict[int, str], now: datetime
) -> list[StockMovement]:
    for line in lines:
        reason = reasons.get(line.pk, line.reason)
        if line.variance and reason not in COUNT_REASONS:
            raise SupplyError(
                f"Give a reason for the variance of {line.variance:+d} on "
                f"{line.location_item.item.name} "
                "(miscounted, found, expired, lost or damaged).",
                field=f"reason[{line.pk}]",
            )
        line.reason = reason if line.variance else ""
    changing = [line for line in lines if line.variance]
    locked = _lock_location_items(line.location_item_id for line in changing)
    operation = uuid.uuid4()
    movements = []
    for line in sorted(changing, key=lambda ln: (ln.location_item_id, ln.lot_id or 0)):
        li = locked[line.location_item_id]
        delta = line.variance
        if _expected(li, line.lot_id) + delta < 0:
            raise SupplyError(
                f"{li.item.name} was used since it was counted; count it again.",
                field=f"reason[{line.pk}]",
            )
        LocationItem.objects.filter(pk=li.pk).update(on_hand=F("on_hand") + delta)
        li.on_hand += delta
        if line.lot_id is not None:
            _add_to_lot(li.pk, line.lot_id, delta)
        movements.append(
            StockMovement(
                location_item=li,
                lot=line.lot,
                kind=Kind.COUNT_ADJUST,
                quantity=delta,
                unit_cost=li.item.unit_cost,
                user=actor,
                occurred_at=now,
                reason=line.reason,
                operation_id=operation,
                count_line=line,
            )
        )
        CountLine.objects.filter(pk=line.pk).update(reason=line.reason)
    StockMovement.objects.bulk_create(movements)
    return movements


@dataclass(frozen=True)
class LotCount:
    """How one lot (None: the stock held without a lot) came out of a quick count."""

    lot: Lot | None
    before: int
    after: int


@dataclass(frozen=True)
class QuickCountResult:
    """What a quick count stored: on hand before and after (re-read after the write)."""

    before: int
    after: int
    lots: tuple[LotCount, ...]
    movements: tuple[StockMovement, ...]


def _spread_count(
    li: LocationItem, counted: int, *, today: date
) -> list[tuple[Lot | None, int, int]]:
    """[(lot, expected, counted)] for a count of the whole of a location-item held in lots.

    A count of lots (the count screen) counts each lot; a quick count gives only the total, so
    the total is spread over the lots the way stock leaves a location: a shortfall comes off
    the lots in the order use takes them (`_allocate`: in-date lots first-expiring first, then
    the stock held without a lot), since the usual cause of a shortfall is use nobody logged;
    expired lots come off last (use never takes them, so they are most likely still there and
    the expiry screen keeps asking for them to be wasted). A surplus is held without a lot:
    which lot it is, nobody said. Call under the location-item's lock."""
    stocks = _lot_stocks(li.pk)
    unlotted = li.on_hand - sum(s.on_hand for s in stocks)
    in_date = [s for s in stocks if not s.lot.is_expired_on(today)]
    expired = [s for s in stocks if s.lot.is_expired_on(today)]
    figures: dict[int | None, int] = {s.lot_id: s.on_hand for s in stocks}
    figures[None] = unlotted
    if counted >= li.on_hand:
        figures[None] += counted - li.on_hand
    else:
        missing = li.on_hand - counted
        for key in [*(s.lot_id for s in in_date), None, *(s.lot_id for s in expired)]:
            take = min(figures[key], missing)
            figures[key] -= take
            missing -= take
    lines: list[tuple[Lot | None, int, int]] = [
        (s.lot, s.on_hand, figures[s.lot_id]) for s in stocks
    ]
    if unlotted or figures[None]:
        lines.append((None, unlotted, figures[None]))
    return lines


def quick_count(
    *,
    actor: Any,
    location_item: LocationItem,
    counted: int,
    reason: str = "",
    lot: Lot | None = None,
    now: datetime | None = None,
) -> QuickCountResult:
    """Count one item where it stands and post the adjustment at once (the tablet's
    "record a count"). Without a lot the count is the item's total here: for stock held in
    lots it is spread over them (`_spread_count`) and posted as a count of lots is."""
    now = now or timezone.now()
    counted = _check_quantity(counted, label="counted quantity", field="counted", minimum=0)
    if lot is not None and lot.item_id != location_item.item_id:
        raise SupplyError("That lot is not one of this item's lots.", field="lot")
    with transaction.atomic():
        li = _lock_location_items([location_item.pk])[location_item.pk]
        before = li.on_hand
        session = CountSession.objects.create(
            location=li.location,
            status=CountSession.Status.POSTED,
            started_by=actor,
            started_at=now,
            posted_by=actor,
            posted_at=now,
        )
        if lot is not None:
            planned = [(lot, _expected(li, lot.pk), counted)]
        else:
            today = timezone.localdate(now, timezone=li.location.clinic.tz)
            planned = _spread_count(li, counted, today=today)
            if not planned:  # nothing held in lots: the whole is the stock without a lot
                planned = [(None, _expected(li, None), counted)]
        lines = CountLine.objects.bulk_create(
            CountLine(
                session=session,
                location_item=li,
                lot=lot_counted,
                expected=expected,
                counted=figure,
                reason=reason if reason in COUNT_REASONS else "",
                counted_by=actor,
                counted_at=now,
            )
            for lot_counted, expected, figure in planned
        )
        for line in lines:
            line.location_item = li
        movements = _post_lines(
            actor=actor, lines=lines, reasons={line.pk: reason for line in lines}, now=now
        )
        # What was stored, read back: the message is built from this, not from the input.
        after = LocationItem.objects.values_list("on_hand", flat=True).get(pk=li.pk)
        lot_counts = tuple(
            LotCount(lot=line.lot, before=line.expected, after=line.counted)
            for line in lines
            if line.lot is not None or len(lines) > 1
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=session,
            clinic=li.location.clinic_id,
            summary=f"Counted {li.item.name} at {li.location.name}: {after} (was {before})",
            changes={
                "on_hand": [before, after],
                "reason": lines[0].reason if len(lines) == 1 else reason,
                "lots": [
                    {
                        "lot": c.lot.lot_number if c.lot else None,
                        "on_hand": [c.before, c.after],
                    }
                    for c in lot_counts
                ],
            },
        )
    location_item.on_hand = after
    return QuickCountResult(before=before, after=after, lots=lot_counts, movements=tuple(movements))


def cancel_count(*, actor: Any, session: CountSession) -> CountSession:
    """Abandon an open count; nothing is adjusted."""
    with transaction.atomic():
        locked = CountSession.objects.select_for_update().get(pk=session.pk)
        if locked.status != CountSession.Status.OPEN:
            raise SupplyError("That count is already closed.", field="session")
        locked.status = CountSession.Status.CANCELLED
        locked.save(update_fields=["status"])
    return locked


def review_found_stock(
    *, actor: Any, movement: StockMovement, now: datetime | None = None
) -> FoundStockReview:
    """Mark a "found at use" movement as reviewed by a manager (once)."""
    if movement.kind != Kind.FOUND:
        raise SupplyError("Only stock found at use is reviewed here.", field="movement")
    now = now or timezone.now()
    try:
        with transaction.atomic():
            review = FoundStockReview.objects.create(
                movement=movement, reviewed_by=actor, reviewed_at=now
            )
            li = movement.location_item
            audit.record(
                actor=actor,
                action=AuditEvent.Action.CREATE,
                obj=review,
                clinic=li.location.clinic_id,
                summary=(
                    f"Reviewed {movement.quantity} {li.item.name} found at use at "
                    f"{li.location.name}"
                ),
                changes={"movement": movement.pk, "quantity": movement.quantity},
            )
    except IntegrityError:
        raise SupplyError("That was already marked reviewed.", field="movement") from None
    return review


# ---------------------------------------------------------------------------------------------
# Waste and expiry


def waste_expired(
    *,
    actor: Any,
    clinic: Clinic,
    location: StockLocation | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> list[StockMovement]:
    """Waste every expired lot on hand in the clinic (or one location) in one action."""
    now = now or timezone.now()
    today = today or timezone.localdate(now, timezone=clinic.tz)
    candidates = selectors.expired(clinic, today=today)
    if location is not None:
        candidates = candidates.filter(location_item__location=location)
    with transaction.atomic():
        li_ids = set(candidates.values_list("location_item_id", flat=True))
        locked = _lock_location_items(li_ids)
        # Re-read under the locks: use may have taken some units since the query above.
        stocks = list(
            LotStock.objects.filter(
                location_item_id__in=li_ids, on_hand__gt=0, lot__expiry__lt=today
            )
            .select_related("lot")
            .order_by("location_item_id", "pk")
        )
        operation = uuid.uuid4()
        movements = []
        for stock in stocks:
            li = locked[stock.location_item_id]
            LotStock.objects.filter(pk=stock.pk).update(on_hand=F("on_hand") - stock.on_hand)
            LocationItem.objects.filter(pk=li.pk).update(on_hand=F("on_hand") - stock.on_hand)
            movements.append(
                StockMovement(
                    location_item=li,
                    lot=stock.lot,
                    kind=Kind.WASTE,
                    quantity=-stock.on_hand,
                    unit_cost=li.item.unit_cost,
                    user=actor,
                    occurred_at=now,
                    reason=Reason.EXPIRED,
                    operation_id=operation,
                )
            )
        StockMovement.objects.bulk_create(movements)
        if movements:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.CREATE,
                object_type="supplies.stockmovement",
                object_id=str(operation),
                clinic=clinic,
                summary=(
                    f"Wasted {sum(-m.quantity for m in movements)} expired units "
                    f"({len(movements)} lots)"
                ),
                changes={
                    "wasted": [
                        {
                            "item": m.location_item.item.sku,
                            "lot": m.lot.lot_number if m.lot else None,
                            "quantity": -m.quantity,
                        }
                        for m in movements
                    ]
                },
            )
    return movements


def waste_stock(
    *,
    actor: Any,
    location_item: LocationItem,
    quantity: int,
    reason: str,
    lot: Lot | None = None,
    note: str = "",
    now: datetime | None = None,
) -> list[StockMovement]:
    """Waste damaged (or expired) units of one item at one location."""
    quantity = _check_quantity(quantity)
    if reason not in WASTE_REASONS:
        raise SupplyError("Pick a reason: expired or damaged.", field="reason")
    if lot is not None and lot.item_id != location_item.item_id:
        raise SupplyError("That lot is not one of this item's lots.", field="lot")
    now = now or timezone.now()
    with transaction.atomic():
        li = _lock_location_items([location_item.pk])[location_item.pk]
        if li.on_hand < quantity:
            raise InsufficientStock(
                location_item=li, available=li.on_hand, requested=quantity, verb="waste"
            )
        takes = [_Take(lot=None, quantity=quantity)]
        if li.item.is_lot_tracked or lot is not None:
            stocks = _lot_stocks(li.pk)
            if lot is not None:
                stock = next((s for s in stocks if s.lot_id == lot.pk), None)
                if stock is None or stock.on_hand < quantity:
                    raise InsufficientStock(
                        location_item=li,
                        available=stock.on_hand if stock else 0,
                        requested=quantity,
                        lot=lot,
                        verb="waste",
                    )
                takes = [_Take(lot=stock.lot, quantity=quantity, lot_stock_id=stock.pk)]
            else:
                # Damaged stock without a named lot: take the stock held without a lot first,
                # then first-expiring lots (expired ones included: they are going anyway).
                takes = []
                remaining = quantity
                unlotted = li.on_hand - sum(s.on_hand for s in stocks)
                if unlotted > 0:
                    takes.append(_Take(lot=None, quantity=min(unlotted, remaining)))
                    remaining -= takes[-1].quantity
                for stock in stocks:
                    if remaining == 0:
                        break
                    take = min(stock.on_hand, remaining)
                    takes.append(_Take(lot=stock.lot, quantity=take, lot_stock_id=stock.pk))
                    remaining -= take
            _apply_lot_takes(takes, sign=-1)
        LocationItem.objects.filter(pk=li.pk).update(on_hand=F("on_hand") - quantity)
        operation = uuid.uuid4()
        movements = StockMovement.objects.bulk_create(
            StockMovement(
                location_item=li,
                lot=take.lot,
                kind=Kind.WASTE,
                quantity=-take.quantity,
                unit_cost=li.item.unit_cost,
                user=actor,
                occurred_at=now,
                reason=reason,
                note=note[:200],
                operation_id=operation,
            )
            for take in takes
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            object_type="supplies.stockmovement",
            object_id=str(operation),
            clinic=li.location.clinic_id,
            summary=f"Wasted {quantity} {li.item.name} at {li.location.name} ({reason})",
            changes={"quantity": quantity, "reason": reason},
        )
    location_item.on_hand = li.on_hand - quantity
    return movements


# ---------------------------------------------------------------------------------------------
# Levels


def set_levels(
    *, actor: Any, location_item: LocationItem, par: int, reorder_point: int, max_quantity: int
) -> LocationItem:
    """Change a location-item's par, reorder point and maximum (reorder point <= par <= max)."""
    par = _check_quantity(par, label="par", field="par", minimum=0)
    reorder_point = _check_quantity(
        reorder_point, label="reorder point", field="reorder_point", minimum=0
    )
    max_quantity = _check_quantity(max_quantity, label="maximum", field="max_quantity", minimum=0)
    if reorder_point > par:
        raise SupplyError("The reorder point must be at or below par.", field="reorder_point")
    if par > max_quantity:
        raise SupplyError("Par must be at or below the maximum.", field="par")
    with transaction.atomic():
        li = _lock_location_items([location_item.pk])[location_item.pk]
        fields = ("par", "reorder_point", "max_quantity")
        before = audit.snapshot(li, fields)
        li.par, li.reorder_point, li.max_quantity = par, reorder_point, max_quantity
        li.save(update_fields=list(fields))
        changes = audit.diff(before, audit.snapshot(li, fields))
        if changes:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.UPDATE,
                obj=li,
                clinic=li.location.clinic_id,
                summary=f"Levels of {li.item.name} at {li.location.name}",
                changes=changes,
            )
    location_item.par, location_item.reorder_point, location_item.max_quantity = (
        par,
        reorder_point,
        max_quantity,
    )
    return li


def accept_suggested_par(
    *, actor: Any, location_item: LocationItem, today: date | None = None
) -> LocationItem:
    """Set par to the 8-week suggestion, keeping reorder point <= par <= max."""
    suggestion = selectors.suggested_par(location_item, today=today)
    par = suggestion.par
    return set_levels(
        actor=actor,
        location_item=location_item,
        par=par,
        reorder_point=min(location_item.reorder_point, par),
        max_quantity=max(location_item.max_quantity, par),
    )


# ---------------------------------------------------------------------------------------------
# Nightly work (each idempotent: running it twice changes nothing the second time)


def recompute_reorder_suggestions(*, clinic: Clinic, now: datetime | None = None) -> int:
    """Replace the clinic's stored reorder suggestions with the current ones; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        current = selectors.reorder_suggestions(clinic)
        keep = []
        for suggestion in current:
            ReorderSuggestion.objects.update_or_create(
                location_item=suggestion.location_item,
                defaults={
                    "quantity": suggestion.quantity,
                    "on_hand": suggestion.on_hand,
                    "on_order": suggestion.on_order,
                    "computed_at": now,
                },
            )
            keep.append(suggestion.location_item.pk)
        ReorderSuggestion.objects.for_clinic(clinic).exclude(location_item_id__in=keep).delete()
    return len(current)


def raise_expiry_alerts(*, clinic: Clinic, today: date | None = None) -> int:
    """Raise an alert for each lot on hand entering the 60-day, 30-day or expired window
    (once per lot, location and window); returns how many were new."""
    today = today or clinic.today()
    alerts = []
    for stock in selectors.expiring(clinic, 60, today=today):
        expiry = stock.lot.expiry
        if expiry is None:  # pragma: no cover - `expiring` only returns dated lots
            continue
        if expiry < today:
            window = ExpiryAlert.Window.EXPIRED
        elif expiry <= today + timedelta(days=30):
            window = ExpiryAlert.Window.DAYS_30
        else:
            window = ExpiryAlert.Window.DAYS_60
        alerts.append(
            ExpiryAlert(lot_stock=stock, window=window, raised_on=today, quantity=stock.on_hand)
        )
    if not alerts:
        return 0
    before = ExpiryAlert.objects.for_clinic(clinic).count()
    ExpiryAlert.objects.bulk_create(alerts, ignore_conflicts=True)
    return ExpiryAlert.objects.for_clinic(clinic).count() - before


def snapshot_stockouts(*, clinic: Clinic, day: date) -> int:
    """Record each tracked (par > 0) location-item's on hand for `day`; the first snapshot of a
    day stands, so a re-run later cannot rewrite history. Returns how many were new."""
    rows = (
        LocationItem.objects.for_clinic(clinic)
        .filter(is_active=True, par__gt=0, location__is_active=True, item__is_active=True)
        .values_list("pk", "on_hand", "item__is_critical")
    )
    existing = StockoutSnapshot.objects.for_clinic(clinic).filter(day=day)
    before = existing.count()
    StockoutSnapshot.objects.bulk_create(
        [
            StockoutSnapshot(location_item_id=pk, day=day, on_hand=on_hand, is_critical=critical)
            for pk, on_hand, critical in rows
        ],
        ignore_conflicts=True,
    )
    return existing.count() - before


def run_nightly(*, clinic: Clinic, day: date) -> dict[str, int]:
    """The nightly supplies work for one clinic; `day` is the local day that just ended."""
    return {
        "stockout_snapshots": snapshot_stockouts(clinic=clinic, day=day),
        "reorder_suggestions": recompute_reorder_suggestions(clinic=clinic),
        "expiry_alerts": raise_expiry_alerts(clinic=clinic, today=day + timedelta(days=1)),
    }
