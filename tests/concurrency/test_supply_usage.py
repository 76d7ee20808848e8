"""Twenty nurses logging the same item at the same cart at the same moment, many times over.

Real threads, each with its own database connection, against real Postgres: no lost update,
on hand == start - what succeeded, never below zero, and the ledger agrees.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections

from clinicops.core import roles
from clinicops.core.models import User
from clinicops.core.tests.factories import ClinicFactory, StaffFactory
from supplies import selectors, services
from supplies.models import LocationItem, StockLocation, StockMovement, UsageSubmission
from supplies.services import counts, orders, transfers, usage, waste
from supplies.services.usage import UsageLine
from supplies.tests.factories import (
    LocationItemFactory,
    StockLocationFactory,
    SupplyItemFactory,
    SupplyRoomFactory,
)

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

THREADS = 20
ROUNDS = 10


def run_at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in `count` threads released together; return results (or exceptions)."""
    barrier = threading.Barrier(count)

    def worker(index: int) -> Any:
        try:
            barrier.wait(timeout=30)
            return work(index)
        except Exception as error:
            return error
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


def stocked(location: StockLocation, given: bool) -> list[LocationItem] | None:
    """The location's items as the tablet reads them before a log (the one-statement log), or
    None (the service reads them in its transaction)."""
    if not given:
        return None
    return list(LocationItem.objects.filter(location=location).select_related("item"))


# Both ways a log comes in: read by the service, or with the caller's items in one statement.
BOTH_PATHS = pytest.mark.parametrize("given", [False, True], ids=["read", "given"])


@pytest.fixture
def nurses() -> list[User]:
    clinic = ClinicFactory(name="Concurrency Clinic")
    return [
        StaffFactory(roles=[roles.NURSE], clinics=[clinic], user__username=f"cnurse{i}").user
        for i in range(THREADS)
    ]


@BOTH_PATHS
def test_twenty_nurses_logging_the_same_item_never_lose_a_unit(
    nurses: list[User], given: bool
) -> None:
    clinic = nurses[0].staff.clinics.get()
    cart = StockLocationFactory(clinic=clinic, name="Exam 2")
    li = LocationItemFactory(
        location=cart, item=SupplyItemFactory(name="Gauze"), par=50, max_quantity=100
    )
    rng = random.Random(5)
    found_rounds = 0

    for round_number in range(ROUNDS):
        # Demand (20 x 1..4, ~50 on average) is set above the stock (40) so that the last
        # logs run past the books: the interesting case is the last few units.
        start = 40
        current = LocationItem.objects.get(pk=li.pk).on_hand
        if current < start:
            orders.receive_stock(
                actor=nurses[0], location_item=li, quantity=start - current, reason="opening"
            )
        elif current > start:
            counts.quick_count(
                actor=nurses[0], location_item=li, counted=start, reason="miscounted"
            )
        wanted = [rng.randint(1, 4) for _ in range(THREADS)]

        def log(index: int, wanted: list[int] = wanted, round_number: int = round_number) -> Any:
            return usage.log_usage(
                actor=nurses[index],
                location=cart,
                lines=[UsageLine(item_id=li.item_id, quantity=wanted[index])],
                idempotency_key=f"r{round_number}-n{index}",
                location_items=stocked(cart, given),
            )

        outcomes = run_at_once(THREADS, log)

        # Every use is accepted: what the books lacked is posted as found, never negative.
        assert [o for o in outcomes if isinstance(o, Exception)] == []
        found = [o.lines[0].found for o in outcomes]
        on_hand = LocationItem.objects.get(pk=li.pk).on_hand
        assert on_hand == start + sum(found) - sum(wanted), f"round {round_number}: lost update"
        # Whatever the order the logs ran in, exactly the shortfall was found.
        assert sum(found) == max(sum(wanted) - start, 0)
        assert on_hand == max(start - sum(wanted), 0)
        # Every log left a trail of exactly its own use and its own found stock.
        for index, outcome in enumerate(outcomes):
            movements = outcome.submission.movements.all()
            assert sum(m.quantity for m in movements if m.kind == "use") == -wanted[index]
            assert sum(m.quantity for m in movements if m.kind == "found") == found[index]
        assert selectors.ledger_mismatches() == []
        found_rounds += sum(found) > 0
    # The run exercised running past the books.
    assert found_rounds > 0


