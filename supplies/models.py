"""Par-level inventory: the item master, stock locations and the append-only stock ledger.

On-hand quantities live on `LocationItem` (and, for lot-tracked items, `LotStock`) so a nurse's
"log" is one conditional UPDATE, not a sum over history; `StockMovement` is the ledger those
numbers must always agree with (`manage.py check_stock_ledger` proves it). Every change of
on-hand goes through `supplies.services`, which writes the movement in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from clinicops.core.models import Clinic, ClinicScopedQuerySet, Patient, Room

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager


class Supplier(models.Model):
    name = models.CharField(max_length=120, unique=True)
    lead_time_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days from sending an order to receiving it."
    )
    account_number = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SupplyItem(models.Model):
    """One line of the item master, shared by every clinic of the installation."""

    sku = models.CharField("SKU", max_length=40, unique=True)
    name = models.CharField(max_length=120)
    category = models.CharField(max_length=60, blank=True)
    unit_of_use = models.CharField(
        max_length=30, default="each", help_text="What one logged unit is: each, pair, box."
    )
    pack_size = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Units of use in one purchase pack (a box of 100 is 100).",
    )
    unit_cost = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Cost of one unit of use.",
    )
    supplier = models.ForeignKey(
        Supplier, on_delete=models.PROTECT, null=True, blank=True, related_name="items"
    )
    is_critical = models.BooleanField("critical", default=False)
    is_active = models.BooleanField("active", default=True)
    is_lot_tracked = models.BooleanField(
        "lot-tracked", default=False, help_text="Receipts record lot and expiry; use is FEFO."
    )
    max_use_quantity = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Largest quantity one log may use; blank means SUPPLIES_MAX_USE_QUANTITY.",
    )

    if TYPE_CHECKING:
        barcodes: RelatedManager[ItemBarcode]

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pack_size__gte=1), name="supplyitem_pack_size_positive"
            ),
            models.CheckConstraint(
                condition=Q(unit_cost__gte=0), name="supplyitem_cost_not_negative"
            ),
        ]
        permissions = [("import_supplyitem", "Can import the item master from CSV")]

    def __str__(self) -> str:
        return self.name

    @property
    def use_cap(self) -> int:
        return self.max_use_quantity or settings.SUPPLIES_MAX_USE_QUANTITY


class ItemBarcode(models.Model):
    item = models.ForeignKey(SupplyItem, on_delete=models.CASCADE, related_name="barcodes")
    code = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class StockLocation(models.Model):
    class Kind(models.TextChoices):
        SUPPLY_ROOM = "supply_room", "Supply room"
        POINT_OF_USE = "point_of_use", "Point of use (cart, procedure room)"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="stock_locations")
    name = models.CharField(max_length=60)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.POINT_OF_USE)
    room = models.ForeignKey(
        Room, on_delete=models.SET_NULL, null=True, blank=True, related_name="stock_locations"
    )
    review_period_days = models.PositiveSmallIntegerField(
        default=1,
        help_text="Days between checks of this location (carts daily, supply room weekly).",
    )
    refill_lead_days = models.PositiveSmallIntegerField(
        default=1,
        help_text="Days to refill a point-of-use location from the supply room "
        "(the supply room uses its supplier's lead time).",
    )
    is_active = models.BooleanField(default=True)

    objects = ClinicScopedQuerySet["StockLocation"].as_manager()

    class Meta:
        ordering = ["clinic", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name"], name="unique_location_name_per_clinic"
            ),
            # Carts are refilled from *the* supply room: one per clinic keeps that unambiguous.
            models.UniqueConstraint(
                fields=["clinic"],
                condition=Q(kind="supply_room"),
                name="one_supply_room_per_clinic",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_supply_room(self) -> bool:
        return self.kind == self.Kind.SUPPLY_ROOM


class LocationItemQuerySet(ClinicScopedQuerySet["LocationItem"]):
    clinic_lookup = "location__clinic"

    def at_or_below_reorder_point(self) -> LocationItemQuerySet:
        return self.filter(is_active=True, par__gt=0, on_hand__lte=F("reorder_point"))


class LocationItem(models.Model):
    """An item stocked at a location: its levels and its on-hand quantity."""

    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="items")
    item = models.ForeignKey(SupplyItem, on_delete=models.PROTECT, related_name="location_items")
    par = models.PositiveIntegerField(default=0, help_text="The level to refill to.")
    reorder_point = models.PositiveIntegerField(
        default=0, help_text="Refill (or reorder) when on hand falls to this or below."
    )
    max_quantity = models.PositiveIntegerField("maximum", default=0)
    on_hand = models.IntegerField(default=0, editable=False)
    is_active = models.BooleanField(default=True)

    objects = LocationItemQuerySet.as_manager()

    if TYPE_CHECKING:
        lot_stocks: RelatedManager[LotStock]

    class Meta:
        ordering = ["location", "item__name"]
        constraints = [
            models.UniqueConstraint(fields=["location", "item"], name="unique_item_per_location"),
            models.CheckConstraint(
                condition=Q(on_hand__gte=0), name="locationitem_on_hand_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reorder_point__lte=F("par")) & Q(par__lte=F("max_quantity")),
                name="locationitem_reorder_le_par_le_max",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item} @ {self.location}"

    @property
    def is_at_or_below_reorder_point(self) -> bool:
        return self.par > 0 and self.on_hand <= self.reorder_point

    @property
    def refill_quantity(self) -> int:
        return max(self.par - self.on_hand, 0)


class Lot(models.Model):
    item = models.ForeignKey(SupplyItem, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=40)
    expiry = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["item", "expiry", "lot_number"]
        constraints = [
            models.UniqueConstraint(fields=["item", "lot_number"], name="unique_lot_per_item"),
        ]

    def __str__(self) -> str:
        return f"lot {self.lot_number}" + (f" (exp {self.expiry:%Y-%m-%d})" if self.expiry else "")

    def is_expired_on(self, day: date) -> bool:
        return self.expiry is not None and self.expiry < day


class LotStockQuerySet(ClinicScopedQuerySet["LotStock"]):
    clinic_lookup = "location_item__location__clinic"


class LotStock(models.Model):
    """How much of one lot sits at one location.

    The lots of a location-item never add up to more than its on hand; any remainder is stock
    received before the item was lot-tracked.
    """

    location_item = models.ForeignKey(
        LocationItem, on_delete=models.PROTECT, related_name="lot_stocks"
    )
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="stocks")
    on_hand = models.IntegerField(default=0, editable=False)

    objects = LotStockQuerySet.as_manager()

    class Meta:
        ordering = ["location_item", "lot__expiry", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["location_item", "lot"], name="unique_lot_per_location_item"
            ),
            models.CheckConstraint(
                condition=Q(on_hand__gte=0), name="lotstock_on_hand_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot} @ {self.location_item.location}: {self.on_hand}"


class UsageSubmissionQuerySet(ClinicScopedQuerySet["UsageSubmission"]):
    clinic_lookup = "location__clinic"


class UsageSubmission(models.Model):
    """One tap of "log" (or a one-tap transfer), recorded once per idempotency key and user.

    A retried request finds this row and gets the first answer back instead of logging twice.
    """

    class Kind(models.TextChoices):
        USE = "use", "Use"
        TRANSFER = "transfer", "Transfer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.USE)
    location = models.ForeignKey(
        StockLocation, on_delete=models.PROTECT, related_name="submissions"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # patientflow's Visit does not exist yet; its id is kept so use can be tied to it later.
    visit_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    fingerprint = models.CharField(max_length=64, help_text="Hash of what was submitted.")
    created_at = models.DateTimeField()
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = UsageSubmissionQuerySet.as_manager()

    if TYPE_CHECKING:
        movements: RelatedManager[StockMovement]

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"], name="one_submission_per_key"
            ),
        ]
        # The tablet's last logs and undo read a location's newest logs on every screen: an
        # index scan that stops at the first few, however many logs the cart has had.
        indexes = [
            models.Index(fields=["location", "kind", "-created_at"], name="usage_location_recent")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.idempotency_key} by {self.user_id}"


class StockMovementQuerySet(ClinicScopedQuerySet["StockMovement"]):
    clinic_lookup = "location_item__location__clinic"


class StockMovement(models.Model):
    """One line of the append-only stock ledger. Database triggers refuse UPDATE and DELETE
    (migration 0002); a mistake is corrected by a compensating movement."""

    class Kind(models.TextChoices):
        RECEIVE = "receive", "Received"
        USE = "use", "Used"
        TRANSFER_OUT = "transfer_out", "Transferred out"
        TRANSFER_IN = "transfer_in", "Transferred in"
        COUNT_ADJUST = "count_adjust", "Count adjustment"
        WASTE = "waste", "Wasted"
        RETURN = "return", "Returned"
        # Logged use of more than the books held: the shortfall is posted as found, just
        # before the use, and waits for a manager's review (FoundStockReview).
        FOUND = "found", "Found at use (not on the books)"

    class Reason(models.TextChoices):
        MISCOUNTED = "miscounted", "Miscounted"
        FOUND = "found", "Found"
        EXPIRED = "expired", "Expired"
        LOST = "lost", "Lost"
        DAMAGED = "damaged", "Damaged"
        OPENING = "opening", "Opening balance"
        UNDO = "undo", "Undo of a log"
        UNUSED = "unused", "Unused, put back"

    INBOUND = (Kind.RECEIVE, Kind.TRANSFER_IN, Kind.RETURN, Kind.FOUND)
    OUTBOUND = (Kind.USE, Kind.TRANSFER_OUT, Kind.WASTE)

    location_item = models.ForeignKey(
        LocationItem, on_delete=models.PROTECT, related_name="movements"
    )
    lot = models.ForeignKey(
        Lot, on_delete=models.PROTECT, null=True, blank=True, related_name="movements"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.IntegerField(help_text="Signed: positive into the location, negative out.")
    unit_cost = models.DecimalField(max_digits=12, decimal_places=4)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    occurred_at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    note = models.CharField(max_length=200, blank=True)
    # All movements written by one service call share this id (both sides of a transfer, the
    # lines of one log, the adjustments of one count).
    operation_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    submission = models.ForeignKey(
        UsageSubmission, on_delete=models.PROTECT, null=True, blank=True, related_name="movements"
    )
    reverses = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    visit_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    purchase_order_line = models.ForeignKey(
        "PurchaseOrderLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
    )
    count_line = models.ForeignKey(
        "CountLine", on_delete=models.PROTECT, null=True, blank=True, related_name="movements"
    )

    objects = StockMovementQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            models.Index(fields=["location_item", "occurred_at"], name="movement_item_time"),
            models.Index(fields=["kind", "occurred_at"], name="movement_kind_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["receive", "transfer_in", "return", "found"]) & Q(quantity__gt=0)
                )
                | (Q(kind__in=["use", "transfer_out", "waste"]) & Q(quantity__lt=0))
                | (Q(kind="count_adjust") & ~Q(quantity=0)),
                name="movement_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind="count_adjust") | ~Q(reason=""), name="adjustment_has_reason"
            ),
        ]
        default_permissions = ("view",)
        permissions = [
            ("log_usage", "Can log supply use"),
            ("transfer_stock", "Can transfer stock between locations"),
            ("count_stock", "Can count stock and post count adjustments"),
            ("waste_stock", "Can waste expired or damaged stock"),
            ("review_stockmovement", "Can mark stock found at use as reviewed"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity:+d} {self.location_item}"

    @property
    def extended_cost(self) -> Decimal:
        return self.unit_cost * self.quantity


class FoundStockReviewQuerySet(ClinicScopedQuerySet["FoundStockReview"]):
    clinic_lookup = "movement__location_item__location__clinic"


class FoundStockReview(models.Model):
    """A manager's review of a "found at use" movement. The ledger is append-only, so the
    review is its own row; a found movement without one is waiting on the counts screen."""

    movement = models.OneToOneField(
        StockMovement, on_delete=models.PROTECT, related_name="found_review"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField()

    objects = FoundStockReviewQuerySet.as_manager()

    class Meta:
        ordering = ["-reviewed_at"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"Review of {self.movement}"


class PurchaseOrderQuerySet(ClinicScopedQuerySet["PurchaseOrder"]):
    clinic_lookup = "clinic"

    def open(self) -> PurchaseOrderQuerySet:
        return self.filter(status__in=PurchaseOrder.OPEN_STATUSES)


class PurchaseOrder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"
        PARTLY_RECEIVED = "partly_received", "Partly received"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    # Drafts count as open: a manager who has drafted an order from today's suggestions must
    # not be told to order the same boxes again.
    OPEN_STATUSES = (Status.DRAFT, Status.SENT, Status.PARTLY_RECEIVED)

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="purchase_orders")
    location = models.ForeignKey(
        StockLocation,
        on_delete=models.PROTECT,
        related_name="purchase_orders",
        help_text="Deliver to.",
    )
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)

    objects = PurchaseOrderQuerySet.as_manager()

    if TYPE_CHECKING:
        lines: RelatedManager[PurchaseOrderLine]

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("send_purchaseorder", "Can send purchase orders"),
            ("receive_purchaseorder", "Can receive purchase orders"),
        ]

    def __str__(self) -> str:
        return f"PO-{self.pk:06d}" if self.pk else "PO (unsaved)"


class PurchaseOrderLine(models.Model):
    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(SupplyItem, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(help_text="Units of use ordered (whole packs).")
    pack_size = models.PositiveIntegerField(help_text="Pack size at the time of ordering.")
    unit_cost = models.DecimalField(max_digits=12, decimal_places=4)
    received_quantity = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "item__name"]
        constraints = [
            models.UniqueConstraint(fields=["order", "item"], name="one_line_per_item_per_order"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="po_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(received_quantity__lte=F("quantity")), name="po_line_not_over_received"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item} x {self.quantity}"

    @property
    def outstanding(self) -> int:
        return self.quantity - self.received_quantity

    @property
    def packs(self) -> int:
        return -(-self.quantity // self.pack_size)


class CountSessionQuerySet(ClinicScopedQuerySet["CountSession"]):
    clinic_lookup = "location__clinic"


class CountSession(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        POSTED = "posted", "Posted"
        CANCELLED = "cancelled", "Cancelled"

    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="counts")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField()
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    posted_at = models.DateTimeField(null=True, blank=True)

    objects = CountSessionQuerySet.as_manager()

    if TYPE_CHECKING:
        lines: RelatedManager[CountLine]

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["location"], condition=Q(status="open"), name="one_open_count_per_location"
            ),
        ]

    def __str__(self) -> str:
        return f"Count of {self.location} ({self.get_status_display()})"


class CountLine(models.Model):
    """One counted quantity. `expected` is the system's figure at the moment of counting, so
    use logged between counting and posting does not distort the variance."""

    session = models.ForeignKey(CountSession, on_delete=models.CASCADE, related_name="lines")
    location_item = models.ForeignKey(LocationItem, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    expected = models.IntegerField()
    counted = models.PositiveIntegerField()
    reason = models.CharField(max_length=20, choices=StockMovement.Reason.choices, blank=True)
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    counted_at = models.DateTimeField()

    class Meta:
        ordering = ["session", "location_item__item__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "location_item", "lot"],
                name="one_count_per_item_lot",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.location_item}: counted {self.counted}, expected {self.expected}"

    @property
    def variance(self) -> int:
        return self.counted - self.expected


class ReorderSuggestion(models.Model):
    """The nightly reorder suggestion for a supply-room item (recomputed, not accumulated)."""

    location_item = models.OneToOneField(
        LocationItem, on_delete=models.CASCADE, related_name="reorder_suggestion"
    )
    quantity = models.PositiveIntegerField()
    on_hand = models.IntegerField()
    on_order = models.IntegerField()
    computed_at = models.DateTimeField()

    class ScopedQuerySet(ClinicScopedQuerySet["ReorderSuggestion"]):
        clinic_lookup = "location_item__location__clinic"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["location_item__item__name"]

    def __str__(self) -> str:
        return f"order {self.quantity} of {self.location_item.item}"


class ExpiryAlert(models.Model):
    """Raised once per lot at a location and window (60 days, 30 days, expired)."""

    class Window(models.TextChoices):
        DAYS_60 = "60", "Expires within 60 days"
        DAYS_30 = "30", "Expires within 30 days"
        EXPIRED = "expired", "Expired"

    lot_stock = models.ForeignKey(LotStock, on_delete=models.CASCADE, related_name="expiry_alerts")
    window = models.CharField(max_length=10, choices=Window.choices)
    raised_on = models.DateField()
    quantity = models.IntegerField(help_text="On hand when raised.")

    class ScopedQuerySet(ClinicScopedQuerySet["ExpiryAlert"]):
        clinic_lookup = "lot_stock__location_item__location__clinic"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["lot_stock", "window"], name="one_alert_per_lot_window"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_window_display()}: {self.lot_stock}"
