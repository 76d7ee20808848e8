"""Fixtures for the supplies tests: a clinic with a supply room, a cart and staff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from supplies.models import LocationItem, StockLocation
from supplies.services import orders
from supplies.tests.factories import StockLocationFactory, SupplyRoomFactory


@pytest.fixture
def nurse(make_user: Callable[..., User]) -> User:
    return make_user(roles.NURSE, username="nurse")


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager")


@pytest.fixture
def supply_room(clinic: Clinic) -> StockLocation:
    return SupplyRoomFactory(clinic=clinic)


@pytest.fixture
def cart(clinic: Clinic) -> StockLocation:
    return StockLocationFactory(clinic=clinic, name="Exam 2")


@pytest.fixture
def stock(manager: User) -> Callable[..., LocationItem]:
    """stock(location_item, 10, lot_number="A", expiry=date(...)): receive it through the ledger."""

    def put(
        location_item: LocationItem,
        quantity: int,
        *,
        lot_number: str = "",
        expiry: date | None = None,
    ) -> LocationItem:
        orders.receive_stock(
            actor=manager,
            location_item=location_item,
            quantity=quantity,
            lot_number=lot_number,
            expiry=expiry,
            reason="opening",
        )
        location_item.refresh_from_db()
        return location_item

    return put
