"""Supplies' metrics for the weekly dashboard, as parts per clinic and local day.

A period's figure is sum(numerators) / sum(denominators) over its days, never an average of
daily ratios (shared/KPIS.md). They are registered into the KPI catalogue below, which the
engine discovers (it imports no app).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.apps import apps
from django.db.models import DecimalField, ExpressionWrapper, F, Sum

from clinicops.core.models import Clinic
from clinicops.kpis.registry import Metric, Unit, register

from .models import StockMovement
from .selectors import local_day_bounds, stockout_counts


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
        .aggregate(
            cost=Sum(
                ExpressionWrapper(
                    -F("quantity") * F("unit_cost"),
                    output_field=DecimalField(max_digits=18, decimal_places=4),
                )
            )
        )["cost"]
    )
    return (total or Decimal(0)).quantize(Decimal("0.0001"))


def completed_visits(clinic: Clinic, day: date) -> int:
    """Visits completed on a local day: scheduling's appointments with status completed.

    patientflow's Visit does not exist yet; when it does, count its checked-out visits here.
    Read through the app registry so supplies does not import scheduling.
    """
    try:
        appointment = apps.get_model("scheduling", "Appointment")
    except LookupError:
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


def stockout_rate_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(item-location-days with zero on hand, item-location-days tracked with par > 0) from the
    nightly snapshot of that day."""
    return stockout_counts(clinic, day)


METRICS = (
    register(
        Metric(
            key="supply_cost_per_visit",
            label="Supply cost per visit",
            unit=Unit.CURRENCY,
            compute=supply_cost_per_visit_parts,
            description=(
                "Cost of supplies logged as used (quantity x unit cost at the time, net of "
                "returns) / completed visits."
            ),
        )
    ),
    register(
        Metric(
            key="stockout_rate",
            label="Stockout rate",
            unit=Unit.PERCENT,
            compute=stockout_rate_parts,
            default_target=2,
            default_alert=5,
            description=(
                "Item-location-days with zero on hand at day's end / item-location-days "
                "tracked (par > 0), from the nightly snapshot."
            ),
        )
    ),
)
