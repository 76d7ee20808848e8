"""Supplies' metrics for the weekly dashboard, as parts per clinic and local day.

A period's figure is sum(numerators) / sum(denominators) over its days, never an average of
daily ratios (shared/KPIS.md). They are registered into the KPI catalogue below, which the
engine discovers (it imports no app).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum

from clinicops.core.models import Clinic
from clinicops.kpis.registry import Drilldown, Metric, Source, Unit, by_local_day, register

from .models import LocationItem, StockMovement
from .selectors import local_day_bounds

CENTS4 = Decimal("0.0001")
_COST = ExpressionWrapper(
    -F("quantity") * F("unit_cost"), output_field=DecimalField(max_digits=18, decimal_places=4)
)


def supply_cost(clinic: Clinic, day: date) -> Decimal:
    """Cost of supplies used at the clinic on a local day: quantity x unit cost at the time,
    net of returns (an undo or an unused item put back lowers the day it happens on)."""
    start, end = local_day_bounds(clinic, day, day)
    total = (
        StockMovement.objects.for_clinic(clinic)
        .filter(
            kind__in=(StockMovement.Kind.USE, StockMovement.Kind.RETURN),
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .aggregate(cost=Sum(_COST))["cost"]
    )
    return (total or Decimal(0)).quantize(CENTS4)


def _appointments() -> type | None:
    # Read through the app registry so supplies does not import scheduling.
    try:
        return apps.get_model("scheduling", "Appointment")
    except LookupError:
        return None


def completed_visits(clinic: Clinic, day: date) -> int:
    """Visits completed on a local day: scheduling's appointments with status completed.

    patientflow's Visit does not exist yet; when it does, count its checked-out visits here.
    """
    appointment = _appointments()
    if appointment is None:
        return 0
    start, end = local_day_bounds(clinic, day, day)
    return appointment.objects.filter(
        clinic=clinic, status="completed", start__gte=start, start__lt=end
    ).count()


def supply_cost_per_visit_parts(
    clinic: Clinic, day: date, *, visits: int | None = None
) -> tuple[Decimal, int]:
    """(supply cost, completed visits) for a clinic and local day; `visits` overrides the count."""
    return supply_cost(clinic, day), completed_visits(clinic, day) if visits is None else visits


def _tracked_location_items(clinic: Clinic) -> Any:
    """The location-items the stockout rate tracks: par > 0, item, location and stocking
    active (as they are now: par and the active flags have no history)."""
    return LocationItem.objects.for_clinic(clinic).filter(
        par__gt=0, is_active=True, location__is_active=True, item__is_active=True
    )


def _levels_at_day_end(clinic: Clinic, day: date) -> Any:
    """The tracked location-items of a local day, each annotated with `level`, its on hand at
    the day's end (the sum of its ledger lines before then); only those with a ledger line by
    then (a location-item is tracked from its opening balance or first receipt)."""
    end = local_day_bounds(clinic, day, day)[1]
    return (
        _tracked_location_items(clinic)
        .annotate(
            lines=Count("movements", filter=Q(movements__occurred_at__lt=end)),
            level=Sum("movements__quantity", filter=Q(movements__occurred_at__lt=end)),
        )
        .filter(lines__gt=0)
    )


def stockout_rate_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(item-location-days with zero on hand, item-location-days tracked with par > 0) of a
    local day, from the stock ledger: each tracked location-item's on hand at the day's end
    is the sum of its ledger lines before then. A location-item is tracked from the day of
    its first ledger line (its opening balance or first receipt), not before it existed."""
    levels = list(_levels_at_day_end(clinic, day).values_list("level", flat=True))
    return sum(1 for level in levels if level <= 0), len(levels)


# Range versions: the same definitions, one GROUP BY local day for a run of days, so that a
# backfill costs a few queries rather than a few per day (docs/decisions/0007-kpi-engine.md).


