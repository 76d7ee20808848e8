"""Supplies' drill-downs list exactly the rows behind each figure's parts (issue 11.6)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clinicops.core.models import Clinic, User
from clinicops.kpis import registry
from clinicops.kpis import services as kpi_services
from clinicops.kpis.models import MetricDay
from supplies.models import LocationItem, StockLocation
from supplies.services import counts as count_services
from supplies.services import orders as order_services
from supplies.services import usage
from supplies.services.usage import UsageLine
from supplies.tests.factories import LocationItemFactory, SupplyItemFactory

pytestmark = pytest.mark.django_db

Stock = Callable[..., LocationItem]
MONDAY = date(2026, 3, 9)
WEEK = [MONDAY + timedelta(days=i) for i in range(7)]
NEW_YORK = ZoneInfo("America/New_York")


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=NEW_YORK)


def week_parts(clinic: Clinic, key: str) -> tuple[Decimal, Decimal]:
    kpi_services.rollup_clinic_days(clinic=clinic, days=WEEK)
    rows = MetricDay.objects.filter(clinic=clinic, key=key, day__in=WEEK)
    return sum(r.numerator for r in rows), sum(r.denominator for r in rows)


def test_the_supply_cost_drilldown_adds_up_to_the_figures_cost(
    nurse: User, cart: StockLocation, stock: Stock
) -> None:
    gauze = stock(
        LocationItemFactory(
            location=cart, item=SupplyItemFactory(name="Gauze", unit_cost=Decimal("0.12"))
        ),
        200,
    )
    for n, (day, quantity) in enumerate([(WEEK[0], 10), (WEEK[2], 4), (WEEK[6], 7)]):
        usage.log_usage(
            actor=nurse,
            location=cart,
            lines=[UsageLine(gauze.item_id, quantity)],
            idempotency_key=f"k{n}",
            now=at(day, 10),
        )

    cost, _ = week_parts(cart.clinic, "supply_cost_per_visit")
    drill = registry.get("supply_cost_per_visit").drill(cart.clinic, WEEK[0], WEEK[-1])

    assert sum(row[drill.columns.index("Cost")] for row in drill.rows) == cost == Decimal("2.52")


def test_the_stockout_drilldown_lists_the_item_days_at_zero_from_the_ledger(
    manager: User, nurse: User, clinic: Clinic, cart: StockLocation
) -> None:
    """The rows are the ledger's item-days at zero, the metric's numerator (no snapshot)."""
    full = LocationItemFactory(location=cart, par=10)
    saline = LocationItemFactory(location=cart, par=10, item__name="Saline")
    for item in (full, saline):
        order_services.receive_stock(
            actor=manager, location_item=item, quantity=5, reason="opening", now=at(WEEK[0], 7)
        )
    # Saline emptied on Wednesday, refilled on Friday: at zero Wednesday and Thursday.
    count_services.quick_count(
        actor=nurse, location_item=saline, counted=0, reason="lost", now=at(WEEK[2], 9)
    )
    order_services.receive_stock(
        actor=manager, location_item=saline, quantity=4, now=at(WEEK[4], 8)
    )

    zero, tracked = week_parts(clinic, "stockout_rate")
    drill = registry.get("stockout_rate").drill(clinic, WEEK[0], WEEK[-1])

    assert (len(drill.rows), tracked) == (zero, 14) == (2, 14)
    column = drill.columns.index
    assert [(row[0], row[column("Item")], row[column("On hand")]) for row in drill.rows] == [
        (WEEK[2], "Saline", 0),
        (WEEK[3], "Saline", 0),
    ]
