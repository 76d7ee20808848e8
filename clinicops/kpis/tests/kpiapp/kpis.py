"""Registers a metric the way scheduling's or supplies' kpis.py will: one line."""

from __future__ import annotations

from datetime import date

from clinicops.core.models import Clinic
from clinicops.kpis.registry import Metric, Unit, register


def walk_in_share_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    return 0, 0


register(
    Metric(
        key="kpiapp_walk_in_share",
        label="Walk-in share",
        unit=Unit.PERCENT,
        compute=walk_in_share_parts,
    )
)
