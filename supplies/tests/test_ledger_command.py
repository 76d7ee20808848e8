"""`manage.py check_stock_ledger` proves on hand equals the ledger, and names any drift."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from clinicops.core.models import Clinic, User
from supplies.models import LocationItem, StockLocation
from supplies.services import usage
from supplies.services.usage import UsageLine
from supplies.tests.factories import LocationItemFactory, SupplyItemFactory

pytestmark = pytest.mark.django_db

Stock = Callable[..., LocationItem]


@pytest.fixture
def busy_cart(
    nurse: User, cart: StockLocation, stock: Stock, clinic: Clinic
) -> dict[str, LocationItem]:
    gauze = stock(
        LocationItemFactory(location=cart, item=SupplyItemFactory(name="Gauze", sku="G44")), 10
    )
    flush = LocationItemFactory(
        location=cart, item=SupplyItemFactory(name="Flush", sku="SF10", is_lot_tracked=True)
    )
    stock(flush, 5, lot_number="F1", expiry=clinic.today() + timedelta(days=30))
    usage.log_usage(
        actor=nurse,
        location=cart,
        lines=[UsageLine(gauze.item_id, 3), UsageLine(flush.item_id, 2)],
        idempotency_key="k",
    )
    return {"gauze": gauze, "flush": flush}


def run() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("check_stock_ledger", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_consistent_ledger_passes(busy_cart: dict[str, LocationItem]) -> None:
    out, err = run()
    assert "consistent" in out
    assert err == ""


def test_an_on_hand_edited_around_the_services_is_named_and_fails(
    busy_cart: dict[str, LocationItem],
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE supplies_locationitem SET on_hand = 12 WHERE id = %s", [busy_cart["gauze"].pk]
        )

    with pytest.raises(CommandError, match="1 stock figure"):
        run()


def test_mismatches_name_clinic_location_item_and_lot(busy_cart: dict[str, LocationItem]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE supplies_locationitem SET on_hand = 12 WHERE id = %s", [busy_cart["gauze"].pk]
        )
        cursor.execute(
            "UPDATE supplies_lotstock SET on_hand = 9 WHERE location_item_id = %s",
            [busy_cart["flush"].pk],
        )
    err = StringIO()

    with pytest.raises(CommandError, match="3 stock figure"):
        call_command("check_stock_ledger", stdout=StringIO(), stderr=err)

    lines = err.getvalue().splitlines()
    where = "MISMATCH Riverside Family Clinic / Exam 2"
    assert f"{where} / Gauze (SKU G44): on hand 12, ledger sum 7 (off by +5)" in lines
    assert f"{where} / Flush (SKU SF10) lot F1: on hand 9, ledger sum 3 (off by +6)" in lines
    assert f"{where} / Flush (SKU SF10): its lots hold 9, more than the 3 on hand" in lines


def test_the_check_can_be_limited_to_one_clinic(
    busy_cart: dict[str, LocationItem], other_clinic: Clinic
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE supplies_locationitem SET on_hand = 12 WHERE id = %s", [busy_cart["gauze"].pk]
        )

    out = StringIO()
    call_command(
        "check_stock_ledger", "--clinic", str(other_clinic.pk), stdout=out, stderr=StringIO()
    )
    assert "consistent" in out.getvalue()
    with pytest.raises(CommandError, match="No clinic with id"):
        call_command(
            "check_stock_ledger", "--clinic", "999999", stdout=StringIO(), stderr=StringIO()
        )
