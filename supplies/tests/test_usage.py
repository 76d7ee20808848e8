"""Logging use: never negative, FEFO, caps, idempotency, undo, audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext, override_settings

from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import PatientFactory
from supplies import selectors, services
from supplies.models import LocationItem, LotStock, StockLocation, StockMovement, UsageSubmission
from supplies.services import usage
from supplies.services.usage import UsageLine
from supplies.tests.factories import (
    LocationItemFactory,
    LotFactory,
    StockLocationFactory,
    SupplyItemFactory,
)

pytestmark = pytest.mark.django_db

Stock = Callable[..., LocationItem]


@pytest.fixture
def gauze(cart: StockLocation, stock: Stock) -> LocationItem:
    li = LocationItemFactory(
        location=cart,
        item=SupplyItemFactory(name="Gauze 4x4", sku="G44"),
        par=10,
        reorder_point=4,
        max_quantity=20,
    )
    return stock(li, 10)


def log(actor: User, location: StockLocation, *lines: UsageLine, key: str = "k1", **kwargs: object):
    return usage.log_usage(
        actor=actor, location=location, lines=list(lines), idempotency_key=key, **kwargs
    )


def assert_ledger_consistent() -> None:
    assert selectors.ledger_mismatches() == []


def test_logging_use_takes_stock_and_writes_the_ledger(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    # when
    result = log(nurse, cart, UsageLine(item_id=gauze.item_id, quantity=3))

    # then
    gauze.refresh_from_db()
    assert gauze.on_hand == 7
    assert [(line.item_name, line.quantity, line.on_hand) for line in result.lines] == [
        ("Gauze 4x4", 3, 7)
    ]
    movement = StockMovement.objects.get(kind=StockMovement.Kind.USE)
    assert (movement.quantity, movement.user, movement.submission_id) == (
        -3,
        nurse,
        result.submission.pk,
    )
    assert movement.unit_cost == gauze.item.unit_cost
    assert not result.replayed
    assert_ledger_consistent()


def test_use_beyond_the_books_posts_the_shortfall_as_found_then_the_use(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    log(nurse, cart, UsageLine(item_id=gauze.item_id, quantity=7), key="a")

    result = log(nurse, cart, UsageLine(item_id=gauze.item_id, quantity=5), key="b")

    # the nurse used 5 with 3 on the books: 2 found, 5 used, on hand 0 and never below
    gauze.refresh_from_db()
    assert gauze.on_hand == 0
    line = result.lines[0]
    assert (line.quantity, line.found, line.on_hand) == (5, 2, 0)
    assert result.found_lines == (line,)
    movements = result.submission.movements.order_by("pk")
    assert [(m.kind, m.quantity, m.reason, m.lot_id) for m in movements] == [
        ("found", 2, "found", None),
        ("use", -5, "", None),
    ]
    assert len({m.operation_id for m in movements}) == 1
    # flagged for the manager, and audited
    assert list(selectors.found_to_review(cart.clinic)) == [movements[0]]
    event = AuditEvent.objects.get(
        object_type="supplies.stockmovement", object_id=str(movements[0].operation_id)
    )
    assert event.actor == nurse
    assert event.changes == {"found": [{"item": "Gauze 4x4", "found": 2, "used": 5}]}
    assert_ledger_consistent()


def test_use_at_zero_is_logged_and_found_in_full(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    log(nurse, cart, UsageLine(item_id=gauze.item_id, quantity=10), key="a")

    result = log(nurse, cart, UsageLine(item_id=gauze.item_id, quantity=2), key="b")

    gauze.refresh_from_db()
    assert gauze.on_hand == 0
    assert (result.lines[0].quantity, result.lines[0].found) == (2, 2)
    assert selectors.found_to_review(cart.clinic).get().quantity == 2
    # a replay of the same tap finds nothing twice and reports what was stored
    again = log(nurse, cart, UsageLine(item_id=gauze.item_id, quantity=2), key="b")
    assert again.replayed
    assert (again.lines[0].quantity, again.lines[0].found) == (2, 2)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.FOUND).count() == 1
    assert_ledger_consistent()


def test_only_the_shortfall_of_one_item_is_found_and_others_log_as_usual(
    nurse: User, cart: StockLocation, gauze: LocationItem, stock: Stock
) -> None:
    gloves = LocationItemFactory(location=cart, item=SupplyItemFactory(name="Gloves"))

    result = log(nurse, cart, UsageLine(gauze.item_id, 2), UsageLine(gloves.item_id, 3))

    assert sorted((line.item_name, line.quantity, line.found) for line in result.lines) == [
        ("Gauze 4x4", 2, 0),
        ("Gloves", 3, 3),
    ]
    gauze.refresh_from_db()
    gloves.refresh_from_db()
    assert (gauze.on_hand, gloves.on_hand) == (8, 0)
    assert_ledger_consistent()


def test_undoing_a_log_that_found_stock_takes_the_found_stock_back_too(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    log(nurse, cart, UsageLine(gauze.item_id, 8), key="a")
    result = log(nurse, cart, UsageLine(gauze.item_id, 5), key="b")  # 2 on hand, 3 found

    usage.undo_usage(actor=nurse, submission=result.submission)

    gauze.refresh_from_db()
    assert gauze.on_hand == 2  # as before the log: the 3 were found only because of it
    found = StockMovement.objects.get(kind=StockMovement.Kind.FOUND)
    reversal = found.reversals.get()
    assert (reversal.kind, reversal.quantity, reversal.reason) == ("count_adjust", -3, "undo")
    assert not selectors.found_to_review(cart.clinic).exists()
    assert_ledger_consistent()


def test_a_manager_marks_found_stock_reviewed_once(
    nurse: User, manager: User, cart: StockLocation, gauze: LocationItem
) -> None:
    log(nurse, cart, UsageLine(gauze.item_id, 12))
    found = StockMovement.objects.get(kind=StockMovement.Kind.FOUND)

    review = usage.review_found_stock(actor=manager, movement=found)

    assert (review.movement, review.reviewed_by) == (found, manager)
    assert not selectors.found_to_review(cart.clinic).exists()
    assert AuditEvent.objects.filter(
        object_type="supplies.foundstockreview", object_id=str(review.pk), actor=manager
    ).exists()
    with pytest.raises(services.SupplyError, match="already marked reviewed"):
        usage.review_found_stock(actor=manager, movement=found)
    use = StockMovement.objects.get(kind=StockMovement.Kind.USE, submission__isnull=False)
    with pytest.raises(services.SupplyError, match="Only stock found at use"):
        usage.review_found_stock(actor=manager, movement=use)


def test_a_refused_line_refuses_the_whole_submission(
    nurse: User, cart: StockLocation, gauze: LocationItem, saline: LocationItem
) -> None:
    mid = saline.lot_stocks.get(lot__lot_number="MID").lot

    # a picked lot is still refused when it holds too few (found stock has no lot)
    with pytest.raises(services.InsufficientStock):
        log(nurse, cart, UsageLine(gauze.item_id, 12), UsageLine(saline.item_id, 3, mid.pk))

    gauze.refresh_from_db()
    saline.refresh_from_db()
    assert (gauze.on_hand, saline.on_hand) == (10, 9)
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.USE).exists()
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.FOUND).exists()


def test_the_database_refuses_negative_on_hand_even_around_the_services(
    gauze: LocationItem,
) -> None:
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute("UPDATE supplies_locationitem SET on_hand = -1 WHERE id = %s", [gauze.pk])


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (0, "The quantity must be at least 1."),
        (-2, "The quantity must be at least 1."),
        (2.5, "The quantity must be a whole number."),
        ("3", "The quantity must be a whole number."),
        (True, "The quantity must be a whole number."),
        (10**12, "over the limit"),
    ],
)
def test_bad_quantities_are_refused_and_change_nothing(
    nurse: User, cart: StockLocation, gauze: LocationItem, quantity: object, message: str
) -> None:
    with pytest.raises(services.SupplyError, match=message) as refused:
        log(nurse, cart, UsageLine(item_id=gauze.item_id, quantity=quantity))  # type: ignore[arg-type]

    assert refused.value.field == "quantity"
    gauze.refresh_from_db()
    assert gauze.on_hand == 10
    assert not UsageSubmission.objects.exists()


@override_settings(SUPPLIES_MAX_USE_QUANTITY=5)
def test_quantity_over_the_configured_cap_is_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    with pytest.raises(services.SupplyError, match="6 each of Gauze 4x4 is over the limit of 5"):
        log(nurse, cart, UsageLine(gauze.item_id, 6))

    # Two lines of the same item count together against the cap.
    with pytest.raises(services.SupplyError, match="over the limit of 5"):
        log(nurse, cart, UsageLine(gauze.item_id, 3), UsageLine(gauze.item_id, 3))

    log(nurse, cart, UsageLine(gauze.item_id, 5))
    gauze.refresh_from_db()
    assert gauze.on_hand == 5


def test_an_item_may_set_its_own_cap(nurse: User, cart: StockLocation, gauze: LocationItem) -> None:
    gauze.item.max_use_quantity = 2
    gauze.item.save()

    with pytest.raises(services.SupplyError, match="over the limit of 2"):
        log(nurse, cart, UsageLine(gauze.item_id, 3))


def test_an_item_not_stocked_at_the_location_is_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    other = SupplyItemFactory()
    with pytest.raises(services.SupplyError, match="not stocked at Exam 2") as refused:
        log(nurse, cart, UsageLine(other.pk, 1))
    assert refused.value.field == "item"

    gauze.is_active = False
    gauze.save()
    with pytest.raises(services.SupplyError, match="not stocked"):
        log(nurse, cart, UsageLine(gauze.item_id, 1), key="k2")


def test_an_empty_submission_or_a_missing_key_is_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    with pytest.raises(services.SupplyError, match="at least one item"):
        log(nurse, cart)
    for key in ("", "   ", "x" * 65, "bad\nkey", None):
        with pytest.raises(services.SupplyError) as refused:
            log(nurse, cart, UsageLine(gauze.item_id, 1), key=key)  # type: ignore[arg-type]
        assert refused.value.field == "idempotency_key"


def test_the_line_reports_falling_to_the_reorder_point(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    first = log(nurse, cart, UsageLine(gauze.item_id, 5), key="a")
    second = log(nurse, cart, UsageLine(gauze.item_id, 1), key="b")

    assert not first.lines[0].at_or_below_reorder_point  # 5 left, reorder point 4
    assert second.lines[0].at_or_below_reorder_point  # 4 left
    assert second.low_lines == second.lines


# Idempotency -----------------------------------------------------------------------------------


def test_the_same_submission_twice_in_sequence_logs_once(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    first = log(nurse, cart, UsageLine(gauze.item_id, 2), key="tap-1")
    again = log(nurse, cart, UsageLine(gauze.item_id, 2), key="tap-1")

    gauze.refresh_from_db()
    assert gauze.on_hand == 8
    assert again.replayed
    assert again.submission.pk == first.submission.pk
    assert [(line.item_name, line.quantity) for line in again.lines] == [("Gauze 4x4", 2)]
    assert StockMovement.objects.filter(kind=StockMovement.Kind.USE).count() == 1


def test_a_replay_is_answered_even_when_stock_has_since_run_out(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    log(nurse, cart, UsageLine(gauze.item_id, 4), key="tap-1")
    log(nurse, cart, UsageLine(gauze.item_id, 6), key="tap-2")

    again = log(nurse, cart, UsageLine(gauze.item_id, 4), key="tap-1")

    assert again.replayed
    gauze.refresh_from_db()
    assert gauze.on_hand == 0


def test_a_key_reused_for_a_different_log_is_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    log(nurse, cart, UsageLine(gauze.item_id, 2), key="tap-1")

    with pytest.raises(services.SupplyError, match="already used for a different log"):
        log(nurse, cart, UsageLine(gauze.item_id, 3), key="tap-1")

    gauze.refresh_from_db()
    assert gauze.on_hand == 8


def test_keys_are_per_user(
    nurse: User, make_user: Callable[..., User], cart: StockLocation, gauze: LocationItem
) -> None:
    other = make_user("Nurse / medical assistant", username="nurse2")
    log(nurse, cart, UsageLine(gauze.item_id, 2), key="same")
    log(other, cart, UsageLine(gauze.item_id, 2), key="same")

    gauze.refresh_from_db()
    assert gauze.on_hand == 6


def test_a_refused_submission_can_be_retried_with_the_same_key(
    nurse: User, cart: StockLocation, saline: LocationItem, stock: Stock
) -> None:
    mid = saline.lot_stocks.get(lot__lot_number="MID").lot
    with pytest.raises(services.InsufficientStock):
        log(nurse, cart, UsageLine(saline.item_id, 3, mid.pk), key="tap-1")
    stock(saline, 5, lot_number="MID")

    result = log(nurse, cart, UsageLine(saline.item_id, 3, mid.pk), key="tap-1")

    assert not result.replayed
    assert result.lines[0].on_hand == 11


# Lots: first expiry, first out ------------------------------------------------------------------


@pytest.fixture
def saline(cart: StockLocation, stock: Stock, clinic: Clinic) -> LocationItem:
    item = SupplyItemFactory(name="Saline flush", is_lot_tracked=True)
    li = LocationItemFactory(location=cart, item=item, par=10, reorder_point=2, max_quantity=30)
    today = clinic.today()
    stock(li, 4, lot_number="LATE", expiry=today + timedelta(days=300))
    stock(li, 3, lot_number="SOON", expiry=today + timedelta(days=20))
    stock(li, 2, lot_number="MID", expiry=today + timedelta(days=100))
    return li


def lot_levels(li: LocationItem) -> dict[str, int]:
    return dict(LotStock.objects.filter(location_item=li).values_list("lot__lot_number", "on_hand"))


# ---------------------------------------------------------------------------------------------
# A log with the caller's items (the tablet): one statement, the same rules


def given(location: StockLocation) -> list[LocationItem]:
    """The location's items as the tablet reads them for its form."""
    return list(
        LocationItem.objects.filter(location=location, is_active=True).select_related("item")
    )


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL sent, without the savepoint the test's own transaction needs around it."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def test_a_plain_log_with_the_callers_items_is_one_statement(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    items = given(cart)

    with CaptureQueriesContext(connection) as captured:
        result = log(nurse, cart, UsageLine(gauze.item_id, 3), location_items=items)

    # the claim, the take and the ledger line in one round trip
    assert len(statements(captured)) == 1
    gauze.refresh_from_db()
    assert gauze.on_hand == 7
    assert [(line.quantity, line.on_hand, line.found) for line in result.lines] == [(3, 7, 0)]
    movement = StockMovement.objects.get(kind=StockMovement.Kind.USE)
    assert (movement.quantity, movement.user, movement.submission_id, movement.unit_cost) == (
        -3,
        nurse,
        result.submission.pk,
        gauze.item.unit_cost,
    )
    stored = UsageSubmission.objects.get(pk=result.submission.pk)
    assert (stored.fingerprint, stored.created_at) == (
        result.submission.fingerprint,
        result.submission.created_at,
    )
    assert_ledger_consistent()