@BOTH_PATHS
def test_twenty_nurses_logging_an_item_at_zero_find_exactly_what_they_use(
    nurses: list[User], given: bool
) -> None:
    clinic = nurses[0].staff.clinics.get()
    cart = StockLocationFactory(clinic=clinic, name="Exam 4")
    li = LocationItemFactory(location=cart, item=SupplyItemFactory(name="Tape"), par=10)
    rng = random.Random(9)

    for round_number in range(ROUNDS):
        wanted = [rng.randint(1, 4) for _ in range(THREADS)]

        def log(index: int, wanted: list[int] = wanted, round_number: int = round_number) -> Any:
            return usage.log_usage(
                actor=nurses[index],
                location=cart,
                lines=[UsageLine(item_id=li.item_id, quantity=wanted[index])],
                idempotency_key=f"z{round_number}-n{index}",
                location_items=stocked(cart, given),
            )

        outcomes = run_at_once(THREADS, log)

        assert [o for o in outcomes if isinstance(o, Exception)] == []
        assert [o.lines[0].found for o in outcomes] == wanted
        assert [o.lines[0].on_hand for o in outcomes] == [0] * THREADS
        assert LocationItem.objects.get(pk=li.pk).on_hand == 0
        assert selectors.ledger_mismatches() == []
    with connection.cursor() as cursor:
        # never below zero at any point: the running balance in id order (ids of one item are
        # taken under its row lock, so id order is the order the logs ran in)
        cursor.execute(
            "SELECT min(balance) FROM (SELECT sum(quantity) OVER (ORDER BY id) AS balance "
            "FROM supplies_stockmovement WHERE location_item_id = %s) AS running",
            [li.pk],
        )
        assert cursor.fetchone()[0] >= 0
    found = StockMovement.objects.filter(location_item=li, kind=StockMovement.Kind.FOUND)
    used = StockMovement.objects.filter(location_item=li, kind=StockMovement.Kind.USE)
    assert found.count() == used.count() == THREADS * ROUNDS
    assert sum(found.values_list("quantity", flat=True)) == -sum(
        used.values_list("quantity", flat=True)
    )
    assert selectors.found_to_review(clinic).count() == THREADS * ROUNDS


@BOTH_PATHS
def test_the_same_submission_sent_twenty_times_at_once_logs_once(
    nurses: list[User], given: bool
) -> None:
    nurse = nurses[0]
    clinic = nurse.staff.clinics.get()
    cart = StockLocationFactory(clinic=clinic, name="Exam 3")
    li = LocationItemFactory(location=cart, item=SupplyItemFactory(name="Gloves"))
    orders.receive_stock(actor=nurse, location_item=li, quantity=20, reason="opening")

    for round_number in range(ROUNDS):

        def resend(_: int, round_number: int = round_number) -> Any:
            return usage.log_usage(
                actor=nurse,
                location=cart,
                lines=[UsageLine(item_id=li.item_id, quantity=1)],
                idempotency_key=f"double-tap-{round_number}",
                location_items=stocked(cart, given),
            )

        outcomes = run_at_once(THREADS, resend)

        assert [o for o in outcomes if isinstance(o, Exception)] == []
        assert len({o.submission.pk for o in outcomes}) == 1
        assert sum(1 for o in outcomes if not o.replayed) == 1
        assert (
            UsageSubmission.objects.filter(idempotency_key=f"double-tap-{round_number}").count()
            == 1
        )
    assert LocationItem.objects.get(pk=li.pk).on_hand == 20 - ROUNDS
    assert StockMovement.objects.filter(kind=StockMovement.Kind.USE).count() == ROUNDS


def test_use_transfers_counts_and_undo_at_once_never_deadlock_or_drift(nurses: list[User]) -> None:
    clinic = nurses[0].staff.clinics.get()
    room = SupplyRoomFactory(clinic=clinic)
    carts = [StockLocationFactory(clinic=clinic, name=f"Cart {n}") for n in range(2)]
    items = [SupplyItemFactory(name=f"Item {n}", is_lot_tracked=(n == 0)) for n in range(3)]
    expiry = clinic.today() + timedelta(days=90)
    for item in items:
        source = LocationItemFactory(location=room, item=item, par=100, max_quantity=500)
        orders.receive_stock(
            actor=nurses[0],
            location_item=source,
            quantity=300,
            lot_number="L1" if item.is_lot_tracked else "",
            expiry=expiry if item.is_lot_tracked else None,
        )
        for cart in carts:
            target = LocationItemFactory(location=cart, item=item, par=20, max_quantity=100)
            transfers.transfer(
                actor=nurses[0], source=room, destination=cart, item=item, quantity=20
            )
            assert LocationItem.objects.get(pk=target.pk).on_hand == 20

    def busy(index: int) -> Any:
        rng = random.Random(index)
        for step in range(6):
            cart = carts[rng.randrange(2)]
            chosen = rng.sample(items, 2)  # two items per log, in random order: lock order matters
            action = rng.randrange(4)
            try:
                if action == 0:
                    transfers.transfer(
                        actor=nurses[index],
                        source=room,
                        destination=cart,
                        item=chosen[0],
                        quantity=rng.randint(1, 5),
                    )
                elif action == 1:
                    target = LocationItem.objects.get(location=cart, item=chosen[0])
                    waste.waste_stock(
                        actor=nurses[index], location_item=target, quantity=1, reason="damaged"
                    )
                else:
                    result = usage.log_usage(
                        actor=nurses[index],
                        location=cart,
                        lines=[UsageLine(item.pk, rng.randint(1, 3)) for item in chosen],
                        idempotency_key=f"busy-{index}-{step}",
                    )
                    if action == 3:
                        usage.undo_usage(actor=nurses[index], submission=result.submission)
            except services.InsufficientStock:
                pass
        return "done"

    outcomes = run_at_once(THREADS, busy)

    assert outcomes == ["done"] * THREADS  # no deadlock, no other error
    assert selectors.ledger_mismatches() == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM supplies_locationitem WHERE on_hand < 0")
        assert cursor.fetchone()[0] == 0
