"""Helpers for the dashboard tests: a test catalogue with drill-downs, choosing and rolling up.

The catalogue is the engine's test catalogue (`conftest.catalogue`: every direction, kind and
unit over a `Source` the test fills) plus two drill-downs: one over `Source` rows that name no
patient, and one over real patients (PHI), so that scoping and auditing can be checked.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from clinicops.core.models import Clinic, Patient, User
from clinicops.kpis import registry, services
from clinicops.kpis.registry import Drilldown, Metric
from clinicops.kpis.services import MetricChoiceInput

from .conftest import Source, catalogue

MONDAY = date(2026, 2, 2)
SUNDAY = MONDAY + timedelta(days=6)


def week_days(monday: date = MONDAY) -> list[date]:
    return [monday + timedelta(days=i) for i in range(7)]


def no_show_records(source: Source) -> Any:
    """Rows from `Source` (no patient): what a drill-down over a Source metric would list."""

    def drill(clinic: Clinic, first: date, last: date) -> list[dict[str, Any]]:
        records = []
        for (clinic_id, day, key), value in sorted(source.data.items()):
            if clinic_id == clinic.pk and key == "no_show_rate" and first <= day <= last:
                no_shows, booked = value
                note = source.data.get((clinic_id, day, "note"), "")
                records.append(
                    {"Day": day, "No-shows": no_shows, "Appointments": booked, "Note": note}
                )
        return records

    return drill


def new_patient_records(clinic: Clinic, first: date, last: date) -> Drilldown:
    """The patients registered at the clinic in days first..last (PHI: each row names one)."""
    start, end = registry.day_bounds(clinic, first)[0], registry.day_bounds(clinic, last)[1]
    patients = Patient.objects.filter(
        clinic=clinic, created_at__gte=start, created_at__lt=end
    ).order_by("last_name")
    return Drilldown(
        columns=("MRN", "Name", "Sex"),
        rows=tuple((p.mrn, f"{p.last_name}, {p.first_name}", p.sex) for p in patients),
        patient_ids=tuple(p.pk for p in patients),
        caption="New patients",
    )


def dashboard_catalogue(source: Source) -> list[Metric]:
    drills = {
        "no_show_rate": no_show_records(source),
        "new_patients_female_share": new_patient_records,
    }
    return [
        dataclasses.replace(m, drilldown=drills[m.key]) if m.key in drills else m
        for m in catalogue(source)
    ]


def choose(clinic: Clinic, manager: User, keys: list[str], **targets: Any) -> None:
    """Choose `keys` for the clinic, owned by `manager`; targets={"no_show_rate": (7, 10)}."""
    picks = []
    for key in keys:
        target, alert = targets.get(key, (None, None))
        picks.append(
            MetricChoiceInput(key=key, target=target, alert_threshold=alert, owner=manager.staff)
        )
    services.choose_metrics(actor=manager, clinic=clinic, choices=picks)


def roll(clinic: Clinic, first: date, last: date) -> None:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    services.rollup_clinic_days(clinic=clinic, days=days)


def fill_week(source: Source, clinic: Clinic, monday: date = MONDAY) -> None:
    """A week with one metric per status: on target, watch, alert, and one with no data.

    no-show 5 % (target 7, alert 10): on target; clean claims 90 % (target 95, alert 85.5):
    watch; door-to-provider median 45 min (target 20, alert 25): alert; template utilization:
    no data at all.
    """
    source.put(clinic, monday, "no_show_rate", (3, 60))
    source.put(clinic, monday + timedelta(days=1), "no_show_rate", (2, 40))
    source.put(clinic, monday + timedelta(days=2), "clean_claim_rate", (90, 100))
    source.put(clinic, monday + timedelta(days=3), "door_to_provider_min", [40, 45, 50])
    source.put(clinic, monday, "supply_cost_per_visit", (Decimal("120.50"), 10))
