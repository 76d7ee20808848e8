"""Reads of the KPI engine: period figures recomputed from daily parts, weekly series, status.

A period's figure is never an average of daily figures: a ratio is sum(numerators) /
sum(denominators), a median is the median of all the period's raw values, and a mean of means
is the mean over groups (providers) of each group's mean over the period. Postgres does all
three in one statement per clinic (`_PERIOD_SQL`), whatever the number of metrics or weeks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import QuerySet

from clinicops.core.models import Clinic, Staff, User

from . import registry
from .models import ClinicMetricChoice
from .registry import Direction, Kind, Metric

if TYPE_CHECKING:
    import pandas as pd

WEEKS_SHOWN = 12

# {bucket} is a date expression over `day`: the period's start, or the Monday of each week.
# MATERIALIZED: each aggregate runs once; inlined, the planner (expecting one row) may rerun
# the median's sort for every row of the outer join, eight times slower over twelve weeks.
_PERIOD_SQL = """
WITH rows AS (
    SELECT key, {bucket} AS bucket, numerator, denominator, "values", groups
    FROM kpis_metricday
    WHERE clinic_id = %(clinic)s AND key = ANY(%(keys)s) AND day >= %(start)s AND day <= %(end)s
),
sums AS MATERIALIZED (
    SELECT key, bucket, sum(numerator) AS n, sum(denominator) AS d
    FROM rows GROUP BY key, bucket
),
medians AS MATERIALIZED (
    SELECT r.key, r.bucket, percentile_cont(0.5) WITHIN GROUP (ORDER BY u.v) AS median
    FROM rows r CROSS JOIN LATERAL unnest(r."values") AS u(v)
    WHERE r.key = ANY(%(median_keys)s)
    GROUP BY r.key, r.bucket
),
group_means AS MATERIALIZED (
    SELECT r.key, r.bucket, u.g, avg(u.v) AS group_mean
    FROM rows r CROSS JOIN LATERAL unnest(r."values", r.groups) AS u(v, g)
    WHERE r.key = ANY(%(mean_of_means_keys)s)
    GROUP BY r.key, r.bucket, u.g
),
means AS MATERIALIZED (
    SELECT key, bucket, avg(group_mean) AS mean_of_means FROM group_means GROUP BY key, bucket
)
SELECT s.key, s.bucket, s.n, s.d, m.median, mm.mean_of_means
FROM sums s
LEFT JOIN medians m ON m.key = s.key AND m.bucket = s.bucket
LEFT JOIN means mm ON mm.key = s.key AND mm.bucket = s.bucket
"""
_MONDAY = "(day - (EXTRACT(ISODOW FROM day)::int - 1))"


@dataclass(frozen=True)
class Figure:
    """A metric's figure for one period; `value` is None when there was no data (not zero)."""

    value: Decimal | None
    numerator: Decimal = Decimal(0)
    # The ratio's denominator, or how many raw values a median or mean of means drew on.
    denominator: Decimal = Decimal(0)

    @property
    def has_data(self) -> bool:
        return self.value is not None


NO_DATA = Figure(None)


@dataclass(frozen=True)
class WeekFigure:
    week_start: date
    figure: Figure

    @property
    def value(self) -> Decimal | None:
        return self.figure.value

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)


def week_start(day: date) -> date:
    """The Monday of the (Monday-Sunday, clinic-local) week holding `day`."""
    return day - timedelta(days=day.weekday())


def _as_decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


def _figure(
    metric: Metric, n: Decimal, d: Decimal, median: float | None, mean: float | None
) -> Figure:
    n, d = n or Decimal(0), d or Decimal(0)
    if metric.kind == Kind.RATIO:
        value = None if d == 0 else n / d * metric.scale
    elif metric.kind == Kind.MEDIAN:
        value = _as_decimal(median)
    else:
        value = _as_decimal(mean)
    return Figure(value, n, d)


def _period_rows(
    *, clinic: Clinic, metrics: Sequence[Metric], start: date, end: date, bucket: str
) -> list[tuple[str, date, Decimal, Decimal, float | None, float | None]]:
    params = {
        "clinic": clinic.pk,
        "keys": [m.key for m in metrics],
        "median_keys": [m.key for m in metrics if m.kind == Kind.MEDIAN],
        "mean_of_means_keys": [m.key for m in metrics if m.kind == Kind.MEAN_OF_MEANS],
        "start": start,
        "end": end,
    }
    with connection.cursor() as cursor:
        cursor.execute(_PERIOD_SQL.format(bucket=bucket), params)
        return cursor.fetchall()


