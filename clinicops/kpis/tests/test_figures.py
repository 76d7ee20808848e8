"""Period figures from daily parts: never an average of daily ratios or daily medians."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinicops.core.models import Clinic, Patient
from clinicops.core.tests.factories import ClinicFactory, PatientFactory
from clinicops.kpis import selectors, services
from clinicops.kpis.registry import Metric
from clinicops.kpis.selectors import NO_DATA, Status, status_of

from .conftest import Source

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 2, 2)
NY = ZoneInfo("America/New_York")


def roll(clinic: Clinic, first: date, last: date) -> None:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    services.rollup_clinic_days(clinic=clinic, days=days)


def test_a_weeks_ratio_is_recomputed_from_its_parts_not_averaged_from_daily_ratios(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    # given: a quiet Monday with 1 no-show in 2, and a busy Tuesday with 1 in 100
    source.put(clinic, MONDAY, "no_show_rate", (1, 2))
    source.put(clinic, MONDAY + timedelta(days=1), "no_show_rate", (1, 100))
    roll(clinic, MONDAY, MONDAY + timedelta(days=6))

    # when
    week = selectors.figure(clinic, "no_show_rate", MONDAY, MONDAY + timedelta(days=6))

    # then: 2 of 102 appointments, 1.96 %; averaging the days' 50 % and 1 % would say 25.5 %
    assert week == pytest.approx(Decimal(2) / Decimal(102) * 100)
    average_of_daily_ratios = (Decimal(50) + Decimal(1)) / 2
    assert week != average_of_daily_ratios


def test_a_weeks_median_is_the_median_of_all_its_raw_values(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    days = {
        MONDAY: [12, 30, 45],
        MONDAY + timedelta(days=1): [10, 11],
        MONDAY + timedelta(days=4): [90],
    }
    for day, minutes in days.items():
        source.put(clinic, day, "door_to_provider_min", minutes)
    roll(clinic, MONDAY, MONDAY + timedelta(days=6))

    week = selectors.figures(
        clinic=clinic, keys=["door_to_provider_min"], start=MONDAY, end=MONDAY + timedelta(6)
    )["door_to_provider_min"]

    every_value = [v for values in days.values() for v in values]
    assert week.value == Decimal(str(statistics.median(every_value)))  # 21.0
    assert week.denominator == 6
    daily_medians = [statistics.median(v) for v in days.values()]  # 30, 10.5, 90
    assert week.value not in (statistics.median(daily_medians), statistics.mean(daily_medians))


def test_tnaa_is_the_mean_over_providers_of_each_providers_mean(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    # provider 1 is measured on two days (2 and 4 days), provider 2 on one (12 days)
    source.put(clinic, MONDAY, "tnaa_days", [(1, 2), (2, 12)])
    source.put(clinic, MONDAY + timedelta(days=1), "tnaa_days", [(1, 4)])
    roll(clinic, MONDAY, MONDAY + timedelta(days=1))

    week = selectors.figure(clinic, "tnaa_days", MONDAY, MONDAY + timedelta(days=6))

    assert week == Decimal(3 + 12) / 2  # not (2 + 12 + 4) / 3 = 6
    assert week == Decimal("7.5")


def test_a_week_without_data_is_none_never_zero(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    # given: week 1 rolled up but empty (0/0), week 2 with a true zero, week 3 never rolled
    roll(clinic, MONDAY, MONDAY + timedelta(days=6))
    source.put(clinic, MONDAY + timedelta(days=8), "no_show_rate", (0, 40))
    roll(clinic, MONDAY + timedelta(days=7), MONDAY + timedelta(days=13))

    series = selectors.weekly_series(
        clinic=clinic,
        keys=["no_show_rate", "door_to_provider_min"],
        week_of=MONDAY + timedelta(days=20),
        weeks=3,
    )

    no_shows = series["no_show_rate"]
    assert [w.week_start for w in no_shows] == [MONDAY + timedelta(weeks=i) for i in range(3)]
    assert [w.value for w in no_shows] == [None, Decimal(0), None]
    assert no_shows[0].figure == NO_DATA
    assert [w.value for w in series["door_to_provider_min"]] == [None, None, None]
    assert selectors.figure(clinic, "supply_cost_per_visit", MONDAY, MONDAY) is None


def test_twelve_weeks_of_every_chosen_metric_take_one_query(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    for i in range(84):
        day = MONDAY + timedelta(days=i)
        source.put(clinic, day, "no_show_rate", (i % 3, 20))
        source.put(clinic, day, "door_to_provider_min", [i % 17, 25, 40])
        source.put(clinic, day, "tnaa_days", [(1, i % 9), (2, 5)])
        source.put(clinic, day, "supply_cost_per_visit", (Decimal("12.34") * (i % 4), 8))
    roll(clinic, MONDAY, MONDAY + timedelta(days=83))
    keys = ["no_show_rate", "door_to_provider_min", "tnaa_days", "supply_cost_per_visit"]

    with CaptureQueriesContext(connection) as queries:
        series = selectors.weekly_series(
            clinic=clinic, keys=keys, week_of=MONDAY + timedelta(days=83)
        )

    assert len(queries) == 1
    # each week equals the same figure asked for on its own
    for key in keys:
        assert len(series[key]) == 12
        for point in series[key]:
            alone = selectors.figure(clinic, key, point.week_start, point.week_end)
            assert point.value == alone
            assert alone is not None


def test_figures_belong_to_their_clinic(
    clinic: Clinic, other_clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    source.put(clinic, MONDAY, "no_show_rate", (1, 10))
    source.put(other_clinic, MONDAY, "no_show_rate", (9, 10))
    roll(clinic, MONDAY, MONDAY)
    roll(other_clinic, MONDAY, MONDAY)

    assert selectors.figure(clinic, "no_show_rate", MONDAY, MONDAY) == Decimal(10)
    assert selectors.figure(other_clinic, "no_show_rate", MONDAY, MONDAY) == Decimal(90)


def test_the_dst_week_counts_each_event_on_its_local_day(metrics: list[Metric]) -> None:
    """New York springs forward on Sunday 2026-03-08: that day has 23 hours, and the week
    Monday 2 - Sunday 8 March must hold exactly the events of those local days."""
    clinic = ClinicFactory(name="Manhattan Clinic", time_zone="America/New_York")
    registered = {
        # local wall-clock time -> female?
        datetime(2026, 3, 1, 23, 30, tzinfo=NY): True,  # Sunday before: 04:30 UTC on the 2nd
        datetime(2026, 3, 2, 0, 30, tzinfo=NY): False,  # Monday, first half hour
        datetime(2026, 3, 5, 12, 0, tzinfo=NY): True,
        datetime(2026, 3, 8, 1, 59, tzinfo=NY): True,  # a minute before the clocks jump
        datetime(2026, 3, 8, 3, 0, tzinfo=NY): False,  # the next minute, an hour later
        datetime(2026, 3, 8, 23, 30, tzinfo=NY): True,  # Sunday night: 03:30 UTC on the 9th
        datetime(2026, 3, 9, 0, 30, tzinfo=NY): True,  # the next Monday
    }
    for at, female in registered.items():
        patient = PatientFactory(clinic=clinic, sex="F" if female else "M")
        Patient.objects.filter(pk=patient.pk).update(created_at=at)

    roll(clinic, date(2026, 2, 23), date(2026, 3, 15))
    series = selectors.weekly_series(
        clinic=clinic, keys=["new_patients_female_share"], week_of=date(2026, 3, 8), weeks=2
    )["new_patients_female_share"]

    # an independent count: each registration's UTC instant, back to a New York date
    week = [
        female
        for at, female in registered.items()
        if date(2026, 3, 2) <= at.astimezone(UTC).astimezone(NY).date() <= date(2026, 3, 8)
    ]
    assert len(week) == 5
    assert series[-1].week_start == date(2026, 3, 2)
    assert series[-1].figure.denominator == 5
    assert series[-1].value == Decimal(sum(week)) / Decimal(len(week)) * 100  # 3 of 5: 60 %
    assert series[0].figure.denominator == 1  # the Sunday-night registration of 1 March
    sunday = selectors.figures(
        clinic=clinic,
        keys=["new_patients_female_share"],
        start=date(2026, 3, 8),
        end=date(2026, 3, 8),
    )["new_patients_female_share"]
    assert (sunday.numerator, sunday.denominator) == (2, 3)


@pytest.mark.parametrize(
    ("key", "value", "target", "alert", "high", "expected"),
    [
        # lower is better: no-show rate, target 7 %, alert at 10 %
        ("no_show_rate", "5", "7", "10", None, Status.ON_TARGET),
        ("no_show_rate", "7", "7", "10", None, Status.ON_TARGET),
        ("no_show_rate", "8.5", "7", "10", None, Status.WATCH),
        ("no_show_rate", "10", "7", "10", None, Status.ALERT),
        ("no_show_rate", "31", "7", "10", None, Status.ALERT),
        # higher is better: clean claim rate, target 95 %, alert at 90 %
        ("clean_claim_rate", "96", "95", "90", None, Status.ON_TARGET),
        ("clean_claim_rate", "92.5", "95", "90", None, Status.WATCH),
        ("clean_claim_rate", "90", "95", "90", None, Status.ALERT),
        # a band: template utilization 80-85 %, alert more than 5 points outside it
        ("template_utilization", "82", "80", "5", "85", Status.ON_TARGET),
        ("template_utilization", "78", "80", "5", "85", Status.WATCH),
        ("template_utilization", "74", "80", "5", "85", Status.ALERT),
        ("template_utilization", "88", "80", "5", "85", Status.WATCH),
        ("template_utilization", "91", "80", "5", "85", Status.ALERT),
        ("no_show_rate", None, "7", "10", None, Status.NO_DATA),
    ],
)
def test_status_colour_honours_which_way_is_better(
    metrics: list[Metric],
    key: str,
    value: str | None,
    target: str,
    alert: str,
    high: str | None,
    expected: Status,
) -> None:
    metric = next(m for m in metrics if m.key == key)
    status = status_of(
        metric,
        None if value is None else Decimal(value),
        target=Decimal(target),
        alert_threshold=Decimal(alert),
        target_high=None if high is None else Decimal(high),
    )
    assert status == expected


def test_the_weekly_table_is_a_dataframe_with_nan_for_no_data(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    source.put(clinic, MONDAY + timedelta(days=7), "no_show_rate", (3, 60))
    roll(clinic, MONDAY, MONDAY + timedelta(days=13))

    table = selectors.weekly_table(
        clinic=clinic, keys=["no_show_rate"], week_of=MONDAY + timedelta(days=7), weeks=2
    )

    assert list(table.columns) == ["No-show rate"]
    assert list(table.index) == [MONDAY, MONDAY + timedelta(days=7)]
    assert table["No-show rate"].isna().tolist() == [True, False]
    assert table["No-show rate"].iloc[1] == pytest.approx(5.0)


def test_freshness_is_the_last_rollup(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    assert selectors.freshness(clinic) is None
    roll(clinic, MONDAY, MONDAY)
    assert selectors.freshness(clinic) is not None
