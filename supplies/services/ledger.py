"""The stock ledger's shared primitives: the error types, input checks, row locks (in the
one lock order, see the package docstring), lot allocation, on-hand and lot updates, and the
idempotent submission claim every logging service starts with."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection
from django.db.models import F

from clinicops.core.models import Patient

from ..models import LocationItem, Lot, LotStock, StockLocation

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


def check_quantity(
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


def check_id(value: object, *, field: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SupplyError(f"That {what} was not found.", field=field)
    return value


def check_key(key: object) -> str:
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


def lock_location_items(ids: Iterable[int]) -> dict[int, LocationItem]:
    """Lock location-item rows in ascending id order (the one order every service uses)."""
    rows = (
        LocationItem.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=sorted(set(ids)))
        .select_related("item", "location")
        .order_by("pk")
    )
    return {li.pk: li for li in rows}


def lock_on_hand(li: LocationItem) -> int:
    """Lock the location-item row (the lock order's step 2) and read its on hand."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT on_hand FROM supplies_locationitem WHERE id = %s FOR NO KEY UPDATE", [li.pk]
        )
        row = cursor.fetchone()
    return row[0]


def lot_stocks(location_item_id: int) -> list[LotStock]:
    """The lots on hand at a location-item, first-expiring first (call under its lock)."""
    return list(
        LotStock.objects.filter(location_item_id=location_item_id, on_hand__gt=0)
        .select_related("lot")
        .order_by(F("lot__expiry").asc(nulls_last=True), "lot_id")
    )


@dataclass
class Take:
    lot: Lot | None
    quantity: int
    lot_stock_id: int | None = None


def allocate(
    *,
    location_item: LocationItem,
    quantity: int,
    picked_lot_id: int | None,
    on_hand_before: int,
    today: date,
    verb: str,
) -> list[Take]:
    """Which lots a removal of `quantity` takes, first-expiring first (FEFO), skipping expired
    lots; a picked lot is taken alone. Stock without a lot (received before the item was
    lot-tracked) is taken after every dated lot. Call under the location-item's lock."""
    stocks = lot_stocks(location_item.pk)
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
        return [Take(lot=stock.lot, quantity=quantity, lot_stock_id=stock.pk)]

    takes: list[Take] = []
    remaining = quantity
    expired = 0
    for stock in stocks:
        if stock.lot.is_expired_on(today):
            expired += stock.on_hand
            continue
        if remaining == 0:
            break
        take = min(stock.on_hand, remaining)
        takes.append(Take(lot=stock.lot, quantity=take, lot_stock_id=stock.pk))
        remaining -= take
    unlotted = on_hand_before - sum(s.on_hand for s in stocks)
    if remaining and unlotted > 0:
        take = min(unlotted, remaining)
        takes.append(Take(lot=None, quantity=take))
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


def apply_lot_takes(takes: Sequence[Take], *, sign: int) -> None:
    for take in takes:
        if take.lot_stock_id is not None:
            LotStock.objects.filter(pk=take.lot_stock_id).update(
                on_hand=F("on_hand") + sign * take.quantity
            )


def add_to_lot(location_item_id: int, lot_id: int, quantity: int) -> None:
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


def take_and_record(
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


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def claim_submission(
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