def _metrics(keys: Iterable[str]) -> list[Metric]:
    return [registry.get(key) for key in dict.fromkeys(keys)]


def figures(*, clinic: Clinic, keys: Iterable[str], start: date, end: date) -> dict[str, Figure]:
    """Each metric's figure over the local days [start, end], from the days' parts; one query."""
    metrics = _metrics(keys)
    result = dict.fromkeys((m.key for m in metrics), NO_DATA)
    if not metrics or end < start:
        return result
    by_key = {m.key: m for m in metrics}
    for key, _bucket, n, d, median, mean in _period_rows(
        clinic=clinic, metrics=metrics, start=start, end=end, bucket="%(start)s::date"
    ):
        result[key] = _figure(by_key[key], n, d, median, mean)
    return result


def figure(clinic: Clinic, key: str, start: date, end: date) -> Decimal | None:
    """One metric's figure over [start, end]; None when there is no data (never 0 for "none")."""
    return figures(clinic=clinic, keys=[key], start=start, end=end)[key].value


def weekly_series(
    *, clinic: Clinic, keys: Iterable[str], week_of: date, weeks: int = WEEKS_SHOWN
) -> dict[str, list[WeekFigure]]:
    """Per metric, the figures of the `weeks` weeks ending with the week of `week_of`, oldest first.

    One query for all the metrics and weeks; a week without data is `NO_DATA`, never zero.
    """
    metrics = _metrics(keys)
    last = week_start(week_of)
    mondays = [last - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]
    found: dict[tuple[str, date], Figure] = {}
    if metrics and weeks > 0:
        by_key = {m.key: m for m in metrics}
        for key, monday, n, d, median, mean in _period_rows(
            clinic=clinic,
            metrics=metrics,
            start=mondays[0],
            end=last + timedelta(days=6),
            bucket=_MONDAY,
        ):
            found[key, monday] = _figure(by_key[key], n, d, median, mean)
    return {
        m.key: [WeekFigure(monday, found.get((m.key, monday), NO_DATA)) for monday in mondays]
        for m in metrics
    }


def weekly_table(
    *, clinic: Clinic, keys: Iterable[str], week_of: date, weeks: int = WEEKS_SHOWN
) -> pd.DataFrame:
    """The weekly series as a table (a row per week, a column per metric label), for CSV export.

    No data is NaN, not 0, so an export never shows an empty week as a perfect one.
    """
    import pandas as pd

    series = weekly_series(clinic=clinic, keys=keys, week_of=week_of, weeks=weeks)
    columns = {
        registry.get(key).label: [
            float(w.value) if w.value is not None else float("nan") for w in points
        ]
        for key, points in series.items()
    }
    index = pd.Index([w.week_start for w in next(iter(series.values()), [])], name="week of")
    if not columns:
        index = pd.Index(
            [week_start(week_of) - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)],
            name="week of",
        )
    return pd.DataFrame(columns, index=index)


class Status(StrEnum):
    ON_TARGET = "on_target"
    WATCH = "watch"
    ALERT = "alert"
    NO_DATA = "no_data"

    @property
    def label(self) -> str:
        return {
            "on_target": "On target",
            "watch": "Watch",
            "alert": "Alert",
            "no_data": "No data",
        }[self.value]


def status_of(
    metric: Metric,
    value: Decimal | None,
    *,
    target: Decimal,
    alert_threshold: Decimal,
    target_high: Decimal | None = None,
) -> Status:
    """On target, watch or alert, honouring which way is better.

    The figure and the targets are compared as shown (rounded half-up to the metric's places).
    Lower is better: on target at or below the target, alert at or above the threshold, watch
    between. Higher is better: the mirror image. A band: on target inside [target, target_high],
    alert when more than `alert_threshold` outside it, watch in between.
    """
    return statuses_of(
        metric, [value], target=target, alert_threshold=alert_threshold, target_high=target_high
    )[0]


