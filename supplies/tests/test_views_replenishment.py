"""Below par and the pick list, reorder suggestions and purchase orders, through the views."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import pytest
from django.test import Client

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.test_layout import assert_layout
from supplies.models import (
    LocationItem,
    LotStock,
    PurchaseOrder,
    StockLocation,
    StockMovement,
)
from supplies.services import orders
from supplies.tests.factories import (
    LocationItemFactory,
    StockLocationFactory,
    SupplierFactory,
    SupplyItemFactory,
    SupplyRoomFactory,
)

pytestmark = pytest.mark.django_db

REFILL_KEY = re.compile(r'name="idempotency_key" value="([0-9a-f]{32})"')


@pytest.fixture
def gauze_item():
    return SupplyItemFactory(name="Gauze sponge", sku="G44", pack_size=100)


@pytest.fixture
def room_gauze(supply_room: StockLocation, gauze_item, stock) -> LocationItem:
    li = LocationItemFactory(
        location=supply_room, item=gauze_item, par=200, reorder_point=100, max_quantity=300
    )
    return stock(li, 50)


@pytest.fixture
def cart_gauze(cart: StockLocation, gauze_item, stock) -> LocationItem:
    li = LocationItemFactory(
        location=cart, item=gauze_item, par=20, reorder_point=5, max_quantity=30
    )
    return stock(li, 4)


def refresh(li: LocationItem) -> int:
    li.refresh_from_db()
    return li.on_hand


# --- below par -----------------------------------------------------------------------------


def test_the_board_lists_what_is_below_par_with_the_refill(
    client: Client, nurse: User, room_gauze: LocationItem, cart_gauze: LocationItem
) -> None:
    client.force_login(nurse)

    response = client.get("/supplies/below-par/")

    html = response.content.decode()
    assert response.status_code == 200
    assert_layout(response)
    assert "Exam 2" in html
    assert "Refill 16" in html  # par 20 - on hand 4
    assert "Supply room" in html  # 50 <= reorder point 100: on the next order


def test_one_tap_refills_the_cart_from_the_supply_room_once(
    client: Client, nurse: User, room_gauze: LocationItem, cart_gauze: LocationItem
) -> None:
    client.force_login(nurse)
    key = REFILL_KEY.search(client.get("/supplies/below-par/").content.decode()).group(1)
    url = f"/supplies/below-par/{cart_gauze.pk}/refill/"

    first = client.post(url, {"idempotency_key": key}, headers={"HX-Request": "true"})
    second = client.post(url, {"idempotency_key": key}, headers={"HX-Request": "true"})

    assert first.status_code == second.status_code == 200
    assert "<html" not in first.content.decode()
    assert "Moved 16 each of Gauze sponge from the supply room to Exam 2." in first.content.decode()
    assert "nothing moved twice" in second.content.decode()
    assert refresh(cart_gauze) == 20
    assert refresh(room_gauze) == 34
    assert StockMovement.objects.filter(kind=StockMovement.Kind.TRANSFER_IN).count() == 1


def test_a_refill_without_javascript_redirects_with_a_message(
    client: Client, nurse: User, room_gauze: LocationItem, cart_gauze: LocationItem
) -> None:
    client.force_login(nurse)

    response = client.post(
        f"/supplies/below-par/{cart_gauze.pk}/refill/", {"idempotency_key": "a" * 32}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/supplies/below-par/"
    assert "Moved 16 each of Gauze sponge" in response.content.decode()


@pytest.mark.parametrize("key", ["", "x" * 65])
def test_a_refill_with_a_bad_key_moves_nothing(
    client: Client, nurse: User, room_gauze: LocationItem, cart_gauze: LocationItem, key: str
) -> None:
    client.force_login(nurse)

    response = client.post(
        f"/supplies/below-par/{cart_gauze.pk}/refill/",
        {"idempotency_key": key},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "out of date" in response.content.decode()
    assert refresh(cart_gauze) == 4


def test_a_refill_at_par_is_refused(
    client: Client, nurse: User, room_gauze: LocationItem, cart: StockLocation, stock
) -> None:
    full = stock(
        LocationItemFactory(
            location=cart, item=room_gauze.item, par=5, reorder_point=2, max_quantity=10
        ),
        5,
    )
    client.force_login(nurse)

    response = client.post(
        f"/supplies/below-par/{full.pk}/refill/",
        {"idempotency_key": "b" * 32},
        headers={"HX-Request": "true"},
    )

    assert "already at par" in response.content.decode()
    assert refresh(full) == 5


def test_refilling_another_clinics_cart_is_not_found(
    client: Client, nurse: User, other_clinic: Clinic
) -> None:
    elsewhere = LocationItemFactory(location=StockLocationFactory(clinic=other_clinic))
    client.force_login(nurse)

    response = client.post(
        f"/supplies/below-par/{elsewhere.pk}/refill/", {"idempotency_key": "c" * 32}
    )

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("role", "board", "refill"),
    [(roles.FRONT_DESK, 403, 403), (roles.PROVIDER, 200, 403), (roles.MANAGER, 200, 302)],
)
def test_board_and_refill_follow_permissions(
    client: Client,
    make_user: Callable[..., User],
    room_gauze: LocationItem,
    cart_gauze: LocationItem,
    role: str,
    board: int,
    refill: int,
) -> None:
    client.force_login(make_user(role))

    assert client.get("/supplies/below-par/").status_code == board
    response = client.post(
        f"/supplies/below-par/{cart_gauze.pk}/refill/", {"idempotency_key": "d" * 32}
    )
    assert response.status_code == refill


def test_the_supplies_entry_sends_each_role_to_its_screen(
    client: Client, make_user: Callable[..., User]
) -> None:
    client.force_login(make_user(roles.NURSE))
    assert client.get("/supplies/")["Location"] == "/supplies/use/"
    client.force_login(make_user(roles.ADMINISTRATOR))
    assert client.get("/supplies/")["Location"] == "/supplies/below-par/"
    client.force_login(make_user(roles.FRONT_DESK))
    assert client.get("/supplies/").status_code == 403


def test_the_navigation_shows_supplies_to_nurses_only_among_desk_and_nurse(
    client: Client, make_user: Callable[..., User]
) -> None:
    client.force_login(make_user(roles.NURSE))
    assert 'href="/supplies/"' in client.get("/").content.decode()
    client.force_login(make_user(roles.FRONT_DESK))
    assert 'href="/supplies/"' not in client.get("/").content.decode()


# --- reorder and purchase orders -----------------------------------------------------------


def test_a_manager_turns_suggestions_into_draft_orders(
    client: Client, manager: User, room_gauze: LocationItem
) -> None:
    client.force_login(manager)
    page = client.get("/supplies/reorder/")
    assert page.status_code == 200
    assert_layout(page)
    # max 300 - on hand 50 = 250, in packs of 100: 300
    assert "<strong>300</strong>" in page.content.decode()

    response = client.post("/supplies/reorder/", {"location_item": [str(room_gauze.pk)]})

    assert response.status_code == 302
    assert response["Location"] == "/supplies/orders/"
    order = PurchaseOrder.objects.get()
    assert order.status == PurchaseOrder.Status.DRAFT
    assert order.lines.get().quantity == 300
    # a second tap finds the boxes already on order
    client.post("/supplies/reorder/", {"location_item": [str(room_gauze.pk)]})
    assert PurchaseOrder.objects.count() == 1


@pytest.mark.parametrize("ids", [[], ["abc"], ["99999999"]])
def test_reorder_with_nothing_valid_ticked_creates_nothing(
    client: Client, manager: User, room_gauze: LocationItem, ids: list[str]
) -> None:
    client.force_login(manager)

    response = client.post("/supplies/reorder/", {"location_item": ids})

    assert response.status_code in (200, 302)
    assert not PurchaseOrder.objects.exists()


def test_nurses_cannot_see_reorder_suggestions(client: Client, nurse: User) -> None:
    client.force_login(nurse)

    assert client.get("/supplies/reorder/").status_code == 403
    assert client.post("/supplies/reorder/", {}).status_code == 403


@pytest.fixture
def sent_order(manager: User, clinic: Clinic, supply_room: StockLocation) -> PurchaseOrder:
    supplier = SupplierFactory(name="Medline")
    flush = SupplyItemFactory(name="Saline flush", sku="SF10", is_lot_tracked=True, pack_size=30)
    gloves = SupplyItemFactory(name="Exam gloves", sku="GLV", pack_size=50)
    LocationItemFactory(location=supply_room, item=flush, par=60, reorder_point=30, max_quantity=90)
    order = orders.create_purchase_order(
        actor=manager, clinic=clinic, supplier=supplier, lines=[(flush, 30), (gloves, 50)]
    )
    return orders.send_purchase_order(actor=manager, order=order)


def test_an_order_is_received_with_lots_and_expiry(
    client: Client, nurse: User, sent_order: PurchaseOrder
) -> None:
    client.force_login(nurse)
    flush_line = sent_order.lines.get(item__sku="SF10")
    gloves_line = sent_order.lines.get(item__sku="GLV")
    page = client.get(f"/supplies/orders/{sent_order.pk}/")
    assert page.status_code == 200
    assert_layout(page)

    response = client.post(
        f"/supplies/orders/{sent_order.pk}/receive/",
        {
            f"qty_{flush_line.pk}": "30",
            f"lot_{flush_line.pk}": "LOT-7",
            f"expiry_{flush_line.pk}": "2031-05-31",
            f"qty_{gloves_line.pk}": "20",
        },
    )

    assert response.status_code == 302
    sent_order.refresh_from_db()
    assert sent_order.status == PurchaseOrder.Status.PARTLY_RECEIVED
    stock = LotStock.objects.get(lot__lot_number="LOT-7")
    assert stock.on_hand == 30
    assert stock.lot.expiry == date(2031, 5, 31)
    gloves_line.refresh_from_db()
    assert gloves_line.received_quantity == 20


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Enter at least one received quantity."),
        ({"flush": "31"}, "Only 30 are still expected."),
        ({"flush": "-1"}, "Cannot be negative."),
        ({"flush": "lots"}, "Enter a whole number."),
        ({"flush": "10"}, "Enter the lot number from the label."),
        ({"flush": "10", "lot": "L1", "expiry": "31/05/2031"}, "Enter a date (YYYY-MM-DD)."),
        ({"flush": "10", "lot": "L" * 41}, "Ensure this value has at most 40 characters"),
    ],
)
def test_bad_receipts_are_refused_and_nothing_is_received(
    client: Client, nurse: User, sent_order: PurchaseOrder, data: dict, message: str
) -> None:
    client.force_login(nurse)
    line = sent_order.lines.get(item__sku="SF10")
    post = {}
    if "flush" in data:
        post[f"qty_{line.pk}"] = data["flush"]
    if "lot" in data:
        post[f"lot_{line.pk}"] = data["lot"]
    if "expiry" in data:
        post[f"expiry_{line.pk}"] = data["expiry"]

    response = client.post(f"/supplies/orders/{sent_order.pk}/receive/", post)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.RECEIVE).exists()


def test_a_lot_on_file_with_another_expiry_is_refused_on_its_field(
    client: Client, nurse: User, sent_order: PurchaseOrder
) -> None:
    from supplies.models import Lot

    line = sent_order.lines.get(item__sku="SF10")
    Lot.objects.create(item=line.item, lot_number="L9", expiry=date(2030, 1, 31))
    client.force_login(nurse)

    response = client.post(
        f"/supplies/orders/{sent_order.pk}/receive/",
        {f"qty_{line.pk}": "5", f"lot_{line.pk}": "L9", f"expiry_{line.pk}": "2031-01-31"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "is on file with expiry 2030-01-31" in html
    assert f'href="#id_expiry_{line.pk}"' in html


def test_orders_are_sent_and_cancelled_by_a_manager(
    client: Client, manager: User, nurse: User, clinic: Clinic, supply_room: StockLocation
) -> None:
    item = SupplyItemFactory()
    order = orders.create_purchase_order(
        actor=manager, clinic=clinic, supplier=item.supplier, lines=[(item, 3)]
    )
    client.force_login(nurse)
    assert client.post(f"/supplies/orders/{order.pk}/send/").status_code == 403

    client.force_login(manager)
    listing = client.get("/supplies/orders/")
    assert listing.status_code == 200
    assert_layout(listing)
    assert client.post(f"/supplies/orders/{order.pk}/send/").status_code == 302
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.SENT
    # sending twice is refused with a message, not an error
    again = client.post(f"/supplies/orders/{order.pk}/send/", follow=True)
    assert "cannot be sent" in again.content.decode()
    client.post(f"/supplies/orders/{order.pk}/cancel/")
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.CANCELLED


def test_another_clinics_order_is_not_found(
    client: Client, manager: User, other_clinic: Clinic
) -> None:
    SupplyRoomFactory(clinic=other_clinic)
    item = SupplyItemFactory()
    outsider = orders.create_purchase_order(
        actor=manager, clinic=other_clinic, supplier=item.supplier, lines=[(item, 1)]
    )
    client.force_login(manager)

    assert client.get(f"/supplies/orders/{outsider.pk}/").status_code == 404
    assert client.post(f"/supplies/orders/{outsider.pk}/send/").status_code == 404
    assert client.post(f"/supplies/orders/{outsider.pk}/receive/", {}).status_code == 404
