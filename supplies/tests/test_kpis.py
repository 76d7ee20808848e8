"""Supply cost per visit and stockout rate, on hand-computed examples."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps

from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import PatientFactory, StaffFactory
from supplies import kpis
from supplies.models import LocationItem, StockLocation
from supplies.services import counts as count_services
from supplies.services import orders as order_services
from supplies.services import usage, waste
from supplies.services.usage import UsageLine
from supplies.tests.factories import LocationItemFactory, StockLocationFactory, SupplyItemFactory

pytestmark = pytest.mark.django_db

Stock = Callable[..., LocationItem]
DAY = date(2026, 3, 10)
NEW_YORK = ZoneInfo("America/New_York")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK)


@pytest.fixture
def priced(cart: StockLocation, stock: Stock) -> tuple[LocationItem, LocationItem]:
    gauze = stock(
        LocationItemFactory(
            location=cart, item=SupplyItemFactory(name="Gauze", unit_cost=Decimal("0.12"))
        ),
        200,
    )
    flush = stock(
        LocationItemFactory(
            location=cart, item=SupplyItemFactory(name="Flush", unit_cost=Decimal("0.45"))
        ),
        100,
    )
    return gauze, flush


def test_supply_cost_per_visit_on_a_hand_computed_day(
    nurse: User,
    cart: StockLocation,
    priced: tuple[LocationItem, LocationItem],
    other_clinic: Clinic,
    stock: Stock,
) -> None:
    gauze, flush = priced
    clinic = cart.clinic

    def log(key: str, when: datetime, *lines: UsageLine):
        return usage.log_usage(
            actor=nurse, location=cart, lines=list(lines), idempotency_key=key, now=when
        )

    log("a", at(DAY, 9), UsageLine(gauze.item_id, 10))  # 10 x 0.12 = 1.20
    log("b", at(DAY, 23, 59), UsageLine(flush.item_id, 4))  # 4 x 0.45 = 1.80 (04:59 UTC next day)
    undone = log("c", at(DAY, 11), UsageLine(flush.item_id, 3))  # undone: nets to 0
    usage.undo_usage(actor=nurse, submission=undone.submission, now=at(DAY, 11, 1))
    log("d", at(DAY, 0) - timedelta(minutes=1), UsageLine(gauze.item_id, 50))  # the day before
    log("e", at(DAY + timedelta(days=1), 0), UsageLine(gauze.item_id, 50))  # the day after
    # The price changes later: use already logged keeps the cost of its time.
    gauze.item.unit_cost = Decimal("9.99")
    gauze.item.save()
    # Another clinic's use does not count.
    far = stock(
        LocationItemFactory(location=StockLocationFactory(clinic=other_clinic), item=gauze.item), 5
    )
    usage.log_usage(
        actor=nurse,
        location=far.location,
        lines=[UsageLine(gauze.item_id, 5)],
        idempotency_key="f",
        now=at(DAY, 9),
    )

    cost, visits = kpis.supply_cost_per_visit_parts(clinic, DAY, visits=4)

    assert (cost, visits) == (Decimal("3.0000"), 4)
    assert cost / visits == Decimal("0.75")
    # Receipts, transfers and waste are not use.
    waste.waste_stock(
        actor=nurse, location_item=gauze, quantity=1, reason="damaged", now=at(DAY, 12)
    )
    assert kpis.supply_cost(clinic, DAY) == Decimal("3.0000")


def test_completed_visits_are_counted_from_scheduling_when_it_exists(clinic: Clinic) -> None:
    try:
        appointment = apps.get_model("scheduling", "Appointment")
        appointment_type = apps.get_model("scheduling", "AppointmentType")
    except LookupError:
        pytest.skip("scheduling has no appointments yet")
    kind = appointment_type.objects.create(clinic=clinic, name="Follow-up", duration_minutes=20)
    provider = StaffFactory(clinics=[clinic])
    patient = PatientFactory(clinic=clinic)
    for hour, status in ((9, "completed"), (10, "completed"), (11, "no_show"), (23, "completed")):
        start = at(DAY, hour)
        appointment.objects.create(
            clinic=clinic,
            patient=patient,
            provider=provider,
            appointment_type=kind,
            start=start,
            end=start + timedelta(minutes=20),
            status=status,
        )

    assert kpis.completed_visits(clinic, DAY) == 3
    assert kpis.supply_cost_per_visit_parts(clinic, DAY) == (Decimal("0.0000"), 3)


def test_stockout_rate_counts_zero_on_hand_tracked_item_days_from_the_ledger(
    nurse: User, manager: User, clinic: Clinic, cart: StockLocation
) -> None:
    """No nightly snapshot: each tracked item's on hand at the local day's end is read from
    the ledger, so a past day can be computed (and recomputed) whenever."""
    items = [LocationItemFactory(location=cart, par=10) for _ in range(5)]
    for item in items:
        order_services.receive_stock(
            actor=manager, location_item=item, quantity=5, reason="opening", now=at(DAY, 7)
        )
    LocationItemFactory(location=cart, par=0, reorder_point=0, max_quantity=0)  # not tracked
    retired = LocationItemFactory(location=cart, par=10)
    order_services.receive_stock(
        actor=manager, location_item=retired, quantity=1, reason="opening", now=at(DAY, 7)
    )
    LocationItem.objects.filter(pk=retired.pk).update(is_active=False)  # no longer stocked
    # Emptied at 23:30 local on DAY (04:30 UTC the next day): DAY's stockout.
    count_services.quick_count(
        actor=nurse, location_item=items[0], counted=0, reason="lost", now=at(DAY, 23, 30)
    )
    # Emptied the next day, then refilled the day after.
    next_day = DAY + timedelta(days=1)
    count_services.quick_count(
        actor=nurse, location_item=items[1], counted=0, reason="lost", now=at(next_day, 9)
    )
    order_services.receive_stock(
        actor=manager, location_item=items[1], quantity=3, now=at(next_day + timedelta(days=1), 8)
    )

    assert kpis.stockout_rate_parts(clinic, DAY - timedelta(days=1)) == (0, 0)  # not stocked yet
    assert kpis.stockout_rate_parts(clinic, DAY) == (1, 5)
    assert kpis.stockout_rate_parts(clinic, next_day) == (2, 5)
    assert kpis.stockout_rate_parts(clinic, next_day + timedelta(days=1)) == (1, 5)
    assert kpis.stockout_rate_range(clinic, DAY - timedelta(days=1), DAY + timedelta(days=3)) == {
        DAY: (1, 5),
        next_day: (2, 5),
        DAY + timedelta(days=2): (1, 5),
        DAY + timedelta(days=3): (1, 5),
    }


def test_a_backfill_of_the_stockout_rate_reads_the_ledger_alone(
    manager: User, clinic: Clinic, cart: StockLocation
) -> None:
    from clinicops.kpis import selectors
    from clinicops.kpis import services as kpi_services

    items = [LocationItemFactory(location=cart, par=10) for _ in range(5)]
    for item in items:
        order_services.receive_stock(
            actor=manager, location_item=item, quantity=5, reason="opening", now=at(DAY, 7)
        )
    kpi_services.rollup_clinic_days(clinic=clinic, days=[DAY + timedelta(days=n) for n in range(7)])
    # 0 of 5 items at zero every day: 0 %, not "no data"
    assert selectors.figure(clinic, "stockout_rate", DAY, DAY + timedelta(days=6)) == 0


def test_the_metrics_are_in_the_kpi_catalogue() -> None:
    from clinicops.kpis import registry

    assert registry.get("supply_cost_per_visit").compute is kpis.supply_cost_per_visit_parts
    stockout = registry.get("stockout_rate")
    assert stockout.compute is kpis.stockout_rate_parts
    assert not stockout.higher_is_better
