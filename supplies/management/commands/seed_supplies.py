"""Demo supplies for every clinic: a supply room, a cart per exam room, stock and eight weeks
of use (so tiles, below par, reorder and suggested par have something to show). Idempotent."""

from __future__ import annotations

import contextlib
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from clinicops.core.models import Clinic, Room, User
from supplies import services
from supplies.models import ItemBarcode, LocationItem, StockLocation, Supplier, SupplyItem

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
    help = "Create demo supplies (locations, items, stock, eight weeks of use) for each clinic."

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
        opening = datetime.combine(today - timedelta(days=57), time(8), tzinfo=clinic.tz)
        deliveries = 0

        def deliver(li: LocationItem, quantity: int, when: datetime, expiry: date) -> None:
            nonlocal deliveries
            deliveries += 1
            services.receive_stock(
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

        def top_up(li: LocationItem, needed: int, par: int, when: datetime) -> None:
            """The supplier delivers when the supply room runs short (the demo skips orders)."""
            li.refresh_from_db()
            if li.on_hand < needed:
                deliver(li, par * 10, when, when.date() + timedelta(days=365))

        stocked: dict[int, LocationItem] = {}
        for item, par in items:
            li = LocationItem.objects.create(
                location=room, item=item, par=par * 10, reorder_point=par * 4, max_quantity=par * 15
            )
            stocked[item.pk] = li
            deliver(li, par * 12, opening, today + timedelta(days=rng.choice([20, 45, 200, 400])))
        for exam in Room.objects.filter(
            clinic=clinic, is_active=True, kind__in=[Room.Kind.EXAM, Room.Kind.PROCEDURE]
        ):
            cart, _ = StockLocation.objects.get_or_create(
                clinic=clinic, name=f"{exam.name} cart", defaults={"room": exam}
            )
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
                top_up(stocked[item.pk], par, par, opening)
                services.transfer(
                    actor=actor, source=room, destination=cart, item=item, quantity=par, now=opening
                )
            # Eight weeks of use, most of it of a few items, none of it tied to a patient.
            for days_ago in range(56, 0, -1):
                when = datetime.combine(
                    today - timedelta(days=days_ago), time(10), tzinfo=clinic.tz
                )
                for item, par in rng.sample(items, 4):
                    quantity = rng.randint(1, max(par // 8, 1))
                    try:
                        services.log_usage(
                            actor=actor,
                            location=cart,
                            lines=[services.UsageLine(item.pk, quantity)],
                            idempotency_key=f"seed-{cart.pk}-{days_ago}-{item.pk}",
                            now=when,
                        )
                    except services.InsufficientStock:
                        cart_li = LocationItem.objects.get(location=cart, item=item)
                        top_up(stocked[item.pk], cart_li.par, par, when)
                        with contextlib.suppress(services.SupplyError):
                            services.refill_from_supply_room(
                                actor=actor, location_item=cart_li, now=when
                            )
                if days_ago % 3 == 0:
                    # The afternoon refill round: every item at its reorder point goes to par.
                    for cart_li in LocationItem.objects.filter(
                        location=cart
                    ).at_or_below_reorder_point():
                        top_up(stocked[cart_li.item_id], cart_li.par, cart_li.par, when)
                        with contextlib.suppress(services.SupplyError):
                            services.refill_from_supply_room(
                                actor=actor,
                                location_item=cart_li,
                                now=when + timedelta(hours=6),
                            )
        # A forgotten box of an expired lot, so the expiry screen has something to waste.
        lotted = next((item for item, _ in items if item.is_lot_tracked), None)
        if lotted is not None:
            services.receive_stock(
                actor=actor,
                location_item=stocked[lotted.pk],
                quantity=6,
                lot_number=f"{lotted.sku}-C{clinic.pk}-OLD",
                expiry=today - timedelta(days=3),
                reason="found",
                note="Found at the back of the shelf (demo)",
                now=datetime.combine(today - timedelta(days=1), time(17), tzinfo=clinic.tz),
            )