def supply_cost_per_visit_range(
    clinic: Clinic, first: date, last: date
) -> dict[date, tuple[Decimal, int]]:
    """{local day: (supply cost, completed visits)} for days first..last with either."""
    cost = by_local_day(
        StockMovement.objects.for_clinic(clinic).filter(
            kind__in=(StockMovement.Kind.USE, StockMovement.Kind.RETURN)
        ),
        "occurred_at",
        clinic=clinic,
        first=first,
        last=last,
        cost=Sum(_COST),
    )
    appointment = _appointments()
    visits = (
        by_local_day(
            appointment.objects.filter(clinic=clinic, status="completed"),
            "start",
            clinic=clinic,
            first=first,
            last=last,
            n=Count("pk"),
        )
        if appointment is not None
        else {}
    )
    return {
        day: (
            (cost.get(day, {}).get("cost") or Decimal(0)).quantize(CENTS4),
            visits.get(day, {}).get("n", 0),
        )
        for day in cost.keys() | visits.keys()
    }


STOCKOUT_SQL = """
    WITH tracked AS (
        SELECT li.id
        FROM supplies_locationitem li
        JOIN supplies_stocklocation l ON l.id = li.location_id
        JOIN supplies_supplyitem i ON i.id = li.item_id
        WHERE l.clinic_id = %(clinic)s AND li.par > 0
          AND li.is_active AND l.is_active AND i.is_active
    ),
    points AS (  -- each item's net change per local day; the balance before, on the first day
        SELECT id, day, sum(quantity) AS quantity FROM (
            SELECT m.location_item_id AS id, %(first)s::date AS day, m.quantity
            FROM supplies_stockmovement m JOIN tracked t ON t.id = m.location_item_id
            WHERE m.occurred_at < %(start)s
            UNION ALL
            SELECT m.location_item_id, (m.occurred_at AT TIME ZONE %(tz)s)::date, m.quantity
            FROM supplies_stockmovement m JOIN tracked t ON t.id = m.location_item_id
            WHERE m.occurred_at >= %(start)s AND m.occurred_at < %(end)s
        ) lines GROUP BY id, day
    ),
    runs AS (  -- the level from each such day until the item's next one
        SELECT day, sum(quantity) OVER w AS level, lead(day) OVER w AS next_day
        FROM points WINDOW w AS (PARTITION BY id ORDER BY day)
    ),
    starts AS (SELECT day, count(*) AS n FROM (
        SELECT min(day) AS day FROM points GROUP BY id) f GROUP BY day),
    tracked_days AS (
        SELECT s::date AS day, sum(coalesce(starts.n, 0)) OVER (ORDER BY s) AS n
        FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') s
        LEFT JOIN starts ON starts.day = s::date
    ),
    zero AS (
        SELECT z::date AS day, count(*) AS n
        FROM runs CROSS JOIN LATERAL generate_series(
            runs.day, coalesce(runs.next_day - 1, %(last)s::date), interval '1 day') z
        WHERE runs.level <= 0 GROUP BY 1
    )
    SELECT t.day, coalesce(z.n, 0), t.n
    FROM tracked_days t LEFT JOIN zero z ON z.day = t.day
    WHERE t.n > 0
"""


def stockout_rate_range(clinic: Clinic, first: date, last: date) -> dict[date, tuple[int, int]]:
    """{day: (zero on hand, tracked)} of local days first..last from the stock ledger: each
    tracked location-item's on hand at each day's end, a running sum over one GROUP BY of
    the ledger by item and local day (no nightly snapshot: a backfill works)."""
    start, end = local_day_bounds(clinic, first, last)
    params = {
        "clinic": clinic.pk,
        "tz": clinic.time_zone,
        "start": start,
        "end": end,
        "first": first,
        "last": last,
    }
    with connection.cursor() as cursor:
        cursor.execute(STOCKOUT_SQL, params)
        return {day: (zero, tracked) for day, zero, tracked in cursor.fetchall()}


# Drill-downs: the records behind a figure, for the dashboard.


