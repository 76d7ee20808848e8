"""Transfers between locations of one clinic, and the pick list's refill of a cart from the
supply room."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import selectors
from ..models import LocationItem, Lot, StockLocation, StockMovement, SupplyItem, UsageSubmission
from . import ledger
from .ledger import InsufficientStock, SupplyError

Kind = StockMovement.Kind


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
    quantity = ledger.check_quantity(quantity)
    if source.clinic_id != destination.clinic_id:
        raise SupplyError("Both locations must belong to the same clinic.", field="destination")
    if source.pk == destination.pk:
        raise SupplyError("Pick two different locations.", field="destination")
    if lot is not None and lot.item_id != item.pk:
        raise SupplyError("That lot is not one of this item's lots.", field="lot")
    key = ledger.check_key(idempotency_key) if idempotency_key is not None else None
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
            fingerprint = ledger.fingerprint(
                ["transfer", source.pk, destination.pk, item.pk, quantity, getattr(lot, "pk", None)]
            )
            submission_id = ledger.claim_submission(
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
        lis = ledger.lock_location_items(pair.values())
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
            takes = ledger.allocate(
                location_item=src,
                quantity=quantity,
                picked_lot_id=getattr(lot, "pk", None),
                on_hand_before=src.on_hand,
                today=today,
                verb="move",
            )
            ledger.apply_lot_takes(takes, sign=-1)
            for take in takes:
                if take.lot is not None:
                    ledger.add_to_lot(dst.pk, take.lot.pk, take.quantity)
        else:
            takes = [ledger.Take(lot=None, quantity=quantity)]
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
        key = ledger.check_key(idempotency_key)
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
