"""KPI engine fixtures: a catalogue of test metrics over data the tests control.

`Source` stands in for an app's tables: a test puts a clinic-day's raw data in it, and the
metrics' compute functions read it back, so the engine's arithmetic can be checked against
numbers worked out by hand. `new_patients_female_share` reads real rows (patients by their
local registration day), for the time-zone tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from clinicops.core.models import Clinic, Patient
from clinicops.kpis import registry
from clinicops.kpis.registry import Kind, Metric, Unit


@dataclass
class Source:
    """Raw data per (clinic id, day, metric key), as an app's tables would hold it."""

    data: dict[tuple[int, date, str], Any] = field(default_factory=dict)
    calls: int = 0
    fail_on: tuple[int, date] | None = None

    def put(self, clinic: Clinic, day: date, key: str, value: Any) -> None:
        self.data[clinic.pk, day, key] = value

    def read(self, clinic: Clinic, day: date, key: str, empty: Any) -> Any:
        self.calls += 1
        if self.fail_on == (clinic.pk, day) and key == "supply_cost_per_visit":
            raise RuntimeError("the supplies database went away mid-rollup")
        return self.data.get((clinic.pk, day, key), empty)


def new_patients_female_share(clinic: Clinic, day: date) -> tuple[int, int]:
    """(female, all) patients registered at `clinic` on its local `day`."""
    start, end = registry.day_bounds(clinic, day)
    registered = Patient.objects.filter(clinic=clinic, created_at__gte=start, created_at__lt=end)
    return registered.filter(sex=Patient.Sex.FEMALE).count(), registered.count()


def catalogue(source: Source) -> list[Metric]:
    """Test metrics shaped like the real catalogue: each direction, kind and unit."""

    def reader(key: str, empty: Any) -> Any:
        return lambda clinic, day: source.read(clinic, day, key, empty)

    return [
        Metric(
            key="no_show_rate",
            label="No-show rate",
            unit=Unit.PERCENT,
            default_target=7,
            default_alert=10,
            compute=reader("no_show_rate", (0, 0)),
        ),
        Metric(
            key="clean_claim_rate",
            label="Clean claim rate",
            unit=Unit.PERCENT,
            higher_is_better=True,
            default_target=95,
            compute=reader("clean_claim_rate", (0, 0)),
        ),
        Metric(
            key="template_utilization",
            label="Template utilization",
            unit=Unit.PERCENT,
            target_band=(Decimal(80), Decimal(85)),
            compute=reader("template_utilization", (0, 0)),
        ),
        Metric(
            key="supply_cost_per_visit",
            label="Supply cost per visit",
            unit=Unit.CURRENCY,
            compute=reader("supply_cost_per_visit", (Decimal(0), 0)),
        ),
        Metric(
            key="door_to_provider_min",
            label="Door-to-provider (median)",
            unit=Unit.MINUTES,
            kind=Kind.MEDIAN,
            default_target=20,
            compute=reader("door_to_provider_min", []),
        ),
        Metric(
            key="tnaa_days",
            label="Third next available appointment",
            unit=Unit.DAYS,
            kind=Kind.MEAN_OF_MEANS,
            default_target=7,
            compute=reader("tnaa_days", []),
        ),
        Metric(
            key="new_patients_female_share",
            label="Female share of new patients",
            unit=Unit.PERCENT,
            higher_is_better=True,
            default_target=50,
            compute=new_patients_female_share,
        ),
    ]


@pytest.fixture
def source() -> Source:
    return Source()


@pytest.fixture
def metrics(source: Source) -> Iterator[list[Metric]]:
    """The registry holds exactly the test catalogue for the test, then is restored."""
    test_metrics = catalogue(source)
    with registry.swapped(test_metrics):
        yield test_metrics
