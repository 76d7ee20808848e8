"""incident_closure_days: median clinic-local days from report to close, counted on the local
day of closing; crafted data around midnight and the DST days (2026-03-08, 2026-11-01)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.kpis import registry, selectors, services
from compliance import incidents, kpis
from compliance.models import Incident

from .incident_helpers import at, report

pytestmark = pytest.mark.django_db
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user(roles.COMPLIANCE, username="officer")


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)


def closed_incident(
    officer: User, clinic: Clinic, reported: datetime, closed: datetime
) -> Incident:
    with at(reported):
        incident = report(officer, clinic, occurred_at=reported - timedelta(hours=1))
    with at(closed):
        return incidents.close_incident(actor=officer, incident=incident, reason="Test data").obj


def test_the_metric_is_registered_as_a_median_of_days() -> None:
    metric = registry.get("incident_closure_days")
    assert (metric.kind, metric.unit, metric.has_drilldown) == ("median", "days", True)
    assert metric.sources[0].model == "compliance.Incident"


def test_days_are_clinic_local_calendar_days_and_count_on_the_closing_day(
    officer: User, clinic: Clinic, other_clinic: Clinic
) -> None:
    spring = date(2026, 3, 8)  # 23 hours long in New York
    # reported 23:30 on the 7th, closed 23:30 on the 8th: 23 elapsed hours, one local day
    closed_incident(officer, clinic, ny(date(2026, 3, 7), 23, 30), ny(spring, 23, 30))
    # reported 00:10 on the 8th (05:10 UTC), closed 23:50 the same local day (04:50 UTC the
    # 9th): zero days, on the 8th although the UTC date is the 9th
    closed_incident(officer, clinic, ny(spring, 0, 10), ny(spring, 23, 50))
    # reported 2026-02-26, closed at 00:05 on the 9th: the 9th, 11 days
    closed_incident(officer, clinic, ny(date(2026, 2, 26), 9), ny(date(2026, 3, 9), 0, 5))
    # another clinic's and an open incident never count
    closed_incident(officer, other_clinic, ny(date(2026, 3, 1), 9), ny(spring, 12))
    with at(ny(date(2026, 3, 1), 9)):
        report(officer, clinic)

    assert sorted(kpis.incident_closure_days(clinic, spring)) == [0, 1]
    assert kpis.incident_closure_days(clinic, date(2026, 3, 9)) == [11]
    assert kpis.incident_closure_range(clinic, date(2026, 3, 7), date(2026, 3, 9)) == {
        spring: kpis.incident_closure_days(clinic, spring),
        date(2026, 3, 9): [11],
    }

    # the week's figure is the median of all its values, never of daily medians
    monday = date(2026, 3, 2)
    days = [monday + timedelta(days=i) for i in range(14)]
    services.rollup_clinic_days(clinic=clinic, days=days)
    assert selectors.figure(clinic, "incident_closure_days", spring, date(2026, 3, 9)) == Decimal(1)


def test_the_fall_back_day_and_a_reopened_incident(officer: User, clinic: Clinic) -> None:
    fall = date(2026, 11, 1)  # 25 hours long
    # 01:30 happens twice on 1 November; reported at the second 01:30 (EST), closed 23:59
    reported = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK, fold=1)
    incident = closed_incident(officer, clinic, reported, ny(fall, 23, 59))
    assert kpis.incident_closure_days(clinic, fall) == [0]

    # reopened, then closed again three days later: it leaves the 1st for the 4th
    with at(ny(date(2026, 11, 2), 9)):
        incidents.reopen_incident(actor=officer, incident=incident, reason="Recurred")
    with at(ny(date(2026, 11, 4), 10)):
        incidents.close_incident(actor=officer, incident=incident, reason="Fixed again")
    assert kpis.incident_closure_days(clinic, fall) == []
    assert kpis.incident_closure_days(clinic, date(2026, 11, 4)) == [3]


def test_the_drilldown_lists_the_closed_incidents_with_the_median_marked(
    officer: User, clinic: Clinic
) -> None:
    day = date(2026, 3, 11)
    for reported_day in (date(2026, 3, 1), date(2026, 3, 6), date(2026, 3, 10)):
        closed_incident(officer, clinic, ny(reported_day, 10), ny(day, 15))

    drill = registry.get("incident_closure_days").drill(clinic, day, day)

    assert drill is not None
    assert [row[-1] for row in drill.rows] == [1, 5, 10]
    assert [row[0] for row in drill.rows] == ["", "median", ""]
    assert drill.columns[0] == "Median"
    assert drill.columns[-1] == "Days"