def test_a_shortfall_in_the_one_statement_keeps_none_of_it_and_the_log_finds_stock_as_before(
    nurse: User, cart: StockLocation, gauze: LocationItem, stock: Stock
) -> None:
    tape = stock(LocationItemFactory(location=cart, item=SupplyItemFactory(name="Tape")), 2)
    assert gauze.pk < tape.pk  # the statement takes gauze first, then finds too little tape

    result = log(
        nurse,
        cart,
        UsageLine(gauze.item_id, 3),
        UsageLine(tape.item_id, 5),
        location_items=given(cart),
    )

    # gauze taken once (the failed statement's take was not kept), tape's shortfall found
    gauze.refresh_from_db()
    tape.refresh_from_db()
    assert (gauze.on_hand, tape.on_hand) == (7, 0)
    assert {line.location_item_id: line.found for line in result.lines} == {gauze.pk: 0, tape.pk: 3}
    assert UsageSubmission.objects.count() == 1
    assert StockMovement.objects.filter(kind=StockMovement.Kind.USE).count() == 2
    assert StockMovement.objects.get(kind=StockMovement.Kind.FOUND).quantity == 3
    assert AuditEvent.objects.filter(object_type="supplies.stockmovement", actor=nurse).count() == 1
    assert_ledger_consistent()


