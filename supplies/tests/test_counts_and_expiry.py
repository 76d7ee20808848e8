"""Cycle counts with variances and reasons; expiry lists, waste and alerts; levels and par."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, User
from supplies import selectors, services
from supplies.models import (
    CountSession,
    ExpiryAlert,
    LocationItem,
    LotStock,
    StockLocation,
    StockMovement,
    SupplyItem,
)
from supplies.services import counts, levels, nightly, usage, waste
from supplies.services.counts import CountEntry
from supplies.services.usage import UsageLine
from supplies.tests.factories import LocationItemFactory, SupplyItemFactory

pytestmark = pytest.mark.django_db

Stock = Callable[..., LocationItem]


def assert_ledger_consistent() -> None:
    assert selectors.ledger_mismatches() == []


@pytest.fixture
def gauze(cart: StockLocation, stock: Stock) -> LocationItem:
    return stock(LocationItemFactory(location=cart, item=SupplyItemFactory(name="Gauze")), 10)


@pytest.fixture
def gloves(cart: StockLocation, stock: Stock) -> LocationItem:
    return stock(LocationItemFactory(location=cart, item=SupplyItemFactory(name="Gloves")), 6)


# Counts ----------------------------------------------------------------------------------------


def test_a_count_shows_variances_and_posts_reasoned_adjustments(
    nurse: User, cart: StockLocation, gauze: LocationItem, gloves: LocationItem
) -> None:
    session = counts.start_count(actor=nurse, location=cart)
    counts.record_count(
        actor=nurse,
        session=session,
        entries=[CountEntry(gauze.item_id, 7), CountEntry(gloves.item_id, 6)],
    )

    variances = {
        line.location_item.item.name: line.diff for line in selectors.count_variances(session.pk)
    }
    assert variances == {"Gauze": -3, "Gloves": 0}

    with pytest.raises(services.SupplyError, match="Give a reason for the variance of -3 on Gauze"):
        counts.post_count(actor=nurse, session=session)
    gauze_line = session.lines.get(location_item=gauze)
    movements = counts.post_count(actor=nurse, session=session, reasons={gauze_line.pk: "lost"})

    assert [(m.kind, m.quantity, m.reason) for m in movements] == [("count_adjust", -3, "lost")]
    gauze.refresh_from_db()
    assert gauze.on_hand == 7
    session.refresh_from_db()
    assert (session.status, session.posted_by) == (CountSession.Status.POSTED, nurse)
    assert AuditEvent.objects.filter(object_type="supplies.countsession").exists()
    assert_ledger_consistent()


def test_an_invalid_reason_is_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    session = counts.start_count(actor=nurse, location=cart)
    (line,) = counts.record_count(
        actor=nurse, session=session, entries=[CountEntry(gauze.item_id, 12)]
    )

    with pytest.raises(services.SupplyError, match="Give a reason") as refused:
        counts.post_count(actor=nurse, session=session, reasons={line.pk: "because"})

    assert refused.value.field == f"reason[{line.pk}]"
    gauze.refresh_from_db()
    assert gauze.on_hand == 10


def test_use_logged_between_counting_and_posting_does_not_distort_the_adjustment(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    session = counts.start_count(actor=nurse, location=cart)
    (line,) = counts.record_count(
        actor=nurse, session=session, entries=[CountEntry(gauze.item_id, 8)]
    )
    usage.log_usage(
        actor=nurse, location=cart, lines=[UsageLine(gauze.item_id, 3)], idempotency_key="k"
    )

    counts.post_count(actor=nurse, session=session, reasons={line.pk: "miscounted"})

    gauze.refresh_from_db()
    assert gauze.on_hand == 5  # 8 really there when counted, 3 used since
    assert_ledger_consistent()


def test_a_recount_replaces_the_first_figure(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    session = counts.start_count(actor=nurse, location=cart)
    counts.record_count(actor=nurse, session=session, entries=[CountEntry(gauze.item_id, 3)])
    counts.record_count(actor=nurse, session=session, entries=[CountEntry(gauze.item_id, 10)])

    assert session.lines.get().counted == 10
    assert counts.post_count(actor=nurse, session=session) == []  # no variance, no reason needed


def test_one_open_count_per_location_and_closed_counts_stay_closed(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    session = counts.start_count(actor=nurse, location=cart)
    with pytest.raises(services.SupplyError, match="already open"):
        counts.start_count(actor=nurse, location=cart)

    counts.cancel_count(actor=nurse, session=session)
    with pytest.raises(services.SupplyError, match="already closed"):
        counts.record_count(actor=nurse, session=session, entries=[CountEntry(gauze.item_id, 1)])
    counts.start_count(actor=nurse, location=cart)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"item_id": "x", "counted": 1}, "lines[1].item"),
        ({"item_id": None, "counted": 1}, "lines[1].item"),
        ({"counted": -1}, "lines[1].counted"),
        ({"counted": 1.5}, "lines[1].counted"),
        ({"counted": 10**9}, "lines[1].counted"),
        ({"item_id": 999999, "counted": 1}, "lines[1].item"),
    ],
)
def test_bad_count_entries_are_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem, entry: dict, field: str
) -> None:
    session = counts.start_count(actor=nurse, location=cart)
    with pytest.raises(services.SupplyError) as refused:
        counts.record_count(
            actor=nurse,
            session=session,
            entries=[CountEntry(**{"item_id": gauze.item_id, **entry})],
        )
    assert refused.value.field == field
    assert not session.lines.exists()


def test_a_quick_count_posts_at_once(nurse: User, gauze: LocationItem) -> None:
    counts.quick_count(actor=nurse, location_item=gauze, counted=4, reason="damaged")

    gauze.refresh_from_db()
    assert gauze.on_hand == 4
    with pytest.raises(services.SupplyError, match="Give a reason"):
        counts.quick_count(actor=nurse, location_item=gauze, counted=5)
    assert_ledger_consistent()


def test_lots_are_counted_lot_by_lot(
    nurse: User, cart: StockLocation, stock: Stock, clinic: Clinic
) -> None:
    item = SupplyItemFactory(name="Flush", is_lot_tracked=True)
    li = LocationItemFactory(location=cart, item=item)
    stock(li, 5, lot_number="A", expiry=clinic.today() + timedelta(days=10))
    stock(li, 5, lot_number="B", expiry=clinic.today() + timedelta(days=20))
    lot_a = li.lot_stocks.get(lot__lot_number="A").lot
    lot_b = li.lot_stocks.get(lot__lot_number="B").lot

    session = counts.start_count(actor=nurse, location=cart)
    lines = counts.record_count(
        actor=nurse,
        session=session,
        entries=[CountEntry(item.pk, 2, lot_a.pk), CountEntry(item.pk, 6, lot_b.pk)],
    )
    counts.post_count(
        actor=nurse, session=session, reasons={lines[0].pk: "expired", lines[1].pk: "found"}
    )

    li.refresh_from_db()
    assert li.on_hand == 8
    assert dict(
        LotStock.objects.filter(location_item=li).values_list("lot__lot_number", "on_hand")
    ) == {"A": 2, "B": 6}
    assert_ledger_consistent()


def lots_of(li: LocationItem) -> dict[str, int]:
    return dict(LotStock.objects.filter(location_item=li).values_list("lot__lot_number", "on_hand"))


def test_a_quick_count_of_an_item_in_lots_sets_the_total_first_expiring_lots_first(
    nurse: User, cart: StockLocation, stock: Stock, clinic: Clinic
) -> None:
    li = LocationItemFactory(location=cart, item=SupplyItemFactory(is_lot_tracked=True))
    stock(li, 5, lot_number="A", expiry=clinic.today() + timedelta(days=10))
    stock(li, 10, lot_number="B", expiry=clinic.today() + timedelta(days=20))

    result = counts.quick_count(actor=nurse, location_item=li, counted=5, reason="lost")

    # the total is what was counted, not 15 + 5 held "without a lot"
    li.refresh_from_db()
    assert (li.on_hand, result.before, result.after) == (5, 15, 5)
    # the shortfall came off the way use takes stock: lot A (expiring first) first
    assert lots_of(li) == {"A": 0, "B": 5}
    assert sorted((m.lot.lot_number, m.quantity, m.reason, m.kind) for m in result.movements) == [
        ("A", -5, "lost", "count_adjust"),
        ("B", -5, "lost", "count_adjust"),
    ]
    assert [(c.lot.lot_number, c.before, c.after) for c in result.lots] == [
        ("A", 5, 0),
        ("B", 10, 5),
    ]
    session = CountSession.objects.get()
    assert sorted(session.lines.values_list("lot__lot_number", "expected", "counted")) == [
        ("A", 5, 0),
        ("B", 10, 5),
    ]
    event = AuditEvent.objects.filter(object_type="supplies.countsession").get()
    assert event.changes["on_hand"] == [15, 5]
    assert_ledger_consistent()


def test_a_quick_count_keeps_expired_lots_for_last_and_holds_a_surplus_without_a_lot(
    nurse: User, cart: StockLocation, stock: Stock, clinic: Clinic
) -> None:
    item = SupplyItemFactory()
    li = stock(LocationItemFactory(location=cart, item=item), 2)  # before it was lot-tracked
    SupplyItem.objects.filter(pk=item.pk).update(is_lot_tracked=True)
    li.refresh_from_db()
    stock(li, 3, lot_number="OLD", expiry=clinic.today() - timedelta(days=1))
    stock(li, 5, lot_number="A", expiry=clinic.today() + timedelta(days=10))
    # on hand 10: A 5, without a lot 2, expired OLD 3

    counts.quick_count(actor=nurse, location_item=li, counted=4, reason="lost")

    li.refresh_from_db()
    assert li.on_hand == 4
    assert lots_of(li) == {"A": 0, "OLD": 3}  # A, then 1 of the 2 without a lot
    assert_ledger_consistent()

    counts.quick_count(actor=nurse, location_item=li, counted=9, reason="found")

    li.refresh_from_db()
    assert li.on_hand == 9
    assert lots_of(li) == {"A": 0, "OLD": 3}  # the 5 found are held without a lot
    assert_ledger_consistent()


def test_a_quick_count_of_one_lot_still_counts_only_that_lot(
    nurse: User, cart: StockLocation, stock: Stock, clinic: Clinic
) -> None:
    li = LocationItemFactory(location=cart, item=SupplyItemFactory(is_lot_tracked=True))
    stock(li, 5, lot_number="A", expiry=clinic.today() + timedelta(days=10))
    stock(li, 10, lot_number="B", expiry=clinic.today() + timedelta(days=20))
    lot_b = li.lot_stocks.get(lot__lot_number="B").lot

    result = counts.quick_count(actor=nurse, location_item=li, counted=7, reason="lost", lot=lot_b)

    li.refresh_from_db()
    assert (li.on_hand, result.after) == (12, 12)
    assert lots_of(li) == {"A": 5, "B": 7}
    assert_ledger_consistent()


# Expiry and waste ------------------------------------------------------------------------------


@pytest.fixture
def dated(cart: StockLocation, stock: Stock, clinic: Clinic) -> LocationItem:
    today = clinic.today()
    li = LocationItemFactory(
        location=cart, item=SupplyItemFactory(name="Lidocaine", is_lot_tracked=True)
    )
    for lot, days in (("PAST", -3), ("D10", 10), ("D45", 45), ("D90", 90)):
        stock(li, 2, lot_number=lot, expiry=today + timedelta(days=days))
    return li


def test_expiry_lists_for_30_and_60_days_include_the_expired(
    clinic: Clinic, dated: LocationItem
) -> None:
    thirty = [s.lot.lot_number for s in selectors.expiring(clinic, 30)]
    sixty = [s.lot.lot_number for s in selectors.expiring(clinic, 60)]

    assert thirty == ["PAST", "D10"]
    assert sixty == ["PAST", "D10", "D45"]
    assert [s.lot.lot_number for s in selectors.expired(clinic)] == ["PAST"]


def test_expired_stock_is_wasted_in_one_action(
    nurse: User, clinic: Clinic, dated: LocationItem
) -> None:
    movements = waste.waste_expired(actor=nurse, clinic=clinic)

    assert [(m.kind, m.quantity, m.reason, m.lot.lot_number) for m in movements] == [
        ("waste", -2, "expired", "PAST")
    ]
    dated.refresh_from_db()
    assert dated.on_hand == 6
    assert list(selectors.expired(clinic)) == []
    assert waste.waste_expired(actor=nurse, clinic=clinic) == []  # nothing left to waste
    assert_ledger_consistent()


def test_damaged_stock_is_wasted_with_a_reason(nurse: User, gauze: LocationItem) -> None:
    with pytest.raises(services.SupplyError, match="expired or damaged"):
        waste.waste_stock(actor=nurse, location_item=gauze, quantity=1, reason="lost")
    with pytest.raises(services.InsufficientStock, match="only 10 left at Exam 2 — waste 10"):
        waste.waste_stock(actor=nurse, location_item=gauze, quantity=11, reason="damaged")

    waste.waste_stock(actor=nurse, location_item=gauze, quantity=2, reason="damaged")

    gauze.refresh_from_db()
    assert gauze.on_hand == 8
    assert_ledger_consistent()


def test_expiry_alerts_are_raised_once_per_window(clinic: Clinic, dated: LocationItem) -> None:
    today = clinic.today()
    assert nightly.raise_expiry_alerts(clinic=clinic, today=today) == 3
    assert nightly.raise_expiry_alerts(clinic=clinic, today=today) == 0

    windows = dict(ExpiryAlert.objects.values_list("lot_stock__lot__lot_number", "window"))
    assert windows == {"PAST": "expired", "D10": "30", "D45": "60"}

    # 20 days on, D10 has expired and D45 is within 30 days: two new alerts (D90 is 70 away).
    assert nightly.raise_expiry_alerts(clinic=clinic, today=today + timedelta(days=20)) == 2
    assert ExpiryAlert.objects.count() == 5


# Levels and suggested par ----------------------------------------------------------------------


def test_levels_must_keep_reorder_point_le_par_le_max(manager: User, gauze: LocationItem) -> None:
    with pytest.raises(services.SupplyError, match="reorder point must be at or below par"):
        levels.set_levels(
            actor=manager, location_item=gauze, par=5, reorder_point=6, max_quantity=10
        )
    with pytest.raises(services.SupplyError, match="Par must be at or below the maximum"):
        levels.set_levels(
            actor=manager, location_item=gauze, par=11, reorder_point=6, max_quantity=10
        )
    with pytest.raises(services.SupplyError, match="cannot be negative"):
        levels.set_levels(
            actor=manager, location_item=gauze, par=-1, reorder_point=0, max_quantity=10
        )

    levels.set_levels(actor=manager, location_item=gauze, par=12, reorder_point=5, max_quantity=30)

    gauze.refresh_from_db()
    assert (gauze.par, gauze.reorder_point, gauze.max_quantity) == (12, 5, 30)
    event = AuditEvent.objects.get(object_type="supplies.locationitem")
    assert event.changes == {"par": [10, 12], "reorder_point": [4, 5], "max_quantity": [20, 30]}


def test_par_formula_on_hand_computed_examples() -> None:
    # Steady use of 2 a day, cart reviewed daily with a 1-day refill: 2 x (1 + 1) = 4, no safety.
    steady = selectors.compute_par([2] * 56, lead_days=1, review_days=1, critical=False)
    assert (steady.par, steady.average_daily_use, steady.safety_stock) == (4, 2.0, 0.0)

    # Alternating 0 and 4: mean 2, sigma 2. 2 x 2 + 1.65 x 2 x sqrt(2) = 4 + 4.667 = 8.67 -> 9.
    alternating = selectors.compute_par([0, 4] * 28, lead_days=1, review_days=1, critical=False)
    assert alternating.par == 9
    assert alternating.daily_use_deviation == pytest.approx(2.0)
    assert alternating.safety_stock == pytest.approx(4.667, abs=0.001)

    # The same item marked critical: 4 + 2.33 x 2 x sqrt(2) = 4 + 6.590 = 10.59 -> 11.
    assert selectors.compute_par([0, 4] * 28, lead_days=1, review_days=1, critical=True).par == 11

    # Supply room, supplier lead 5 days, reviewed weekly: 3/day x 12 days = 36.
    assert selectors.compute_par([3] * 56, lead_days=5, review_days=7, critical=False).par == 36

    # No use at all in 8 weeks: par 0.
    assert selectors.compute_par([0] * 56, lead_days=1, review_days=1, critical=False).par == 0


def test_suggested_par_uses_the_last_eight_weeks_of_net_use(
    nurse: User, manager: User, cart: StockLocation, clinic: Clinic, stock: Stock
) -> None:
    li = stock(
        LocationItemFactory(
            location=cart,
            item=SupplyItemFactory(name="Tape"),
            par=5,
            reorder_point=5,
            max_quantity=5,
        ),
        5,
    )
    stock(li, 500)
    today = clinic.today()
    noon = time(12, 0)
    for days_ago in range(1, 57):  # the 56 days before today
        when = datetime.combine(today - timedelta(days=days_ago), noon, tzinfo=clinic.tz)
        usage.log_usage(
            actor=nurse,
            location=cart,
            lines=[UsageLine(li.item_id, 2)],
            idempotency_key=f"d{days_ago}",
            now=when,
        )
    # Use today and 57+ days ago is outside the window; an undone log does not count.
    usage.log_usage(
        actor=nurse, location=cart, lines=[UsageLine(li.item_id, 9)], idempotency_key="today"
    )
    old = datetime.combine(today - timedelta(days=57), noon, tzinfo=clinic.tz)
    usage.log_usage(
        actor=nurse, location=cart, lines=[UsageLine(li.item_id, 9)], idempotency_key="old", now=old
    )
    when = datetime.combine(today - timedelta(days=3), noon, tzinfo=clinic.tz)
    undone = usage.log_usage(
        actor=nurse, location=cart, lines=[UsageLine(li.item_id, 7)], idempotency_key="u", now=when
    )
    usage.undo_usage(actor=nurse, submission=undone.submission, now=when + timedelta(seconds=30))

    suggestion = selectors.suggested_par(li, today=today)

    assert (suggestion.average_daily_use, suggestion.daily_use_deviation, suggestion.par) == (
        2.0,
        0.0,
        4,
    )
    assert selectors.suggested_pars(cart, today=today)[li.pk] == suggestion

    levels.accept_suggested_par(actor=manager, location_item=li, today=today)
    li.refresh_from_db()
    assert (li.par, li.reorder_point, li.max_quantity) == (4, 4, 5)


def test_supply_room_par_uses_the_supplier_lead_time(
    nurse: User, supply_room: StockLocation, clinic: Clinic, stock: Stock
) -> None:
    li = stock(LocationItemFactory(location=supply_room, item=SupplyItemFactory(name="Tape")), 200)
    assert li.item.supplier is not None
    li.item.supplier.lead_time_days = 5
    li.item.supplier.save()
    today = clinic.today()
    for days_ago in range(1, 57):
        when = datetime.combine(today - timedelta(days=days_ago), time(12), tzinfo=clinic.tz)
        usage.log_usage(
            actor=nurse,
            location=supply_room,
            lines=[UsageLine(li.item_id, 1)],
            idempotency_key=f"d{days_ago}",
            now=when,
        )

    suggestion = selectors.suggested_par(li, today=today)

    assert (suggestion.lead_days, suggestion.review_days, suggestion.par) == (5, 7, 12)


def test_movement_kinds_carry_their_sign(gauze: LocationItem) -> None:
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        StockMovement.objects.create(
            location_item=gauze, kind="use", quantity=3, unit_cost=0, occurred_at=timezone.now()
        )
