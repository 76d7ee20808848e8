"""Purchase orders (drafted by hand or from reorder suggestions, sent, cancelled) and
receiving stock, on an order or without one."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic

from .. import selectors
from ..models import (
    LocationItem,
    Lot,
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderSuggestion,
    StockLocation,
    StockMovement,
    Supplier,
    SupplyItem,
)
from . import ledger
from .ledger import SupplyError

Kind = StockMovement.Kind
Reason = StockMovement.Reason


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
        quantity = ledger.check_quantity(quantity, field=f"lines[{index}].quantity")
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
        ledger.add_to_lot(location_item.pk, lot.pk, quantity)
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
    quantity = ledger.check_quantity(quantity)
    if reason and reason not in Reason.values:
        raise SupplyError("Pick a reason from the list.", field="reason")
    now = now or timezone.now()
    with transaction.atomic():
        li = ledger.lock_location_items([location_item.pk])[location_item.pk]
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
            quantity = ledger.check_quantity(receipt.quantity, field=f"{prefix}quantity")
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
        locked = ledger.lock_location_items(location_items.values())
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
