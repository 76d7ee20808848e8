"""Patient flow's drill-downs list the visits behind each median, with their minutes (11.6).

The day is test_kpis.py's hand-computed Monday (and its Tuesday): door-to-provider A 30, B 27,
D 20, Tuesday 60 and 62; cycle time A 42, B 50, D 33.
"""

from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal

import pytest

from clinicops.kpis import registry, services
from clinicops.kpis.models import MetricDay
from patientflow.models import Visit

from . import test_kpis
from .test_kpis import MONDAY, Day

pytestmark = pytest.mark.django_db

day = test_kpis.day  # the hand-computed day, as a fixture of this module too

WEEK = [MONDAY + dt.timedelta(days=i) for i in range(7)]


def rolled_values(day: Day, key: str) -> list[float]:
    services.rollup_clinic_days(clinic=day.clinic, days=WEEK)
    return sorted(
        v for row in MetricDay.objects.filter(clinic=day.clinic, key=key) for v in row.values
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("door_to_provider_min", [20, 27, 30, 60, 62]),
        ("cycle_time_min", [33, 42, 50]),
    ],
)
def test_the_drilldown_lists_every_visit_in_the_median_with_its_minutes(
    day: Day, key: str, expected: list[int]
) -> None:
    values = rolled_values(day, key)

    drill = registry.get(key).drill(day.clinic, WEEK[0], WEEK[-1])

    column = drill.columns.index
    listed = [row[column("Minutes")] for row in drill.rows]
    assert listed == sorted(listed)  # fewest first
    assert [float(v) for v in listed] == values == expected
    marked = [row[column("Minutes")] for row in drill.rows if row[column("Median")] == "median"]
    assert statistics.median(listed) == sum(marked) / len(marked)
    # each row names its visit's patient (audited when shown)
    patients = set(Visit.objects.filter(clinic=day.clinic).values_list("patient_id", flat=True))
    assert set(drill.patient_ids) <= patients
    assert len(drill.patient_ids) == len(expected)


def test_the_door_to_provider_drilldown_marks_the_middle_visit(day: Day) -> None:
    drill = registry.get("door_to_provider_min").drill(day.clinic, MONDAY, MONDAY)

    column = drill.columns.index
    assert [(r[column("Median")], r[column("Minutes")]) for r in drill.rows] == [
        ("", Decimal("20.00")),
        ("median", Decimal("27.00")),
        ("", Decimal("30.00")),
    ]
    walk_in = drill.rows[0]
    assert walk_in[column("Walk-in")] == "yes"
