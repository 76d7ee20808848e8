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
from supplies.services import counts, nightly, usage, waste
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


def test_stockout_rate_counts_zero_on_hand_tracked_item_days(
    nurse: User, clinic: Clinic, cart: StockLocation, stock: Stock
) -> None:
    stocked = [stock(LocationItemFactory(location=cart, par=10), 5) for _ in range(3)]
    LocationItemFactory(location=cart, par=10)  # tracked, empty: a stockout
    LocationItemFactory(location=cart, par=0, reorder_point=0, max_quantity=0)  # not tracked
    LocationItemFactory(location=cart, par=10, is_active=False)  # retired

    assert nightly.snapshot_stockouts(clinic=clinic, day=DAY) == 4
    assert kpis.stockout_rate_parts(clinic, DAY) == (1, 4)

    # Re-running the night later (after more use) does not rewrite the day.
    counts.quick_count(actor=nurse, location_item=stocked[0], counted=0, reason="lost")
    assert nightly.snapshot_stockouts(clinic=clinic, day=DAY) == 0
    assert kpis.stockout_rate_parts(clinic, DAY) == (1, 4)

    # The next day sees the new stockout; a week's rate is recomputed from the parts.
    nightly.snapshot_stockouts(clinic=clinic, day=DAY + timedelta(days=1))
    parts = [kpis.stockout_rate_parts(clinic, DAY + timedelta(days=n)) for n in range(2)]
    assert parts == [(1, 4), (2, 4)]
    assert sum(z for z, _ in parts) / sum(t for _, t in parts) == 3 / 8


def test_the_metrics_are_in_the_kpi_catalogue() -> None:
    from clinicops.kpis import registry

    assert registry.get("supply_cost_per_visit").compute is kpis.supply_cost_per_visit_parts
    stockout = registry.get("stockout_rate")
    assert stockout.compute is kpis.stockout_rate_parts
    assert not stockout.higher_is_better
