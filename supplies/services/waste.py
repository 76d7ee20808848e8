"""Wasting stock: every expired lot in one action, or damaged (or expired) units of one
item."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic

from .. import selectors
from ..models import LocationItem, Lot, LotStock, StockLocation, StockMovement
from . import ledger
from .ledger import InsufficientStock, SupplyError

Kind = StockMovement.Kind
Reason = StockMovement.Reason
WASTE_REASONS = (Reason.EXPIRED, Reason.DAMAGED)


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
        locked = ledger.lock_location_items(li_ids)
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
    quantity = ledger.check_quantity(quantity)
    if reason not in WASTE_REASONS:
        raise SupplyError("Pick a reason: expired or damaged.", field="reason")
    if lot is not None and lot.item_id != location_item.item_id:
        raise SupplyError("That lot is not one of this item's lots.", field="lot")
    now = now or timezone.now()
    with transaction.atomic():
        li = ledger.lock_location_items([location_item.pk])[location_item.pk]
        if li.on_hand < quantity:
            raise InsufficientStock(
                location_item=li, available=li.on_hand, requested=quantity, verb="waste"
            )
        takes = [ledger.Take(lot=None, quantity=quantity)]
        if li.item.is_lot_tracked or lot is not None:
            stocks = ledger.lot_stocks(li.pk)
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
                takes = [ledger.Take(lot=stock.lot, quantity=quantity, lot_stock_id=stock.pk)]
            else:
                # Damaged stock without a named lot: take the stock held without a lot first,
                # then first-expiring lots (expired ones included: they are going anyway).
                takes = []
                remaining = quantity
                unlotted = li.on_hand - sum(s.on_hand for s in stocks)
                if unlotted > 0:
                    takes.append(ledger.Take(lot=None, quantity=min(unlotted, remaining)))
                    remaining -= takes[-1].quantity
                for stock in stocks:
                    if remaining == 0:
                        break
                    take = min(stock.on_hand, remaining)
                    takes.append(ledger.Take(lot=stock.lot, quantity=take, lot_stock_id=stock.pk))
                    remaining -= take
            ledger.apply_lot_takes(takes, sign=-1)
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
