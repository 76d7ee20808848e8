"""Demo supplies for every clinic: a supply room, a cart per exam room, stock and twelve weeks
of use and refills (so tiles, below par, reorder, suggested par and
the dashboard's supply metrics have something to show). Idempotent."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from clinicops.core.models import Clinic, Room, User
from supplies.models import ItemBarcode, LocationItem, StockLocation, Supplier, SupplyItem
from supplies.services import orders, transfers, usage

# The dashboard's twelve weeks (Monday to Sunday), covered from their first day.
HISTORY_WEEKS = 12
USES_PER_CART_DAY = 5
REFILL_WEEKDAY = 0  # the weekly restock round, Monday afternoon
MISSED_ROUND_WEEKS_AGO = 6

# sku, name, category, unit, pack, unit cost, lot-tracked, critical, cart par
ITEMS = [
    ("G44", "Gauze sponge 4x4 in", "Wound care", "each", 100, "0.12", False, False, 20),
    ("GLV-M", "Exam gloves nitrile M (pair)", "PPE", "pair", 50, "0.18", False, True, 30),
    ("GLV-L", "Exam gloves nitrile L (pair)", "PPE", "pair", 50, "0.18", False, False, 20),
    ("ALC", "Alcohol prep pad", "Skin prep", "each", 200, "0.02", False, False, 40),
    ("BND", "Adhesive bandage 1x3 in", "Wound care", "each", 100, "0.05", False, False, 20),
    ("TAPE", "Paper tape 1 in", "Wound care", "roll", 12, "0.65", False, False, 4),
    ("SYR3", "Syringe 3 mL Luer-lock", "Injection", "each", 100, "0.14", False, False, 15),
    ("NDL25", "Needle 25G 1 in", "Injection", "each", 100, "0.09", False, False, 15),
    ("SF10", "Saline flush 10 mL", "Flushes", "each", 30, "0.45", True, True, 10),
    ("LIDO1", "Lidocaine 1% 5 mL vial", "Medication", "vial", 25, "1.90", True, True, 4),
    ("TONG", "Tongue depressor", "Exam", "each", 500, "0.01", False, False, 30),
    ("SPEC", "Otoscope speculum 4 mm", "Exam", "each", 250, "0.04", False, False, 20),
    ("STRIP", "Glucose test strip", "Point of care", "each", 50, "0.35", True, False, 25),
    ("LANC", "Safety lancet", "Point of care", "each", 100, "0.08", False, False, 25),
    ("TABLE", "Exam table paper roll", "Exam", "roll", 12, "4.20", False, False, 2),
]


class Command(BaseCommand):
    help = "Create demo supplies (locations, items, stock, twelve weeks of use) for each clinic."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=5)

    def handle(self, *args: Any, seed: int, **options: Any) -> None:
        rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        supplier, _ = Supplier.objects.get_or_create(
            name="Medline (demo)", defaults={"lead_time_days": 4}
        )
        items = []
        for index, (sku, name, category, unit, pack, cost, lotted, critical, par) in enumerate(
            ITEMS
        ):
            item, _ = SupplyItem.objects.get_or_create(
                sku=sku,
                defaults={
                    "name": name,
                    "category": category,
                    "unit_of_use": unit,
                    "pack_size": pack,
                    "unit_cost": Decimal(cost),
                    "supplier": supplier,
                    "is_lot_tracked": lotted,
                    "is_critical": critical,
                },
            )
            ItemBarcode.objects.get_or_create(
                code=f"0081234500{index:03d}", defaults={"item": item}
            )
            items.append((item, par))
        actor = (
            User.objects.filter(is_superuser=True).first() or User.objects.order_by("pk").first()
        )
        if actor is None:
            self.stderr.write("Create a user first (seed_demo does).")
            return
        for clinic in Clinic.objects.filter(is_active=True):
            self._seed_clinic(clinic, items, actor, rng)
        self.stdout.write(self.style.SUCCESS("Supplies seeded."))

    def _seed_clinic(
        self, clinic: Clinic, items: list[tuple[SupplyItem, int]], actor: User, rng: random.Random
    ) -> None:
        if StockLocation.objects.filter(
            clinic=clinic, kind=StockLocation.Kind.SUPPLY_ROOM
        ).exists():
            return  # seeded before
        # One transaction per clinic: a failure leaves nothing half-seeded, so a rerun starts over.
        with transaction.atomic():
            self._stock_clinic(clinic, items, actor, rng)

    def _stock_clinic(
        self, clinic: Clinic, items: list[tuple[SupplyItem, int]], actor: User, rng: random.Random
    ) -> None:
        room = StockLocation.objects.create(
            clinic=clinic,
            kind=StockLocation.Kind.SUPPLY_ROOM,
            name="Supply room",
            review_period_days=7,
        )
        today = clinic.today()
        history_days = today.weekday() + 7 * HISTORY_WEEKS
        opening = datetime.combine(
            today - timedelta(days=history_days + 1), time(8), tzinfo=clinic.tz
        )
        deliveries = 0
        # The supply room's on hand, kept here as the ledger moves it (saves a read per refill).
        in_room: dict[int, int] = {}

        def deliver(li: LocationItem, quantity: int, when: datetime, expiry: date) -> None:
            nonlocal deliveries
            deliveries += 1
            orders.receive_stock(
                actor=actor,
                location_item=li,
                quantity=quantity,
                lot_number=f"{li.item.sku}-C{clinic.pk}-{deliveries}"
                if li.item.is_lot_tracked
                else "",
                expiry=expiry if li.item.is_lot_tracked else None,
                reason="opening" if when == opening else "",
                note="" if when == opening else "Delivery (demo)",
                now=when,
            )
            in_room[li.item_id] += quantity

        stocked: dict[int, LocationItem] = {}
        pars: dict[int, int] = {}

        def move(cart: StockLocation, item_id: int, quantity: int, when: datetime) -> None:
            """Carry stock from the supply room to a cart; the supplier delivers when the
            supply room runs short (the demo skips purchase orders)."""
            if in_room[item_id] < quantity:
                deliver(stocked[item_id], pars[item_id] * 10, when, when.date() + timedelta(365))
            result = transfers.transfer(
                actor=actor,
                source=room,
                destination=cart,
                item=stocked[item_id].item,
                quantity=quantity,
                now=when,
            )
            in_room[item_id] = result.source.on_hand

        for item, par in items:
            li = LocationItem.objects.create(
                location=room, item=item, par=par * 10, reorder_point=par * 4, max_quantity=par * 15
            )
            stocked[item.pk], pars[item.pk], in_room[item.pk] = li, par, 0
            deliver(li, par * 12, opening, today + timedelta(days=rng.choice([20, 45, 200, 400])))
        carts = []
        for exam in Room.objects.filter(
            clinic=clinic, is_active=True, kind__in=[Room.Kind.EXAM, Room.Kind.PROCEDURE]
        ).order_by("pk"):
            cart, _ = StockLocation.objects.get_or_create(
                clinic=clinic, name=f"{exam.name} cart", defaults={"room": exam}
            )
            carts.append(cart)
            for item, par in items:
                LocationItem.objects.get_or_create(
                    location=cart,
                    item=item,
                    defaults={
                        "par": par,
                        "reorder_point": max(par // 3, 1),
                        "max_quantity": par * 2,
                    },
                )
                move(cart, item.pk, par, opening)

        # Twelve weeks of use, none of it tied to a patient: each cart, each weekday morning,
        # some of its items; on Monday afternoons a restock round fills what is at its reorder
        # point up to the cart's maximum. One round was missed: that week's stockouts show on
        # the dashboard (the stockout metric reads the ledger).
        missed_round = today - timedelta(days=today.weekday(), weeks=MISSED_ROUND_WEEKS_AGO)
        for days_ago in range(history_days, 0, -1):
            day = today - timedelta(days=days_ago)
            if day.weekday() < 5:
                self._use_and_refill(
                    clinic, carts, items, actor, rng, day, move, refill=day != missed_round
                )
        # A forgotten box of an expired lot, so the expiry screen has something to waste.
        lotted = next((item for item, _ in items if item.is_lot_tracked), None)
        if lotted is not None:
            orders.receive_stock(
                actor=actor,
                location_item=stocked[lotted.pk],
                quantity=6,
                lot_number=f"{lotted.sku}-C{clinic.pk}-OLD",
                expiry=today - timedelta(days=3),
                reason="found",
                note="Found at the back of the shelf (demo)",
                now=datetime.combine(today - timedelta(days=1), time(17), tzinfo=clinic.tz),
            )

    def _use_and_refill(
        self,
        clinic: Clinic,
        carts: list[StockLocation],
        items: list[tuple[SupplyItem, int]],
        actor: User,
        rng: random.Random,
        day: date,
        move: Callable[[StockLocation, int, int, datetime], None],
        *,
        refill: bool,
    ) -> None:
        """One weekday: each cart's use in the morning, then (Mondays) the restock round."""
        morning = datetime.combine(day, time(10), tzinfo=clinic.tz)
        afternoon = datetime.combine(day, time(16), tzinfo=clinic.tz)
        for cart in carts:
            on_hand = dict(
                LocationItem.objects.filter(location=cart).values_list("item_id", "on_hand")
            )
            lines = []
            for item, par in rng.sample(items, USES_PER_CART_DAY):
                # What the cart still holds: a nurse cannot use what is not there.
                quantity = min(rng.randint(1, max(par // 4, 1)), on_hand[item.pk])
                if quantity:
                    lines.append(usage.UsageLine(item.pk, quantity))
            if lines:
                usage.log_usage(
                    actor=actor,
                    location=cart,
                    lines=lines,
                    idempotency_key=f"seed-{cart.pk}-{day:%Y%m%d}",
                    now=morning,
                )
        if not refill or day.weekday() != REFILL_WEEKDAY:
            return
        for cart in carts:
            # Up to the maximum rather than par: a weekly round must last the week.
            for item_id, quantity in [
                (li.item_id, li.max_quantity - li.on_hand)
                for li in LocationItem.objects.filter(location=cart).at_or_below_reorder_point()
            ]:
                move(cart, item_id, quantity, afternoon)
