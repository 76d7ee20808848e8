"""Factories for the supplies model."""

from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from clinicops.core.tests.factories import ClinicFactory
from supplies.models import (
    ItemBarcode,
    LocationItem,
    Lot,
    StockLocation,
    Supplier,
    SupplyItem,
)


class SupplierFactory(DjangoModelFactory[Supplier]):
    class Meta:
        model = Supplier
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Supplier {n}")
    lead_time_days = 5


class SupplyItemFactory(DjangoModelFactory[SupplyItem]):
    class Meta:
        model = SupplyItem
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Supply item {n}")
    category = "Wound care"
    unit_of_use = "each"
    pack_size = 1
    unit_cost = Decimal("1.0000")
    supplier = factory.SubFactory(SupplierFactory)


class ItemBarcodeFactory(DjangoModelFactory[ItemBarcode]):
    class Meta:
        model = ItemBarcode

    item = factory.SubFactory(SupplyItemFactory)
    code = factory.Sequence(lambda n: f"0{n:012d}")


class StockLocationFactory(DjangoModelFactory[StockLocation]):
    class Meta:
        model = StockLocation

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Exam {n + 1} cart")
    kind = StockLocation.Kind.POINT_OF_USE


class SupplyRoomFactory(StockLocationFactory):
    name = "Supply room"
    kind = StockLocation.Kind.SUPPLY_ROOM
    review_period_days = 7


class LocationItemFactory(DjangoModelFactory[LocationItem]):
    """A stocked item. Its on hand starts at 0: put stock in through `services.orders.receive_stock`
    so the ledger agrees."""

    class Meta:
        model = LocationItem

    location = factory.SubFactory(StockLocationFactory)
    item = factory.SubFactory(SupplyItemFactory)
    par = 10
    reorder_point = 4
    max_quantity = 20


class LotFactory(DjangoModelFactory[Lot]):
    class Meta:
        model = Lot

    item = factory.SubFactory(SupplyItemFactory, is_lot_tracked=True)
    lot_number = factory.Sequence(lambda n: f"L{n:05d}")