def test_the_same_key_twice_with_the_callers_items_logs_once(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    first = log(nurse, cart, UsageLine(gauze.item_id, 2), location_items=given(cart))
    again = log(nurse, cart, UsageLine(gauze.item_id, 2), location_items=given(cart))

    assert again.replayed
    assert again.submission.pk == first.submission.pk
    assert [(line.item_name, line.quantity) for line in again.lines] == [("Gauze 4x4", 2)]
    gauze.refresh_from_db()
    assert gauze.on_hand == 8
    assert StockMovement.objects.filter(kind=StockMovement.Kind.USE).count() == 1


def test_a_key_reused_for_a_different_log_with_the_callers_items_is_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    log(nurse, cart, UsageLine(gauze.item_id, 2), location_items=given(cart))

    with pytest.raises(services.SupplyError, match="already used for a different log"):
        log(nurse, cart, UsageLine(gauze.item_id, 3), location_items=given(cart))

    gauze.refresh_from_db()
    assert gauze.on_hand == 8


def test_items_of_another_location_are_not_taken_as_this_ones(
    nurse: User, clinic: Clinic, cart: StockLocation, gauze: LocationItem
) -> None:
    other = StockLocationFactory(clinic=clinic, name="Exam 9")

    # the cart's items handed in for a log at another location
    with pytest.raises(services.SupplyError, match="not stocked at Exam 9"):
        log(nurse, other, UsageLine(gauze.item_id, 1), location_items=given(cart))

    gauze.refresh_from_db()
    assert gauze.on_hand == 10
    assert not UsageSubmission.objects.exists()


def test_an_over_cap_log_with_the_callers_items_is_refused_and_keeps_nothing(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    with pytest.raises(services.SupplyError, match="over the limit"):
        log(nurse, cart, UsageLine(gauze.item_id, 51), location_items=given(cart))

    gauze.refresh_from_db()
    assert gauze.on_hand == 10
    assert not UsageSubmission.objects.exists()


def test_use_takes_the_earliest_expiring_lot_first(
    nurse: User, cart: StockLocation, saline: LocationItem
) -> None:
    result = log(nurse, cart, UsageLine(saline.item_id, 4))

    assert lot_levels(saline) == {"SOON": 0, "MID": 1, "LATE": 4}
    assert result.lines[0].lots == ("SOON", "MID")
    uses = StockMovement.objects.filter(kind=StockMovement.Kind.USE).order_by("lot__expiry")
    assert [(m.lot.lot_number, m.quantity) for m in uses] == [("SOON", -3), ("MID", -1)]
    assert_ledger_consistent()


def test_a_picked_lot_is_used_instead_of_the_first_expiring(
    nurse: User, cart: StockLocation, saline: LocationItem
) -> None:
    late = saline.lot_stocks.get(lot__lot_number="LATE").lot

    log(nurse, cart, UsageLine(saline.item_id, 2, lot_id=late.pk))

    assert lot_levels(saline) == {"SOON": 3, "MID": 2, "LATE": 2}
    assert_ledger_consistent()


def test_a_picked_lot_with_too_little_is_refused(
    nurse: User, cart: StockLocation, saline: LocationItem
) -> None:
    mid = saline.lot_stocks.get(lot__lot_number="MID").lot

    with pytest.raises(
        services.InsufficientStock, match="only 2 of lot MID left at Exam 2 — log 2"
    ):
        log(nurse, cart, UsageLine(saline.item_id, 3, lot_id=mid.pk))

    saline.refresh_from_db()
    assert saline.on_hand == 9
    assert lot_levels(saline) == {"SOON": 3, "MID": 2, "LATE": 4}


def test_expired_lots_are_skipped_and_never_used(
    nurse: User, cart: StockLocation, stock: Stock, clinic: Clinic
) -> None:
    today = clinic.today()
    item = SupplyItemFactory(name="Lidocaine", is_lot_tracked=True)
    li = stock(
        LocationItemFactory(location=cart, item=item),
        5,
        lot_number="OLD",
        expiry=today - timedelta(days=1),
    )
    stock(li, 2, lot_number="NEW", expiry=today)  # usable through its expiry date

    # 3 used with 2 in date: the third was not on the books (held without a lot), and the
    # expired lot is not touched
    result = log(nurse, cart, UsageLine(item.pk, 3))
    line = result.lines[0]
    assert (line.quantity, line.found, line.expired, line.on_hand, line.lots) == (
        3,
        1,
        5,
        5,
        ("NEW",),
    )
    assert lot_levels(li) == {"OLD": 5, "NEW": 0}
    assert_ledger_consistent()

    old = li.lot_stocks.get(lot__lot_number="OLD").lot
    with pytest.raises(services.SupplyError, match="expired on"):
        log(nurse, cart, UsageLine(item.pk, 1, lot_id=old.pk), key="k3")


def test_picking_a_lot_of_an_item_that_is_not_lot_tracked_is_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    lot = LotFactory()
    with pytest.raises(services.SupplyError, match="not lot-tracked"):
        log(nurse, cart, UsageLine(gauze.item_id, 1, lot_id=lot.pk))


def test_stock_held_without_a_lot_is_used_after_the_dated_lots(
    nurse: User, cart: StockLocation, stock: Stock, clinic: Clinic
) -> None:
    item = SupplyItemFactory(name="Syringe 3 mL")
    li = stock(LocationItemFactory(location=cart, item=item), 3)  # before lot tracking
    item.is_lot_tracked = True
    item.save()
    stock(li, 2, lot_number="S1", expiry=clinic.today() + timedelta(days=50))

    log(nurse, cart, UsageLine(item.pk, 4))

    li.refresh_from_db()
    assert li.on_hand == 1
    assert lot_levels(li) == {"S1": 0}
    assert_ledger_consistent()


# Undo ------------------------------------------------------------------------------------------


def test_undo_within_two_minutes_puts_the_stock_back_with_a_compensating_movement(
    nurse: User, cart: StockLocation, gauze: LocationItem, saline: LocationItem
) -> None:
    result = log(nurse, cart, UsageLine(gauze.item_id, 3), UsageLine(saline.item_id, 4))

    usage.undo_usage(
        actor=nurse,
        submission=result.submission,
        now=result.submission.created_at + timedelta(seconds=119),
    )

    gauze.refresh_from_db()
    saline.refresh_from_db()
    assert (gauze.on_hand, saline.on_hand) == (10, 9)
    assert lot_levels(saline) == {"SOON": 3, "MID": 2, "LATE": 4}
    returns = StockMovement.objects.filter(kind=StockMovement.Kind.RETURN)
    assert returns.count() == 3  # gauze, saline lot SOON, saline lot MID
    assert all(r.reverses is not None and r.reverses.quantity == -r.quantity for r in returns)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.USE).count() == 3  # nothing deleted
    submission = UsageSubmission.objects.get()
    assert submission.undone_by == nurse
    assert_ledger_consistent()


def test_undo_after_two_minutes_is_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    result = log(nurse, cart, UsageLine(gauze.item_id, 3))

    with pytest.raises(services.UndoRefused, match="2 minutes"):
        usage.undo_usage(
            actor=nurse,
            submission=result.submission,
            now=result.submission.created_at + timedelta(seconds=121),
        )

    gauze.refresh_from_db()
    assert gauze.on_hand == 7


def test_undo_twice_or_by_someone_else_is_refused(
    nurse: User, make_user: Callable[..., User], cart: StockLocation, gauze: LocationItem
) -> None:
    result = log(nurse, cart, UsageLine(gauze.item_id, 3))
    other = make_user("Nurse / medical assistant", username="nurse2")

    with pytest.raises(services.UndoRefused, match="Only the person who logged it"):
        usage.undo_usage(actor=other, submission=result.submission)
    usage.undo_usage(actor=nurse, submission=result.submission)
    with pytest.raises(services.UndoRefused, match="already undone"):
        usage.undo_usage(actor=nurse, submission=result.submission)

    gauze.refresh_from_db()
    assert gauze.on_hand == 10


def test_an_undone_submission_key_still_logs_nothing_when_retried(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    result = log(nurse, cart, UsageLine(gauze.item_id, 3), key="tap")
    usage.undo_usage(actor=nurse, submission=result.submission)

    again = log(nurse, cart, UsageLine(gauze.item_id, 3), key="tap")

    assert again.replayed
    gauze.refresh_from_db()
    assert gauze.on_hand == 10


# Patients and the audit trail --------------------------------------------------------------------


def test_use_for_a_patient_visit_is_audited_and_tied_to_the_visit(
    nurse: User, cart: StockLocation, gauze: LocationItem, clinic: Clinic
) -> None:
    patient = PatientFactory(clinic=clinic)

    result = log(nurse, cart, UsageLine(gauze.item_id, 2), visit=4711, patient=patient)
    usage.undo_usage(actor=nurse, submission=result.submission)

    movement = StockMovement.objects.get(kind=StockMovement.Kind.USE)
    assert (movement.patient, movement.visit_id) == (patient, 4711)
    events = AuditEvent.objects.filter(patient_id=patient.pk).order_by("id")
    assert [(e.action, e.actor, e.clinic_id, e.object_type) for e in events] == [
        (AuditEvent.Action.CREATE, nurse, clinic.pk, "supplies.usagesubmission"),
        (AuditEvent.Action.UPDATE, nurse, clinic.pk, "supplies.usagesubmission"),
    ]
    assert events[0].changes["lines"] == [{"item": "Gauze 4x4", "quantity": 2}]


def test_use_without_a_patient_leaves_no_phi_audit_entry(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    log(nurse, cart, UsageLine(gauze.item_id, 2))

    assert not AuditEvent.objects.filter(object_type="supplies.usagesubmission").exists()


def test_a_patient_of_another_clinic_is_refused(
    nurse: User, cart: StockLocation, gauze: LocationItem, other_clinic: Clinic
) -> None:
    with pytest.raises(services.SupplyError, match="not registered at this clinic"):
        log(nurse, cart, UsageLine(gauze.item_id, 1), patient=PatientFactory(clinic=other_clinic))

    gauze.refresh_from_db()
    assert gauze.on_hand == 10


def test_the_ledger_cannot_be_updated_or_deleted(
    nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    log(nurse, cart, UsageLine(gauze.item_id, 1))
    movement = StockMovement.objects.filter(kind=StockMovement.Kind.USE).get()

    from django.db import InternalError, ProgrammingError, transaction

    for statement in (
        "UPDATE supplies_stockmovement SET quantity = -5 WHERE id = %s",
        "DELETE FROM supplies_stockmovement WHERE id = %s",
    ):
        with (
            pytest.raises((InternalError, ProgrammingError), match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [movement.pk])


def test_tiles_list_the_most_used_items_first(
    nurse: User, cart: StockLocation, gauze: LocationItem, stock: Stock
) -> None:
    gloves = stock(LocationItemFactory(location=cart, item=SupplyItemFactory(name="Gloves")), 10)
    stock(LocationItemFactory(location=cart, item=SupplyItemFactory(name="Alcohol pad")), 10)
    log(nurse, cart, UsageLine(gloves.item_id, 3), key="a")
    log(nurse, cart, UsageLine(gauze.item_id, 1), key="b")

    names = [li.item.name for li in selectors.location_items(cart)]

    assert names == ["Gloves", "Gauze 4x4", "Alcohol pad"]


def test_a_scanned_barcode_or_sku_finds_the_location_item(
    cart: StockLocation, gauze: LocationItem
) -> None:
    gauze.item.barcodes.create(code="00812345678905")

    assert selectors.item_by_barcode(cart, " 00812345678905 ") == gauze
    assert selectors.item_by_barcode(cart, "g44") == gauze
    assert selectors.item_by_barcode(cart, "nope") is None
    assert selectors.item_by_barcode(cart, "") is None
