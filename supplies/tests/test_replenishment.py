"""Below par, pick lists and transfers, reorder arithmetic, purchase orders and receiving."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, User
from supplies import selectors, services
from supplies.models import (
    LocationItem,
    LotStock,
    PurchaseOrder,
    ReorderSuggestion,
    StockLocation,
    StockMovement,
)
from supplies.services import nightly, orders, transfers, waste
from supplies.services.orders import Receipt
from supplies.tests.factories import (
    LocationItemFactory,
    StockLocationFactory,
    SupplierFactory,
    SupplyItemFactory,
)

pytestmark = pytest.mark.django_db

Stock = Callable[..., LocationItem]


def assert_ledger_consistent() -> None:
    assert selectors.ledger_mismatches() == []


# Below par and the pick list -------------------------------------------------------------------


def test_below_par_lists_items_at_or_under_their_reorder_point_with_the_refill_to_par(
    clinic: Clinic, other_clinic: Clinic, cart: StockLocation, stock: Stock
) -> None:
    at_point = stock(
        LocationItemFactory(location=cart, par=10, reorder_point=4, item__name="At point"), 4
    )
    under = stock(
        LocationItemFactory(location=cart, par=10, reorder_point=4, item__name="Under"), 1
    )
    LocationItemFactory(location=cart, par=10, reorder_point=4, item__name="Empty")  # 0 on hand
    stock(LocationItemFactory(location=cart, par=10, reorder_point=4, item__name="Above"), 5)
    LocationItemFactory(
        location=cart, par=0, reorder_point=0, max_quantity=0, item__name="Untracked"
    )
    LocationItemFactory(
        location=cart, par=10, reorder_point=4, is_active=False, item__name="Retired"
    )
    elsewhere = StockLocationFactory(clinic=other_clinic)
    LocationItemFactory(location=elsewhere, par=10, reorder_point=4, item__name="Other clinic")

    board = {li.item.name: li.refill for li in selectors.below_par(clinic)}

    assert board == {"At point": 6, "Under": 9, "Empty": 10}
    assert at_point.is_at_or_below_reorder_point
    assert under.refill_quantity == 9


def test_the_pick_list_offers_what_the_supply_room_can_send(
    clinic: Clinic, supply_room: StockLocation, cart: StockLocation, stock: Stock
) -> None:
    gauze = SupplyItemFactory(name="Gauze")
    gloves = SupplyItemFactory(name="Gloves")
    stock(
        LocationItemFactory(
            location=supply_room, item=gauze, par=100, reorder_point=10, max_quantity=200
        ),
        50,
    )
    stock(
        LocationItemFactory(
            location=supply_room, item=gloves, par=100, reorder_point=10, max_quantity=200
        ),
        3,
    )
    stock(LocationItemFactory(location=cart, item=gauze, par=10, reorder_point=4), 2)
    stock(LocationItemFactory(location=cart, item=gloves, par=10, reorder_point=4), 1)

    lines = {line.location_item.item.name: line for line in selectors.pick_list(clinic)}

    assert (lines["Gauze"].refill, lines["Gauze"].available, lines["Gauze"].quantity) == (8, 50, 8)
    assert (lines["Gloves"].refill, lines["Gloves"].available, lines["Gloves"].quantity) == (
        9,
        3,
        3,
    )
    assert lines["Gloves"].is_short
    assert not lines["Gauze"].is_short
    assert "Gauze" not in {
        li.item.name for li in selectors.below_par(clinic) if li.location == supply_room
    }


def test_one_tap_refills_a_cart_to_par_from_the_supply_room(
    nurse: User, supply_room: StockLocation, cart: StockLocation, stock: Stock
) -> None:
    gauze = SupplyItemFactory(name="Gauze")
    room_li = stock(
        LocationItemFactory(location=supply_room, item=gauze, par=100, max_quantity=200), 50
    )
    cart_li = stock(LocationItemFactory(location=cart, item=gauze, par=10, reorder_point=4), 2)

    result = transfers.refill_from_supply_room(
        actor=nurse, location_item=cart_li, idempotency_key="pick-1"
    )
    again = transfers.refill_from_supply_room(
        actor=nurse, location_item=cart_li, idempotency_key="pick-1"
    )

    room_li.refresh_from_db()
    cart_li.refresh_from_db()
    assert (result.quantity, room_li.on_hand, cart_li.on_hand) == (8, 42, 10)
    assert again.replayed
    assert again.quantity == 8
    moves = StockMovement.objects.filter(kind__in=("transfer_out", "transfer_in")).order_by(
        "quantity"
    )
    assert [(m.kind, m.quantity, m.location_item_id) for m in moves] == [
        ("transfer_out", -8, room_li.pk),
        ("transfer_in", 8, cart_li.pk),
    ]
    assert moves[0].operation_id == moves[1].operation_id
    assert_ledger_consistent()


def test_refill_moves_only_what_the_supply_room_has_and_refuses_when_it_has_none(
    nurse: User, supply_room: StockLocation, cart: StockLocation, stock: Stock
) -> None:
    gauze = SupplyItemFactory(name="Gauze")
    room_li = stock(
        LocationItemFactory(location=supply_room, item=gauze, par=100, max_quantity=200), 3
    )
    cart_li = stock(LocationItemFactory(location=cart, item=gauze, par=10, reorder_point=4), 2)

    assert transfers.refill_from_supply_room(actor=nurse, location_item=cart_li).quantity == 3
    with pytest.raises(services.SupplyError, match="supply room has no Gauze"):
        transfers.refill_from_supply_room(actor=nurse, location_item=cart_li)
    room_li.refresh_from_db()
    assert room_li.on_hand == 0


def test_transfers_move_lots_first_expiring_first_and_keep_them(
    nurse: User, clinic: Clinic, supply_room: StockLocation, cart: StockLocation, stock: Stock
) -> None:
    item = SupplyItemFactory(name="Flush", is_lot_tracked=True)
    today = clinic.today()
    room_li = LocationItemFactory(location=supply_room, item=item, par=50, max_quantity=100)
    stock(room_li, 5, lot_number="B", expiry=today + timedelta(days=90))
    stock(room_li, 5, lot_number="A", expiry=today + timedelta(days=30))
    stock(room_li, 5, lot_number="X", expiry=today - timedelta(days=1))
    cart_li = LocationItemFactory(location=cart, item=item)

    transfers.transfer(actor=nurse, source=supply_room, destination=cart, item=item, quantity=7)

    levels = dict(
        LotStock.objects.filter(location_item=cart_li).values_list("lot__lot_number", "on_hand")
    )
    assert levels == {"A": 5, "B": 2}
    cart_li.refresh_from_db()
    assert cart_li.on_hand == 7
    assert_ledger_consistent()


def test_transfers_refuse_bad_requests(
    nurse: User, other_clinic: Clinic, supply_room: StockLocation, cart: StockLocation, stock: Stock
) -> None:
    item = SupplyItemFactory(name="Gauze")
    stock(LocationItemFactory(location=supply_room, item=item, par=50, max_quantity=100), 5)
    LocationItemFactory(location=cart, item=item)
    elsewhere = StockLocationFactory(clinic=other_clinic)
    uncarted = StockLocationFactory(clinic=cart.clinic, name="Procedure room")

    cases = [
        ({"destination": elsewhere}, "same clinic"),
        ({"destination": supply_room}, "two different locations"),
        ({"destination": uncarted}, "add it there first"),
        ({"quantity": 6}, "only 5 left at Supply room — move 5"),
        ({"quantity": -1}, "at least 1"),
    ]
    for overrides, message in cases:
        kwargs = {
            "source": supply_room,
            "destination": cart,
            "item": item,
            "quantity": 2,
            **overrides,
        }
        with pytest.raises(services.SupplyError, match=message):
            transfers.transfer(actor=nurse, **kwargs)  # type: ignore[arg-type]
    assert not StockMovement.objects.filter(kind="transfer_out").exists()


# Reorder suggestions --------------------------------------------------------------------------


@pytest.fixture
def boxed(supply_room: StockLocation) -> LocationItem:
    item = SupplyItemFactory(name="Exam gloves M", pack_size=24, unit_cost=Decimal("0.0800"))
    return LocationItemFactory(
        location=supply_room, item=item, par=150, reorder_point=50, max_quantity=200
    )


def suggestion_for(clinic: Clinic, li: LocationItem) -> selectors.ReorderLine | None:
    return next(
        (s for s in selectors.reorder_suggestions(clinic) if s.location_item.pk == li.pk), None
    )


def test_reorder_orders_up_to_max_rounded_up_to_whole_packs(
    clinic: Clinic, boxed: LocationItem, stock: Stock
) -> None:
    stock(boxed, 40)

    line = suggestion_for(clinic, boxed)

    # max 200 - on hand 40 = 160 units; 160 / 24 = 6.67 -> 7 boxes = 168 units
    assert line is not None
    assert (line.on_hand, line.on_order, line.quantity, line.packs) == (40, 0, 168, 7)
    assert line.extended_cost == Decimal("13.4400")


def test_reorder_waits_until_the_reorder_point_and_counts_it_inclusively(
    clinic: Clinic, boxed: LocationItem, stock: Stock, manager: User
) -> None:
    stock(boxed, 51)
    assert suggestion_for(clinic, boxed) is None

    waste.waste_stock(actor=manager, location_item=boxed, quantity=1, reason="damaged")

    line = suggestion_for(clinic, boxed)
    assert line is not None
    assert line.quantity == 168  # 200 - 50 = 150 -> 7 boxes


def test_open_orders_count_against_the_suggestion_and_closed_ones_do_not(
    clinic: Clinic, boxed: LocationItem, stock: Stock, manager: User
) -> None:
    stock(boxed, 30)
    supplier = boxed.item.supplier
    assert supplier is not None
    # 48 on a sent order, 24 of them already received (and so in on hand: 30 + 24 = 54).
    po = orders.create_purchase_order(
        actor=manager, clinic=clinic, supplier=supplier, lines=[(boxed.item, 48)]
    )
    orders.send_purchase_order(actor=manager, order=po)
    orders.receive_purchase_order(
        actor=manager, order=po, receipts=[Receipt(line_id=po.lines.get().pk, quantity=24)]
    )
    cancelled = orders.create_purchase_order(
        actor=manager, clinic=clinic, supplier=supplier, lines=[(boxed.item, 96)]
    )
    orders.cancel_purchase_order(actor=manager, order=cancelled)
    boxed.refresh_from_db()
    assert boxed.on_hand == 54
    assert selectors.open_order_quantities(boxed.location) == {boxed.item_id: 24}

    # position 54 + 24 = 78 > reorder point 50: nothing to order
    assert suggestion_for(clinic, boxed) is None

    boxed.reorder_point = 80
    boxed.save()
    line = suggestion_for(clinic, boxed)
    # 200 - 54 - 24 = 122 -> 6 boxes = 144
    assert line is not None
    assert (line.on_hand, line.on_order, line.quantity) == (54, 24, 144)


def test_a_draft_order_counts_as_open_so_the_same_boxes_are_not_suggested_twice(
    clinic: Clinic, boxed: LocationItem, manager: User
) -> None:
    result = orders.create_purchase_orders_from_suggestions(actor=manager, clinic=clinic)

    assert len(result.orders) == 1
    line = result.orders[0].lines.get()
    assert (line.item, line.quantity, line.pack_size, line.packs, line.unit_cost) == (
        boxed.item,
        216,
        24,
        9,
        Decimal("0.0800"),
    )  # 200 -> 9 boxes
    assert result.orders[0].status == PurchaseOrder.Status.DRAFT
    assert suggestion_for(clinic, boxed) is None
    assert orders.create_purchase_orders_from_suggestions(actor=manager, clinic=clinic).orders == ()


def test_orders_from_suggestions_are_one_per_supplier_and_skip_items_without_one(
    clinic: Clinic, supply_room: StockLocation, manager: User
) -> None:
    acme, medco = SupplierFactory(name="Acme"), SupplierFactory(name="Medco")
    for name, supplier in (("A1", acme), ("A2", acme), ("M1", medco), ("None", None)):
        LocationItemFactory(
            location=supply_room,
            item=SupplyItemFactory(name=name, supplier=supplier),
            reorder_point=5,
        )

    result = orders.create_purchase_orders_from_suggestions(actor=manager, clinic=clinic)

    assert sorted((po.supplier.name, po.lines.count()) for po in result.orders) == [
        ("Acme", 2),
        ("Medco", 1),
    ]
    assert [item.name for item in result.without_supplier] == ["None"]


def test_nightly_recompute_stores_suggestions_and_is_idempotent(
    clinic: Clinic, boxed: LocationItem, stock: Stock
) -> None:
    assert nightly.recompute_reorder_suggestions(clinic=clinic) == 1
    assert nightly.recompute_reorder_suggestions(clinic=clinic) == 1
    stored = ReorderSuggestion.objects.get()
    assert (stored.location_item, stored.quantity, stored.on_hand, stored.on_order) == (
        boxed,
        216,
        0,
        0,
    )

    stock(boxed, 100)
    assert nightly.recompute_reorder_suggestions(clinic=clinic) == 0
    assert not ReorderSuggestion.objects.exists()


# Purchase orders and receiving ----------------------------------------------------------------


@pytest.fixture
def order(clinic: Clinic, supply_room: StockLocation, manager: User) -> PurchaseOrder:
    supplier = SupplierFactory(name="Medline")
    gauze = SupplyItemFactory(
        name="Gauze", supplier=supplier, pack_size=10, unit_cost=Decimal("0.1000")
    )
    flush = SupplyItemFactory(
        name="Flush",
        supplier=supplier,
        pack_size=30,
        unit_cost=Decimal("0.4500"),
        is_lot_tracked=True,
    )
    LocationItemFactory(location=supply_room, item=gauze, par=50, max_quantity=100)
    po = orders.create_purchase_order(
        actor=manager, clinic=clinic, supplier=supplier, lines=[(gauze, 25), (flush, 30)]
    )
    return orders.send_purchase_order(actor=manager, order=po)


def test_a_manual_order_rounds_each_line_up_to_whole_packs(order: PurchaseOrder) -> None:
    assert {line.item.name: line.quantity for line in order.lines.all()} == {
        "Gauze": 30,
        "Flush": 30,
    }
    assert order.status == PurchaseOrder.Status.SENT
    assert order.sent_at is not None


def test_receiving_records_lots_and_expiry_updates_stock_and_moves_the_order_on(
    order: PurchaseOrder, manager: User, clinic: Clinic, supply_room: StockLocation
) -> None:
    gauze_line = order.lines.get(item__name="Gauze")
    flush_line = order.lines.get(item__name="Flush")
    expiry = clinic.today() + timedelta(days=400)

    orders.receive_purchase_order(
        actor=manager,
        order=order,
        receipts=[
            Receipt(gauze_line.pk, 20),
            Receipt(flush_line.pk, 30, lot_number="F123", expiry=expiry),
        ],
    )

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.PARTLY_RECEIVED
    gauze = LocationItem.objects.get(location=supply_room, item__name="Gauze")
    flush = LocationItem.objects.get(location=supply_room, item__name="Flush")  # created on receipt
    assert (gauze.on_hand, flush.on_hand) == (20, 30)
    lot_stock = LotStock.objects.get(location_item=flush)
    assert (lot_stock.lot.lot_number, lot_stock.lot.expiry, lot_stock.on_hand) == (
        "F123",
        expiry,
        30,
    )
    receive = StockMovement.objects.get(kind="receive", location_item=flush)
    assert (receive.unit_cost, receive.purchase_order_line) == (Decimal("0.4500"), flush_line)

    orders.receive_purchase_order(actor=manager, order=order, receipts=[Receipt(gauze_line.pk, 10)])

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert order.received_at is not None
    assert (
        AuditEvent.objects.filter(object_type="supplies.purchaseorder", action="update").count()
        >= 3
    )
    assert_ledger_consistent()


@pytest.mark.parametrize(
    ("receipt", "field", "message"),
    [
        (
            {"item": "Gauze", "quantity": 31},
            "lines[1].quantity",
            "Only 30 Gauze are still expected",
        ),
        ({"item": "Gauze", "quantity": 0}, "lines[1].quantity", "at least 1"),
        (
            {"item": "Flush", "quantity": 5},
            "lines[1].lot_number",
            "lot-tracked: enter the lot number",
        ),
        (
            {"item": "Gauze", "quantity": 5, "lot_number": "G1"},
            "lines[1].lot_number",
            "not lot-tracked",
        ),
    ],
)
def test_bad_receipts_are_refused_whole(
    order: PurchaseOrder, manager: User, receipt: dict, field: str, message: str
) -> None:
    line = order.lines.get(item__name=receipt.pop("item"))

    with pytest.raises(services.SupplyError, match=message) as refused:
        orders.receive_purchase_order(
            actor=manager, order=order, receipts=[Receipt(line.pk, **receipt)]
        )

    assert refused.value.field == field
    assert not StockMovement.objects.exists()
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.SENT


def test_a_known_lot_with_another_expiry_is_refused(
    order: PurchaseOrder, manager: User, clinic: Clinic
) -> None:
    line = order.lines.get(item__name="Flush")
    expiry = clinic.today() + timedelta(days=100)
    orders.receive_purchase_order(
        actor=manager, order=order, receipts=[Receipt(line.pk, 10, lot_number="F1", expiry=expiry)]
    )

    with pytest.raises(services.SupplyError, match="on file with expiry") as refused:
        orders.receive_purchase_order(
            actor=manager,
            order=order,
            receipts=[Receipt(line.pk, 10, lot_number="F1", expiry=expiry + timedelta(1))],
        )
    assert refused.value.field == "lines[1].expiry"


def test_orders_move_only_along_their_lifecycle(
    order: PurchaseOrder, manager: User, clinic: Clinic
) -> None:
    with pytest.raises(services.SupplyError, match="cannot be sent"):
        orders.send_purchase_order(actor=manager, order=order)
    line = order.lines.get(item__name="Gauze")
    orders.receive_purchase_order(actor=manager, order=order, receipts=[Receipt(line.pk, 1)])
    with pytest.raises(services.SupplyError, match="cannot be cancelled"):
        orders.cancel_purchase_order(actor=manager, order=order)

    supplier = order.supplier
    draft = orders.create_purchase_order(
        actor=manager, clinic=clinic, supplier=supplier, lines=[(line.item, 1)]
    )
    with pytest.raises(services.SupplyError, match="only a sent order can be received"):
        orders.receive_purchase_order(
            actor=manager, order=draft, receipts=[Receipt(draft.lines.get().pk, 1)]
        )