def statuses_of(
    metric: Metric,
    values: Iterable[Decimal | None],
    *,
    target: Decimal,
    alert_threshold: Decimal,
    target_high: Decimal | None = None,
) -> list[Status]:
    """`status_of` each of `values` against the same target (a trend's weeks), which is
    rounded once rather than once a week."""
    # Judged as shown: a figure displayed as "7.0 %" meets a 7 % target whether it was 6.977
    # or 7.042 before rounding (half-up, `Metric.rounded`); so are the targets.
    target = metric.rounded(target)
    alert_threshold = metric.rounded(alert_threshold)
    target_high = metric.rounded(target_high)
    direction = metric.direction
    return [
        Status.NO_DATA
        if value is None
        else _judged(direction, metric.rounded(value), target, alert_threshold, target_high)
        for value in values
    ]


def _judged(
    direction: Direction,
    value: Decimal,
    target: Decimal,
    alert_threshold: Decimal,
    target_high: Decimal | None,
) -> Status:
    if direction == Direction.BAND:
        high = target if target_high is None else target_high
        if target <= value <= high:
            return Status.ON_TARGET
        distance = target - value if value < target else value - high
        return Status.ALERT if distance > alert_threshold else Status.WATCH
    if direction == Direction.LOWER:
        if value <= target:
            return Status.ON_TARGET
        return Status.ALERT if value >= alert_threshold else Status.WATCH
    if value >= target:
        return Status.ON_TARGET
    return Status.ALERT if value <= alert_threshold else Status.WATCH


def choice_status(choice: ClinicMetricChoice, value: Decimal | None) -> Status:
    """The status of a chosen metric's figure against that clinic's own target and threshold."""
    return status_of(
        registry.get(choice.key),
        value,
        target=choice.target,
        alert_threshold=choice.alert_threshold,
        target_high=choice.target_high,
    )


def dashboard_clinics(user: User) -> QuerySet[Clinic]:
    """The clinics whose dashboards `user` may see."""
    return Clinic.objects.for_user(user)


# The dashboard's two reads of kpis' own tables as constant statements (decision 0049): built
# and compiled by the ORM they cost 1.3 ms of the page's ~9 ms of CPU; run like this, 0.3 ms.
# The owner's name comes from core's staff and user tables, as `select_related("owner__user")`
# read it; kpis/tests/test_dashboard_reads.py holds both statements to the querysets.
_CHOICES_SQL = """
SELECT c.id, c.clinic_id, c.key, c.position, c.target, c.target_high, c.alert_threshold,
       c.owner_id, c.updated_at, s.id, s.user_id, u.id, u.username, u.first_name, u.last_name
FROM kpis_clinicmetricchoice c
LEFT JOIN core_staff s ON s.id = c.owner_id
LEFT JOIN core_user u ON u.id = s.user_id
WHERE c.clinic_id = %s
ORDER BY c.position
"""
_CHOICE_FIELDS = [
    "id", "clinic_id", "key", "position", "target", "target_high", "alert_threshold",
    "owner_id", "updated_at",
]  # fmt: skip
_OWNER_FIELDS = ["id", "user_id"]
_USER_FIELDS = ["id", "username", "first_name", "last_name"]
_FRESHNESS_SQL = "SELECT max(computed_at) FROM kpis_metricday WHERE clinic_id = %s"


def _choice(row: Sequence[Any], clinic: Clinic) -> ClinicMetricChoice:
    """A choice read by `_CHOICES_SQL`, with its clinic and its owner's staff and user (only
    the fields a tile shows of them; any other is loaded on first use, as `.only()` would)."""
    db = connection.alias
    choice = ClinicMetricChoice.from_db(db, _CHOICE_FIELDS, row[:9])
    choice.clinic = clinic
    if row[9] is not None:
        owner = Staff.from_db(db, _OWNER_FIELDS, row[9:11])
        owner.user = User.from_db(db, _USER_FIELDS, row[11:15])
        choice.owner = owner
    else:
        choice.owner = None
    return choice


def chosen_metrics(clinic: Clinic) -> list[ClinicMetricChoice]:
    """The clinic's dashboard metrics in order, skipping any whose metric left the catalogue,
    each with its owner's name (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(_CHOICES_SQL, [clinic.pk])
        rows = cursor.fetchall()
    return [_choice(row, clinic) for row in rows if registry.is_registered(row[2])]


def freshness(clinic: Clinic) -> datetime | None:
    """When the clinic's figures were last rolled up ("rolled up at 02:03"); None if never."""
    with connection.cursor() as cursor:
        cursor.execute(_FRESHNESS_SQL, [clinic.pk])
        at: datetime | None = cursor.fetchone()[0]
    return at