def supply_cost_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """The use and return lines behind the supply cost of local days first..last, costliest
    first."""
    start, end = local_day_bounds(clinic, first, last)
    lines = (
        StockMovement.objects.for_clinic(clinic)
        .filter(
            kind__in=(StockMovement.Kind.USE, StockMovement.Kind.RETURN),
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .annotate(cost=_COST)
        .select_related("location_item__location", "location_item__item", "patient")
        .order_by("-cost", "occurred_at", "pk")
    )
    tz = clinic.tz
    rows, patients = [], []
    for line in lines:
        rows.append(
            (
                line.occurred_at.astimezone(tz),
                line.location_item.location.name,
                line.location_item.item.name,
                line.location_item.item.sku,
                line.get_kind_display(),
                -line.quantity,
                line.unit_cost,
                line.cost.quantize(CENTS4),
                line.patient.mrn if line.patient else "",
            )
        )
        patients.append(line.patient_id)
    return Drilldown(
        columns=(
            "When",
            "Location",
            "Item",
            "SKU",
            "Kind",
            "Quantity used",
            "Unit cost",
            "Cost",
            "Patient MRN",
        ),
        rows=tuple(rows),
        patient_ids=tuple(patients),
        caption="Supplies logged as used (returns and undos net off), costliest first",
    )


def stockout_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """The item-location-days that ended at zero (or less) on hand, days first..last, from the
    stock ledger by the metric's own computation (`_levels_at_day_end`)."""
    rows: list[tuple[Any, ...]] = []
    day = first
    while day <= last:
        at_zero = (
            _levels_at_day_end(clinic, day)
            .filter(level__lte=0)
            .select_related("location", "item")
            .order_by("location__name", "item__name", "pk")
        )
        rows.extend(
            (
                day,
                li.location.name,
                li.item.name,
                li.item.sku,
                "yes" if li.item.is_critical else "no",
                li.par,
                li.level,
            )
            for li in at_zero
        )
        day += timedelta(days=1)
    return Drilldown(
        columns=("Day", "Location", "Item", "SKU", "Critical", "Par", "On hand"),
        rows=tuple(rows),
        caption="Tracked items that ended the day with none on hand, from the stock ledger",
    )


# What the metrics read (registry.Source), so a late change to a past day reaches its tile. A
# movement changes the stock on hand at the end of its day and of every day after it.
MOVEMENTS = Source(
    "supplies.StockMovement", clinic="location_item__location__clinic", day="occurred_at"
)
COMPLETED_VISITS = Source("scheduling.Appointment", clinic="clinic", day="start")
STOCK_SOURCES = (
    Source(
        "supplies.StockMovement",
        clinic="location_item__location__clinic",
        day="occurred_at",
        onward=True,
    ),
    # Not a source: LocationItem (par and the active flags). It has no day to mark (no
    # history: the current values apply to every day) and every movement writes its on_hand,
    # so a trigger on it would mark each day twice; a par change reaches past days only
    # through `backfill_kpis --force` (docs/decisions/0017-kpi-definitions.md).
)

METRICS = (
    register(
        Metric(
            key="supply_cost_per_visit",
            label="Supply cost per visit",
            unit=Unit.CURRENCY,
            compute=supply_cost_per_visit_parts,
            compute_range=supply_cost_per_visit_range,
            sources=(MOVEMENTS, COMPLETED_VISITS),
            drilldown=supply_cost_drilldown,
            description=(
                "Cost of supplies logged as used (quantity x unit cost at the time, net of "
                "returns) / completed visits."
            ),
            definition=(
                "Cost of supplies logged as used on the period's days (quantity x the unit "
                "cost recorded on each ledger line) / completed visits: appointments "
                "completed (checked out), counted on their local start day. Differs from "
                "shared/KPIS.md on purpose: returns and undos of a log ('unused, put back') "
                "are netted off on the day they are recorded, since those supplies were not "
                "used; waste is not counted (it is not use). Completed appointments are the "
                "checked-out visits (every visit has its appointment, completed at checkout); "
                "a visit after local midnight still counts on its start day."
            ),
        )
    ),
    register(
        Metric(
            key="stockout_rate",
            label="Stockout rate",
            unit=Unit.PERCENT,
            compute=stockout_rate_parts,
            compute_range=stockout_rate_range,
            sources=STOCK_SOURCES,
            drilldown=stockout_drilldown,
            default_target=2,
            default_alert=5,
            description=(
                "Item-location-days with zero on hand at day's end / item-location-days "
                "tracked (par > 0), from the stock ledger."
            ),
            definition=(
                "Item-location-days with zero (or less) on hand at the end of the local day / "
                "item-location-days tracked, from the stock ledger: each location-item's on "
                "hand at a day's end is the sum of its ledger lines up to then, so any past "
                "day can be (re)computed. Tracked: par > 0 and the item, its location and "
                "its stocking active, from the day of its first ledger line. Par and the "
                "active flags have no history, so their current values apply to every day."
            ),
        )
    ),
)
