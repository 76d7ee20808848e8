"""Reads for the supplies screens and services: below par, pick lists, reorder, expiry, par."""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.db.models import (
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from clinicops.core.models import Clinic

from .models import (
    CountLine,
    ItemBarcode,
    LocationItem,
    LocationItemQuerySet,
    LotStock,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLocation,
    StockMovement,
    SupplyItem,
    UsageSubmission,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from clinicops.core.models import User

# Suggested par looks back this far.
PAR_HISTORY_DAYS = 56
# One-sided z-scores for the service level a par should reach (see ADR 0004).
Z_CRITICAL = 2.33  # 99 %
Z_STANDARD = 1.65  # 95 %
# "Most used first" on the tablet counts this many days of use.
TILE_HISTORY_DAYS = 28


def round_up_to_pack(quantity: int, pack_size: int) -> int:
    """The smallest whole number of packs holding `quantity` units, in units."""
    if quantity <= 0:
        return 0
    return -(-quantity // pack_size) * pack_size


def local_day_bounds(clinic: Clinic, first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC covering local days first..last in the clinic's time zone."""
    tz = clinic.tz
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def locations(user: User, clinic: Clinic) -> QuerySet[StockLocation]:
    """The active stock locations of `clinic` that `user` may see (supply room first)."""
    return (
        StockLocation.objects.for_user(user)
        .filter(clinic=clinic, is_active=True)
        .select_related("room")
        .order_by("-kind", "name")
    )


def location_items(
    location: StockLocation, *, now: datetime | None = None
) -> QuerySet[LocationItem]:
    """The items stocked at a location, most used (last four weeks) first, for the tablet tiles."""
    now = now or timezone.now()
    since = now - timedelta(days=TILE_HISTORY_DAYS)
    # Each tile's use in the window, read through movement_item_time (item, time): only the
    # window's movements, however long the cart's ledger grows (a join summed all of them).
    recent = (
        StockMovement.objects.filter(
            location_item=OuterRef("pk"), kind=StockMovement.Kind.USE, occurred_at__gte=since
        )
        .order_by()
        .values("location_item")
        .annotate(used=Sum(-F("quantity")))
        .values("used")
    )
    return (
        LocationItem.objects.filter(location=location, is_active=True, item__is_active=True)
        .select_related("item")
        .annotate(recent_use=Coalesce(Subquery(recent, output_field=IntegerField()), 0))
        .order_by("-recent_use", "item__name")
    )


def item_by_barcode(location: StockLocation, code: str) -> LocationItem | None:
    """The location-item a scanned barcode (or a typed SKU) stands for, if stocked here."""
    code = (code or "").strip()
    if not code:
        return None
    barcode = ItemBarcode.objects.filter(code=code).values_list("item_id", flat=True).first()
    lookup = Q(item_id=barcode) if barcode is not None else Q(item__sku__iexact=code)
    return (
        LocationItem.objects.filter(lookup, location=location, is_active=True, item__is_active=True)
        .select_related("item")
        .first()
    )


def below_par(clinic: Clinic) -> LocationItemQuerySet:
    """Every active location-item of the clinic at or under its reorder point, with the
    quantity that refills it to par."""
    return (
        LocationItem.objects.for_clinic(clinic)
        .at_or_below_reorder_point()
        .filter(location__is_active=True, item__is_active=True)
        .select_related("item", "location")
        .annotate(
            refill=ExpressionWrapper(F("par") - F("on_hand"), output_field=IntegerField()),
        )
        .order_by("location__kind", "location__name", "-item__is_critical", "item__name")
    )


def supply_room(clinic: Clinic) -> StockLocation | None:
    return StockLocation.objects.filter(
        clinic=clinic, kind=StockLocation.Kind.SUPPLY_ROOM, is_active=True
    ).first()


@dataclass(frozen=True)
class PickLine:
    location_item: LocationItem
    refill: int  # to par
    available: int  # in the supply room
    quantity: int  # what one tap moves: the refill, or what the supply room has

    @property
    def is_short(self) -> bool:
        return self.available < self.refill


def pick_list(clinic: Clinic) -> list[PickLine]:
    """Point-of-use lines below par and what the supply room can send to refill them."""
    room = supply_room(clinic)
    lines = list(below_par(clinic).filter(location__kind=StockLocation.Kind.POINT_OF_USE))
    stock: dict[int, int] = {}
    if room is not None:
        stock = dict(
            LocationItem.objects.filter(
                location=room, item_id__in={li.item_id for li in lines}
            ).values_list("item_id", "on_hand")
        )
    result = []
    for li in lines:
        available = stock.get(li.item_id, 0)
        result.append(
            PickLine(
                location_item=li,
                refill=li.refill_quantity,
                available=available,
                quantity=min(li.refill_quantity, available),
            )
        )
    return result


def open_order_quantities(location: StockLocation) -> dict[int, int]:
    """Units still expected per item on open purchase orders delivering to `location`."""
    rows = (
        PurchaseOrderLine.objects.filter(
            order__location=location, order__status__in=PurchaseOrder.OPEN_STATUSES
        )
        .values("item_id")
        .annotate(open=Sum(F("quantity") - F("received_quantity")))
    )
    return {row["item_id"]: row["open"] for row in rows}


@dataclass(frozen=True)
class ReorderLine:
    location_item: LocationItem
    on_hand: int
    on_order: int
    quantity: int  # units, whole packs

    @property
    def packs(self) -> int:
        return self.quantity // self.location_item.item.pack_size

    @property
    def extended_cost(self) -> Decimal:
        return self.location_item.item.unit_cost * self.quantity


def reorder_suggestions(clinic: Clinic) -> list[ReorderLine]:
    """What the supply room should order: for each item whose inventory position (on hand plus
    open orders) is at or under its reorder point, max minus that position, rounded up to whole
    packs."""
    room = supply_room(clinic)
    if room is None:
        return []
    on_order = open_order_quantities(room)
    result = []
    items = (
        LocationItem.objects.filter(
            location=room, is_active=True, item__is_active=True, max_quantity__gt=0
        )
        .select_related("item", "item__supplier", "location")
        .order_by("item__supplier__name", "item__name")
    )
    for li in items:
        ordered = on_order.get(li.item_id, 0)
        position = li.on_hand + ordered
        if position > li.reorder_point:
            continue
        quantity = round_up_to_pack(li.max_quantity - position, li.item.pack_size)
        if quantity > 0:
            result.append(
                ReorderLine(
                    location_item=li, on_hand=li.on_hand, on_order=ordered, quantity=quantity
                )
            )
    return result


def expiring(clinic: Clinic, days: int, *, today: date | None = None) -> QuerySet[LotStock]:
    """Lots on hand in the clinic that expire within `days` days, expired ones included,
    soonest first."""
    today = today or clinic.today()
    return (
        LotStock.objects.for_clinic(clinic)
        .filter(
            on_hand__gt=0, lot__expiry__isnull=False, lot__expiry__lte=today + timedelta(days=days)
        )
        .select_related("lot", "location_item__item", "location_item__location")
        .order_by("lot__expiry", "location_item__location__name", "location_item__item__name")
    )


def expired(clinic: Clinic, *, today: date | None = None) -> QuerySet[LotStock]:
    """Lots on hand past their expiry date (a lot is usable through its expiry date)."""
    today = today or clinic.today()
    return expiring(clinic, 0, today=today).filter(lot__expiry__lt=today)


def recent_submissions(
    user: User, location: StockLocation, *, since: datetime
) -> QuerySet[UsageSubmission]:
    """The user's own logs at a location since a moment (for undo)."""
    return UsageSubmission.objects.filter(
        user=user, location=location, kind=UsageSubmission.Kind.USE, created_at__gte=since
    ).order_by("-created_at")


@dataclass(frozen=True)
class ParSuggestion:
    par: int
    average_daily_use: float
    daily_use_deviation: float
    lead_days: int
    review_days: int
    safety_stock: float
    days: int = PAR_HISTORY_DAYS

    @property
    def cover_days(self) -> int:
        return self.lead_days + self.review_days


def compute_par(
    daily_use: list[int], *, lead_days: int, review_days: int, critical: bool
) -> ParSuggestion:
    """Par = average daily use x (lead time + review period) + safety stock, rounded up.

    Safety stock = z x sigma x sqrt(lead time + review period), where sigma is the standard
    deviation of daily use (days without use count as zero) and z is 2.33 for critical items
    (99 % of review cycles without a stockout) and 1.65 otherwise (95 %).
    """
    days = len(daily_use) or 1
    mean = sum(daily_use) / days
    variance = sum((u - mean) ** 2 for u in daily_use) / days
    sigma = math.sqrt(variance)
    cover = max(lead_days + review_days, 1)
    z = Z_CRITICAL if critical else Z_STANDARD
    safety = z * sigma * math.sqrt(cover)
    # Rounded to 6 places first so float noise (e.g. 12.000000001) does not add a unit.
    par = math.ceil(round(max(mean, 0) * cover + safety, 6))
    return ParSuggestion(
        par=max(par, 0),
        average_daily_use=mean,
        daily_use_deviation=sigma,
        lead_days=lead_days,
        review_days=review_days,
        safety_stock=safety,
        days=days,
    )


def lead_days_for(location_item: LocationItem) -> int:
    """Replenishment lead time: the supplier's for the supply room, the refill time for carts."""
    location = location_item.location
    if location.is_supply_room:
        supplier = location_item.item.supplier
        return supplier.lead_time_days if supplier else 0
    return location.refill_lead_days


def daily_net_use(
    location: StockLocation, *, first: date, last: date, item_ids: list[int] | None = None
) -> dict[int, dict[date, int]]:
    """{location_item_id: {local day: units used net of returns}} for days first..last."""
    clinic = location.clinic
    start, end = local_day_bounds(clinic, first, last)
    movements = StockMovement.objects.filter(
        location_item__location=location,
        kind__in=(StockMovement.Kind.USE, StockMovement.Kind.RETURN),
        occurred_at__gte=start,
        occurred_at__lt=end,
    )
    if item_ids is not None:
        movements = movements.filter(location_item__item_id__in=item_ids)
    rows = (
        movements.annotate(day=TruncDate("occurred_at", tzinfo=clinic.tz))
        .values("location_item_id", "day")
        .annotate(used=Sum(-F("quantity")))
    )
    result: dict[int, dict[date, int]] = defaultdict(dict)
    for row in rows:
        result[row["location_item_id"]][row["day"]] = row["used"]
    return result


def suggested_pars(
    location: StockLocation, *, today: date | None = None
) -> dict[int, ParSuggestion]:
    """A par suggestion for every active item at a location, from the last 8 weeks of use."""
    today = today or location.clinic.today()
    first, last = today - timedelta(days=PAR_HISTORY_DAYS), today - timedelta(days=1)
    history = daily_net_use(location, first=first, last=last)
    days = [first + timedelta(days=n) for n in range(PAR_HISTORY_DAYS)]
    result = {}
    items = LocationItem.objects.filter(location=location, is_active=True).select_related(
        "item__supplier", "location"
    )
    for li in items:
        used = history.get(li.pk, {})
        result[li.pk] = compute_par(
            [used.get(day, 0) for day in days],
            lead_days=lead_days_for(li),
            review_days=location.review_period_days,
            critical=li.item.is_critical,
        )
    return result


def suggested_par(location_item: LocationItem, *, today: date | None = None) -> ParSuggestion:
    """The par suggestion for one location-item (see `compute_par`)."""
    location = location_item.location
    today = today or location.clinic.today()
    first, last = today - timedelta(days=PAR_HISTORY_DAYS), today - timedelta(days=1)
    used = daily_net_use(location, first=first, last=last, item_ids=[location_item.item_id]).get(
        location_item.pk, {}
    )
    days = [first + timedelta(days=n) for n in range(PAR_HISTORY_DAYS)]
    return compute_par(
        [used.get(day, 0) for day in days],
        lead_days=lead_days_for(location_item),
        review_days=location.review_period_days,
        critical=location_item.item.is_critical,
    )


def count_variances(session_id: int) -> QuerySet[CountLine]:
    """The lines of a count with their variance, largest absolute variance first."""
    return (
        CountLine.objects.filter(session_id=session_id)
        .select_related("location_item__item", "lot")
        .annotate(
            diff=ExpressionWrapper(F("counted") - F("expected"), output_field=IntegerField()),
            abs_diff=Greatest(F("counted") - F("expected"), F("expected") - F("counted"), Value(0)),
        )
        .order_by("-abs_diff", "location_item__item__name")
    )


@dataclass(frozen=True)
class LedgerMismatch:
    """An on-hand figure that disagrees with the ledger (or lots that exceed their item)."""

    clinic: str
    location: str
    item: str
    sku: str
    lot: str | None
    on_hand: int
    expected: int
    lots_exceed_on_hand: bool = False

    def __str__(self) -> str:
        what = f"{self.item} (SKU {self.sku})" + (f" lot {self.lot}" if self.lot else "")
        where = f"{self.clinic} / {self.location} / {what}"
        if self.lots_exceed_on_hand:
            return f"{where}: its lots hold {self.expected}, more than the {self.on_hand} on hand"
        return (
            f"{where}: on hand {self.on_hand}, ledger sum {self.expected} "
            f"(off by {self.on_hand - self.expected:+d})"
        )


def ledger_mismatches(*, clinic: Clinic | None = None) -> list[LedgerMismatch]:
    """Every location-item and lot whose on hand differs from the sum of its ledger movements,
    and every location-item whose lots add up to more than its on hand.

    Run it inside one REPEATABLE READ transaction so that stock moving meanwhile cannot make
    a consistent ledger look inconsistent (the management command does).
    """
    items = LocationItem.objects.all()
    if clinic is not None:
        items = items.filter(location__clinic=clinic)
    info = {
        row["pk"]: row
        for row in items.values(
            "pk", "on_hand", "location__name", "location__clinic__name", "item__name", "item__sku"
        )
    }
    movements = (
        StockMovement.objects.filter(location_item_id__in=info.keys())
        if clinic
        else StockMovement.objects.all()
    )
    ledger = dict(
        movements.values("location_item_id")
        .annotate(total=Sum("quantity"))
        .values_list("location_item_id", "total")
    )
    lot_ledger = {
        (row["location_item_id"], row["lot_id"]): row["total"]
        for row in movements.filter(lot__isnull=False)
        .values("location_item_id", "lot_id")
        .annotate(total=Sum("quantity"))
    }
    lot_rows = LotStock.objects.filter(location_item_id__in=info.keys()).values_list(
        "location_item_id", "lot_id", "on_hand", "lot__lot_number"
    )
    lot_on_hand = {(li, lot): on_hand for li, lot, on_hand, _ in lot_rows}
    lot_names = {lot: name for _, lot, _, name in lot_rows}
    lot_names.update(
        dict(
            movements.filter(lot__isnull=False).values_list("lot_id", "lot__lot_number").distinct()
        )
    )

    def mismatch(
        li_id: int, lot_id: int | None, on_hand: int, expected: int, *, lots: bool = False
    ) -> LedgerMismatch:
        row = info[li_id]
        return LedgerMismatch(
            clinic=row["location__clinic__name"],
            location=row["location__name"],
            item=row["item__name"],
            sku=row["item__sku"],
            lot=lot_names.get(lot_id) if lot_id is not None else None,
            on_hand=on_hand,
            expected=expected,
            lots_exceed_on_hand=lots,
        )

    found = []
    for li_id, row in sorted(info.items()):
        total = ledger.get(li_id, 0)
        if row["on_hand"] != total:
            found.append(mismatch(li_id, None, row["on_hand"], total))
    lots_per_item: dict[int, int] = defaultdict(int)
    for key in sorted(set(lot_ledger) | set(lot_on_hand)):
        on_hand = lot_on_hand.get(key, 0)
        lots_per_item[key[0]] += on_hand
        if on_hand != lot_ledger.get(key, 0):
            found.append(mismatch(key[0], key[1], on_hand, lot_ledger.get(key, 0)))
    for li_id, in_lots in sorted(lots_per_item.items()):
        if in_lots > info[li_id]["on_hand"]:
            found.append(mismatch(li_id, None, info[li_id]["on_hand"], in_lots, lots=True))
    return found


# Visit steps in which the patient occupies a room (patientflow's IN_ROOM_STEPS); read through
# the app registry so supplies does not import patientflow, which sits above it.
IN_ROOM_STEPS = ("roomed", "with_provider")


def _in_rooms(visits: QuerySet[Any], *, clinic: Any, since: Any, until: Any) -> QuerySet[Any]:
    """The visits of `clinic` checked in within [since, until) that are in a room."""
    return visits.filter(
        clinic=clinic, step__in=IN_ROOM_STEPS, checked_in_at__gte=since, checked_in_at__lt=until
    )


def _visits_in_rooms(user: User, clinic: Clinic) -> QuerySet[Any] | None:
    """Today's visits at `clinic` that are in a room, as `user` may see them (None without
    patientflow)."""
    try:
        visit_model = apps.get_model("patientflow", "Visit")
    except LookupError:
        return None
    start, end = local_day_bounds(clinic, clinic.today(), clinic.today())
    return _in_rooms(visit_model.objects.for_user(user), clinic=clinic, since=start, until=end)


def visits_for_logging(user: User, location: StockLocation) -> list[Any]:
    """Today's visits at the location's clinic that are in a room, the location's own room
    first: the patients a nurse may log use for. Empty without patientflow."""
    in_rooms = _visits_in_rooms(user, location.clinic)
    if in_rooms is None:
        return []
    visits = list(
        in_rooms.select_related("patient", "room").order_by("room__name", "checked_in_at")
    )
    visits.sort(key=lambda v: v.room_id is None or v.room_id != location.room_id)
    return visits


@dataclass(frozen=True)
class VisitChip:
    """A patient in a room as the tablet's picker shows them (no more than it shows)."""

    pk: int
    patient_id: int
    first_name: str
    last_name: str
    room_id: int | None
    room_name: str
    step_label: str


@functools.cache
def _step_labels() -> dict[str, str]:
    """The visit steps' labels (choices in patientflow's code: read once)."""
    visit_model = apps.get_model("patientflow", "Visit")
    return {str(k): str(v) for k, v in visit_model._meta.get_field("step").flatchoices}


def visit_chips(visits: list[Any]) -> list[VisitChip]:
    """The picker's chips for visits read as rows (`visits_for_logging`)."""
    return [
        VisitChip(
            pk=v.pk,
            patient_id=v.patient_id,
            first_name=v.patient.first_name,
            last_name=v.patient.last_name,
            room_id=v.room_id,
            room_name=v.room.name if v.room is not None else "",
            step_label=str(v.get_step_display()),
        )
        for v in visits
    ]


@dataclass(frozen=True)
class SubmissionLine:
    item_name: str
    unit_of_use: str
    quantity: int
    on_hand: int | None = None  # not known for a past log: the screen leaves it out
    lots: tuple[str, ...] = ()


def submission_lines(submission: UsageSubmission) -> list[SubmissionLine]:
    """What one log took, per item (net of nothing: an undone log still shows what it was)."""
    rows = (
        StockMovement.objects.filter(submission=submission, kind=StockMovement.Kind.USE)
        .values("location_item__item__name", "location_item__item__unit_of_use")
        .annotate(used=Sum(-F("quantity")))
        .order_by("location_item__item__name")
    )
    return [
        SubmissionLine(
            item_name=row["location_item__item__name"],
            unit_of_use=row["location_item__item__unit_of_use"],
            quantity=row["used"],
        )
        for row in rows
    ]


def found_to_review(clinic: Clinic) -> QuerySet[StockMovement]:
    """Use beyond the books posted as found and not yet reviewed (an undone log's found stock
    went again with it, so there is nothing to review)."""
    return (
        StockMovement.objects.for_clinic(clinic)
        .filter(kind=StockMovement.Kind.FOUND, found_review__isnull=True, reversals__isnull=True)
        .select_related("location_item__item", "location_item__location", "user")
        .order_by("-occurred_at", "-pk")
    )


@dataclass(frozen=True)
class RecentLogLine:
    item_name: str
    quantity: int
    found: int = 0


@dataclass(frozen=True)
class RecentLog:
    """One log at a location as stored: when, by whom, what (for the tablet's "last logged")."""

    submission_id: int
    created_at: datetime
    user_id: int
    user_name: str
    lines: tuple[RecentLogLine, ...]
    undone: bool


def recent_logs(location: StockLocation, *, since: datetime, limit: int = 5) -> list[RecentLog]:
    """The last logs of use at a location since a moment, newest first, read from the ledger
    (one query, whatever the limit). No patient is named: the tablet is seen by all."""
    last = (
        UsageSubmission.objects.filter(
            location=location, kind=UsageSubmission.Kind.USE, created_at__gte=since
        )
        .order_by("-created_at", "-pk")
        .values("pk")[:limit]
    )
    # One query: the movements of the last submissions, with the submission's own fields.
    rows = (
        StockMovement.objects.filter(
            submission__in=last,
            kind__in=(StockMovement.Kind.USE, StockMovement.Kind.FOUND),
        )
        .values(
            "submission_id",
            "submission__created_at",
            "submission__user_id",
            "submission__user__first_name",
            "submission__user__last_name",
            "submission__user__username",
            "submission__undone_at",
            "location_item__item__name",
            "kind",
        )
        .annotate(total=Sum("quantity"))
        .order_by("location_item__item__name")
    )
    heads: dict[int, dict[str, Any]] = {}
    used: dict[int, dict[str, list[int]]] = defaultdict(dict)
    for row in rows:
        heads[row["submission_id"]] = row
        figures = used[row["submission_id"]].setdefault(row["location_item__item__name"], [0, 0])
        if row["kind"] == StockMovement.Kind.USE:
            figures[0] += -row["total"]
        else:
            figures[1] += row["total"]
    ordered = sorted(
        heads.values(),
        key=lambda r: (r["submission__created_at"], r["submission_id"]),
        reverse=True,
    )
    return [
        RecentLog(
            submission_id=r["submission_id"],
            created_at=r["submission__created_at"],
            user_id=r["submission__user_id"],
            user_name=(
                f"{r['submission__user__first_name']} {r['submission__user__last_name']}".strip()
                or r["submission__user__username"]
            ),
            lines=tuple(
                RecentLogLine(item_name=name, quantity=q, found=f)
                for name, (q, f) in used[r["submission_id"]].items()
            ),
            undone=r["submission__undone_at"] is not None,
        )
        for r in ordered
    ]


# ---------------------------------------------------------------------------------------------
# The tablet's screen in one round trip

# Columns in the order of each model's concrete fields, so rows become instances by from_db.
_LOCATION_COLUMNS = ", ".join(f"l.{f.column}" for f in StockLocation._meta.concrete_fields)
_TILE_COLUMNS = ", ".join(
    [f"li.{f.column}" for f in LocationItem._meta.concrete_fields]
    # unit_cost as text: JSON numbers would come back as floats, and money is Decimal.
    + [
        f"i.{f.column}::text" if f.name == "unit_cost" else f"i.{f.column}"
        for f in SupplyItem._meta.concrete_fields
    ]
)
_LI_FIELDS = [f.attname for f in LocationItem._meta.concrete_fields]
_ITEM_FIELDS = [f.attname for f in SupplyItem._meta.concrete_fields]
_UNIT_COST = _ITEM_FIELDS.index("unit_cost")


@dataclass(frozen=True)
class LastEntry:
    """The user's own last log at a location, while it can still be undone."""

    submission: UsageSubmission
    lines: list[SubmissionLine]


@dataclass(frozen=True)
class TabletScreen:
    """What the tablet shows at a location, read together (see `tablet_screen`)."""

    location: StockLocation
    # Active items of active location-items, each with its item; for the screen (`ordered`)
    # most used first with `codes` (the item's barcodes), otherwise in id order without.
    items: list[LocationItem]
    recent_logs: list[RecentLog]
    last_entry: LastEntry | None
    # The patient picker's chips (`visits_for_logging`'s visits), when asked for.
    visits: list[VisitChip] = field(default_factory=list)


@functools.cache
def _log_user_names_sql() -> tuple[str, tuple[Any, ...]]:
    """The names of who made the logs `tablet_screen` shows (its `shown`), as core's User
    model reads them: compiled once, as nothing in it changes from one screen to the next."""
    from django.contrib.auth import get_user_model
    from django.db.models.expressions import RawSQL

    users = (
        get_user_model()
        .objects.filter(
            pk__in=RawSQL(
                "SELECT user_id FROM supplies_usagesubmission WHERE id IN (SELECT id FROM shown)",
                (),
            )
        )
        .values("id", "first_name", "last_name", "username")
    )
    return users.query.sql_with_params()


@functools.cache
def _in_rooms_sql() -> tuple[str, tuple[Any, ...]] | None:
    """The patients in rooms for `tablet_screen`, as patientflow's Visit model reads them
    (None without patientflow), compiled once: the clinic is the screen's location's (its
    `loc`, which is already within the user's clinics, as `for_user` would scope the visits)
    and the day is the statement's `day`, so nothing in it changes from one screen to the next.
    """
    from django.db.models.expressions import RawSQL

    try:
        visit_model = apps.get_model("patientflow", "Visit")
    except LookupError:
        return None
    chips = (
        _in_rooms(
            visit_model.objects.all(),
            clinic=RawSQL("SELECT clinic_id FROM loc", ()),
            since=RawSQL("SELECT since FROM day", ()),
            until=RawSQL("SELECT until FROM day", ()),
        )
        .order_by()
        .values(
            "id",
            "patient_id",
            "room_id",
            "step",
            "checked_in_at",
            "patient__first_name",
            "patient__last_name",
            "room__name",
        )
    )
    return chips.query.sql_with_params()


def tablet_screen(
    user: User,
    clinic: Clinic,
    location_id: int,
    *,
    now: datetime,
    ordered: bool = True,
    recent: int = 5,
    with_visits: bool = False,
) -> TabletScreen | None:
    """The location (None if the user may not see it in `clinic`, or it is inactive), its
    tiles, the last `recent` logs there today, and the user's own log still within the undo
    window, in one query.

    The tablet is the nurse's hot screen and a shared machine pays for every round trip and
    every ORM query built (docs/decisions/0044): the location, its tiles, the last logs and
    the undoable entry were five queries, and the patients in rooms (`with_visits`) a sixth.
    The SQL reads only supplies' own tables; the names of the users who logged and the
    patients in rooms come from core's and patientflow's models through the ORM (their SQL
    embedded as subqueries), as other apps' tables are only ever read through their models;
    that SQL does not depend on the request, so it is compiled once per process.
    """
    from django.db import connection

    if not user.is_authenticated:
        return None
    today = datetime.combine(clinic.today(), time.min, tzinfo=clinic.tz)
    undo_since = now - timedelta(seconds=settings.SUPPLIES_UNDO_SECONDS)
    if ordered:
        # Each tile's barcodes, and its four weeks of use (read through movement_item_time).
        extra = (
            ", ARRAY(SELECT b.code FROM supplies_itembarcode b WHERE b.item_id = li.item_id "
            "ORDER BY b.code), u.recent_use"
        )
        use = (
            " CROSS JOIN LATERAL (SELECT coalesce(-sum(m.quantity), 0) AS recent_use "
            "FROM supplies_stockmovement m WHERE m.location_item_id = li.id AND m.kind = 'use' "
            "AND m.occurred_at >= %s) u"
        )
        use_params: list[Any] = [now - timedelta(days=TILE_HISTORY_DAYS)]
        order = "u.recent_use DESC, i.name"
    else:
        extra, use, use_params, order = "", "", [], "li.id"
    users_sql, users_params = _log_user_names_sql()
    if with_visits and (in_rooms := _in_rooms_sql()) is not None:
        chips_sql, chips_params = in_rooms
        # In visits_for_logging's order: by room name (no room last), then check-in time.
        visits_sql = (
            "(SELECT coalesce(json_agg(json_build_array(v.id, v.patient_id, "  # noqa: S608
            "v.patient__first_name, v.patient__last_name, v.room_id, v.room__name, v.step) "
            "ORDER BY v.room__name, v.checked_in_at), '[]') FROM (" + chips_sql + ") v)"
        )
        day_start, day_end = local_day_bounds(clinic, clinic.today(), clinic.today())
    else:
        visits_sql, chips_params = "'[]'::json", ()
        day_start = day_end = None
    # Only constant text is joined in (column lists, the ORM's SQL); every value is a parameter.
    sql = (
        "WITH loc AS (SELECT " + _LOCATION_COLUMNS + " FROM supplies_stocklocation l "  # noqa: S608
        "WHERE l.id = %s AND l.clinic_id = %s AND l.is_active AND (%s OR l.clinic_id = ANY(%s))), "
        # The clinic's day, for the patients in rooms (_in_rooms_sql).
        "day AS (SELECT %s::timestamptz AS since, %s::timestamptz AS until), "
        # Today's last logs here, and the user's own last one that can still be undone.
        "shown AS ((SELECT id FROM supplies_usagesubmission "
        "WHERE location_id = %s AND kind = 'use' AND created_at >= %s "
        "ORDER BY created_at DESC, id DESC LIMIT %s) UNION "
        "(SELECT id FROM supplies_usagesubmission WHERE location_id = %s AND kind = 'use' "
        "AND user_id = %s AND created_at >= %s AND undone_at IS NULL "
        "ORDER BY created_at DESC, id DESC LIMIT 1)) "
        "SELECT loc.*, "
        "(SELECT coalesce(json_agg(json_build_array("
        + _TILE_COLUMNS
        + extra
        + ") ORDER BY "
        + order
        + "), '[]') FROM supplies_locationitem li JOIN supplies_supplyitem i ON i.id = li.item_id"
        + use
        + " WHERE li.location_id = loc.id AND li.is_active AND i.is_active), "
        "(SELECT coalesce(json_agg(json_build_array(s.id, s.created_at, s.user_id, "
        "s.undone_at IS NOT NULL, (SELECT coalesce(json_agg(json_build_array(i.name, "
        "i.unit_of_use, m.kind, m.total) ORDER BY i.name, m.kind), '[]') FROM (SELECT "
        "location_item_id, kind, sum(quantity) AS total FROM supplies_stockmovement WHERE "
        "submission_id = s.id AND kind IN ('use', 'found') GROUP BY 1, 2) m "
        "JOIN supplies_locationitem li ON li.id = m.location_item_id "
        "JOIN supplies_supplyitem i ON i.id = li.item_id)) "
        "ORDER BY s.created_at DESC, s.id DESC), '[]') "
        "FROM supplies_usagesubmission s WHERE s.id IN (SELECT id FROM shown)), "
        "(SELECT coalesce(json_agg(json_build_array(n.id, n.first_name, n.last_name, "
        "n.username)), '[]') FROM (" + users_sql + ") n), " + visits_sql + " FROM loc"
    )
    params = [
        location_id,
        clinic.pk,
        user.is_superuser,
        list(getattr(user, "clinic_ids", ())),
        day_start,
        day_end,
        location_id,
        today,
        recent,
        location_id,
        user.pk,
        undo_since,
        *use_params,
        *users_params,
        *chips_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(_LOCATION_COLUMNS.split(", "))
    location = StockLocation.from_db("default", None, row[:width])
    location.clinic = clinic
    tiles_json, logs_json, names_json, visits_json = row[width:]
    labels = _step_labels() if visits_json else {}
    visits = [
        VisitChip(
            pk=pk,
            patient_id=patient_id,
            first_name=first,
            last_name=last,
            room_id=room_id,
            room_name=room_name or "",
            step_label=labels.get(step, step),
        )
        for pk, patient_id, first, last, room_id, room_name, step in visits_json
    ]
    # The location's own room first, as visits_for_logging sorts them.
    visits.sort(key=lambda v: v.room_id is None or v.room_id != location.room_id)
    return TabletScreen(
        visits=visits,
        location=location,
        items=[_tile(location, values, ordered=ordered) for values in tiles_json],
        **_logs(
            logs_json, names_json, user=user, today=today, undo_since=undo_since, recent=recent
        ),
    )


def _tile(location: StockLocation, values: list[Any], *, ordered: bool) -> LocationItem:
    width = len(_LI_FIELDS)
    item_values = list(values[width : width + len(_ITEM_FIELDS)])
    item_values[_UNIT_COST] = Decimal(item_values[_UNIT_COST])
    li = LocationItem.from_db("default", None, values[:width])
    li.item = SupplyItem.from_db("default", None, item_values)
    li.location = location
    if ordered:
        li.codes = values[width + len(_ITEM_FIELDS)]  # type: ignore[attr-defined]
    return li


def _logs(
    logs: list[list[Any]],
    names: list[list[Any]],
    *,
    user: User,
    today: datetime,
    undo_since: datetime,
    recent: int,
) -> dict[str, Any]:
    """recent_logs and last_entry from the screen query's logs (newest first)."""
    by_id = {pk: f"{first} {last}".strip() or username for pk, first, last, username in names}
    recent_logs: list[RecentLog] = []
    last_entry: LastEntry | None = None
    for pk, created, user_id, undone, lines in logs:
        created_at = datetime.fromisoformat(created)
        used: dict[str, list[int]] = {}
        units: dict[str, str] = {}
        for name, unit, kind, total in lines:
            figures = used.setdefault(name, [0, 0])
            if kind == StockMovement.Kind.USE:
                figures[0] += -total
                units.setdefault(name, unit)
            else:
                figures[1] += total
        if last_entry is None and user_id == user.pk and not undone and created_at >= undo_since:
            last_entry = LastEntry(
                submission=UsageSubmission(
                    pk=pk,
                    user_id=user_id,
                    created_at=created_at,
                    kind=UsageSubmission.Kind.USE,
                ),
                lines=[
                    SubmissionLine(item_name=name, unit_of_use=units[name], quantity=q)
                    for name, (q, _) in used.items()
                    if name in units
                ],
            )
        if lines and created_at >= today and len(recent_logs) < recent:
            recent_logs.append(
                RecentLog(
                    submission_id=pk,
                    created_at=created_at,
                    user_id=user_id,
                    user_name=by_id.get(user_id, ""),
                    lines=tuple(
                        RecentLogLine(item_name=name, quantity=q, found=f)
                        for name, (q, f) in used.items()
                    ),
                    undone=undone,
                )
            )
    return {"recent_logs": recent_logs, "last_entry": last_entry}
