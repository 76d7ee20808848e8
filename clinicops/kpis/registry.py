"""The metric catalogue: each app's `kpis.py` registers its metrics here; the engine imports no app.

A metric computes its *parts* for one clinic and one local day. The parts are what a period's
figure is recomputed from (shared/KPIS.md): a numerator and a denominator for a ratio, the raw
values for a median, and (value, group) pairs for a mean of per-group means (TNAA: the mean over
providers of each provider's mean daily value). Registering one is a single line in the app's
`kpis.py`:

    register(Metric(key="no_show_rate", label="No-show rate", unit=Unit.PERCENT,
                    default_target=7, compute=no_show_rate_parts))

`compute(clinic, day)` may return a `Parts`, a `(numerator, denominator)` pair (ratio), an
iterable of numbers (median), or an iterable of rows whose first field is the group and whose
last field is the value (mean of means; scheduling's `TnaaValue(provider_id, type_id, days)`).

A metric may also say which records are behind a figure: `drilldown(clinic, first, last)`
returns a `Drilldown` (or a list of dicts, one per record, with an optional "patient_id" key)
for the local days first..last. The dashboard shows those rows when a manager clicks the
figure, exports them as CSV and audits the patients among them. Without it the figure is
shown but cannot be opened.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from clinicops.core.models import Clinic


class Unit(StrEnum):
    PERCENT = "percent"
    MINUTES = "minutes"
    DAYS = "days"
    CURRENCY = "currency"
    COUNT = "count"


class Kind(StrEnum):
    RATIO = "ratio"
    MEDIAN = "median"
    MEAN_OF_MEANS = "mean_of_means"


class Direction(StrEnum):
    LOWER = "lower"
    HIGHER = "higher"
    BAND = "band"


Number = int | float | Decimal
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return Decimal(repr(value))
    return Decimal(value)


@dataclass(frozen=True)
class Parts:
    """One clinic-day of one metric: what any period's figure is recomputed from.

    For medians and means of means, `numerator` is the sum and `denominator` the count of the
    values, so "no data" is a zero denominator for every kind.
    """

    numerator: Decimal = Decimal(0)
    denominator: Decimal = Decimal(0)
    values: tuple[float, ...] = ()
    groups: tuple[int, ...] = ()

    @classmethod
    def ratio(cls, numerator: Number, denominator: Number) -> Parts:
        return cls(_decimal(numerator), _decimal(denominator))

    @classmethod
    def of_values(cls, values: Iterable[Number], groups: Iterable[int] = ()) -> Parts:
        floats = tuple(map(float, values))
        if not all(map(math.isfinite, floats)):
            raise ValueError("metric values must be finite numbers")
        group_ids = tuple(map(int, groups))
        if group_ids and len(group_ids) != len(floats):
            raise ValueError("a metric's groups must pair one to one with its values")
        return cls(_decimal(math.fsum(floats)), Decimal(len(floats)), floats, group_ids)


def _rows_as_grouped_values(rows: Iterable[Any]) -> Parts:
    values: list[Number] = []
    groups: list[int] = []
    for row in rows:
        if isinstance(row, Mapping):
            groups.append(int(row["group"]))
            values.append(row["value"])
        else:
            fields = tuple(row)
            groups.append(int(fields[0]))
            values.append(fields[-1])
    return Parts.of_values(values, groups)


@dataclass(frozen=True)
class Drilldown:
    """The records behind a figure: column headings, one row of cells per record, and the
    patient (an id, or None) each row is about, pairwise with `rows`, so reads can be audited.

    Cells are plain values (text, numbers, dates, aware datetimes); `caption` says what the
    rows are ("Supplies logged as used").
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...] = ()
    patient_ids: tuple[int | None, ...] = ()
    caption: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "rows", tuple(tuple(row) for row in self.rows))
        if not self.patient_ids:
            object.__setattr__(self, "patient_ids", (None,) * len(self.rows))
        object.__setattr__(self, "patient_ids", tuple(self.patient_ids))
        if len(self.patient_ids) != len(self.rows):
            raise ValueError("a drill-down's patient ids must pair one to one with its rows")
        if any(len(row) != len(self.columns) for row in self.rows):
            raise ValueError("every drill-down row needs one cell per column")

    @classmethod
    def from_dicts(cls, records: Iterable[Mapping[str, Any]], caption: str = "") -> Drilldown:
        """Rows from dicts (column heading -> cell); a "patient_id" key is audited, not shown."""
        records = list(records)
        columns = tuple(k for k in (records[0] if records else {}) if k != "patient_id")
        return cls(
            columns=columns,
            rows=tuple(tuple(record.get(c) for c in columns) for record in records),
            patient_ids=tuple(record.get("patient_id") for record in records),
            caption=caption,
        )

    @property
    def patients(self) -> list[int]:
        """The distinct patients the rows are about, in order of appearance."""
        return list(dict.fromkeys(p for p in self.patient_ids if p is not None))


@dataclass(frozen=True)
class Source:
    """A table a metric reads, and which clinic-days a row of it counts towards.

    `model` is "app_label.ModelName"; `clinic` and `day` are field paths from it (Django's
    double-underscore lookups: "clinic", "visit__clinic", "location_item__location__clinic",
    a many-to-many such as "provider__clinics" too). `day` is a datetime (read as the clinic's
    local date) or a date. With `until`, a row counts towards every day from `day` to `until`
    (a blank `until`: open-ended); with `onward`, towards its day and every day after it (a
    running balance). The engine turns these into Postgres triggers (`changes.py`), so every
    write marks the past days it touches, however it was made.
    """

    model: str
    clinic: str
    day: str
    until: str | None = None
    onward: bool = False


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One entry of the catalogue (shared/KPIS.md): what it is, how it is judged, how computed."""

    key: str
    label: str
    unit: Unit
    compute: Callable[..., Any]
    kind: Kind = Kind.RATIO
    # Either a direction (higher or lower is better) with a single target, or a band.
    higher_is_better: bool = False
    target_band: tuple[Decimal, Decimal] | None = None
    default_target: Decimal | None = None
    # Where "watch" turns to "alert" by default; for a band, how far outside it.
    default_alert: Decimal | None = None
    description: str = ""
    # "How this is computed": the definition in force, in full, as a tile shows it; where it
    # departs from shared/KPIS.md it says how and why.
    definition: str = ""
    # A measurement of the day as it stood (TNAA: the schedule's open slots that morning),
    # not a count of what happened: it is computed once, and the trailing re-roll leaves it,
    # since recomputing it days later would measure a later schedule.
    point_in_time: bool = False
    # Optional: the parts of many days at once, {day: result} for local days first..last (a
    # day left out had no data): one GROUP BY instead of a query per day, for backfills.
    compute_range: Callable[[Clinic, date, date], Mapping[date, Any]] | None = None
    # Optional: when the data behind a clinic-day last changed (the backfill's resumability).
    last_changed: Callable[[Clinic, date], datetime | None] | None = field(
        default=None, compare=False
    )
    # The tables the metric reads (see `Source`): a write to any of them marks the past
    # clinic-days it touches, and the nightly run re-rolls them, whatever their age. A metric
    # that is not point-in-time must name them, or a late correction never reaches its tile.
    sources: tuple[Source, ...] = field(default=(), compare=False)
    # Optional: the records behind the figure of local days first..last (see `Drilldown`).
    drilldown: Callable[[Clinic, date, date], Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not KEY_PATTERN.fullmatch(self.key):
            raise ImproperlyConfigured(
                f"Metric key {self.key!r} must be lower-case letters, digits and underscores."
            )
        object.__setattr__(self, "unit", Unit(self.unit))
        object.__setattr__(self, "kind", Kind(self.kind))
        for name in ("default_target", "default_alert"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _decimal(value))
        if self.target_band is not None:
            low, high = (_decimal(v) for v in self.target_band)
            if low > high:
                raise ImproperlyConfigured(f"Metric {self.key}: the target band is upside down.")
            object.__setattr__(self, "target_band", (low, high))
            if self.default_target is None:
                object.__setattr__(self, "default_target", low)

    def __str__(self) -> str:
        return self.label

    @property
    def direction(self) -> Direction:
        if self.target_band is not None:
            return Direction.BAND
        return Direction.HIGHER if self.higher_is_better else Direction.LOWER

    @property
    def scale(self) -> Decimal:
        """A ratio's figure is numerator / denominator times this (100 for a percentage)."""
        return Decimal(100) if self.unit == Unit.PERCENT and self.kind == Kind.RATIO else Decimal(1)

    def parts(self, clinic: Clinic, day: date) -> Parts:
        """Run `compute` for one clinic-day and read its result as `Parts`."""
        return self.as_parts(self.compute(clinic, day))

    def parts_for_days(self, clinic: Clinic, days: Iterable[date]) -> dict[date, Parts]:
        """The parts of each of `days`: one `compute_range` call per run of consecutive days
        where the metric has one, else one `compute` call per day."""
        days = sorted(set(days))
        if self.compute_range is None:
            return {day: self.parts(clinic, day) for day in days}
        parts: dict[date, Parts] = {}
        empty = Parts()  # frozen: one "no data" for every day without any
        for first, last in consecutive_runs(days):
            found = self.compute_range(clinic, first, last)
            day = first
            while day <= last:
                parts[day] = self.as_parts(found[day]) if day in found else empty
                day += timedelta(days=1)
        return parts

    def as_parts(self, result: Any) -> Parts:
        """A compute function's result, read as `Parts` according to the metric's kind."""
        if isinstance(result, Parts):
            return result
        if self.kind == Kind.RATIO:
            numerator, denominator = result
            return Parts.ratio(numerator or 0, denominator or 0)
        if self.kind == Kind.MEDIAN:
            return Parts.of_values(result)
        return _rows_as_grouped_values(result)

    @property
    def has_drilldown(self) -> bool:
        return self.drilldown is not None

    def drill(self, clinic: Clinic, first: date, last: date) -> Drilldown | None:
        """The records behind the figure of local days first..last; None without a drill-down."""
        if self.drilldown is None:
            return None
        result = self.drilldown(clinic, first, last)
        if isinstance(result, Drilldown):
            return result
        return Drilldown.from_dicts(result)

    def default_alert_threshold(self, target: Decimal | None = None) -> Decimal | None:
        """The alert threshold a clinic starts from: the metric's own, or 25 % past the target."""
        if self.default_alert is not None and target in (None, self.default_target):
            return self.default_alert
        target = self.default_target if target is None else target
        if self.direction == Direction.BAND:
            return Decimal(5)
        if target is None:
            return None
        if self.direction == Direction.HIGHER:
            return (target * Decimal("0.9")).quantize(Decimal("0.01"))
        return (target * Decimal("1.25")).quantize(Decimal("0.01"))

    @property
    def places(self) -> int:
        """Decimal places a figure is shown with: 1 for percentages and days, 2 for money, 0
        for minutes."""
        return _PLACES.get(self.unit, 1)

    def rounded(self, value: Decimal | float | None) -> Decimal | None:
        """`value` as shown, rounded half-up (76.25 -> 76.3, as a spreadsheet or a person
        rounds; Python's default half-to-even would show 76.2). Statuses compare these."""
        if value is None:
            return None
        shown = _decimal(value).quantize(_QUANTUM[self.places], rounding=ROUND_HALF_UP)
        return shown.copy_abs() if shown == 0 else shown  # never "-0.0 %"

    def format(self, value: Decimal | float | None) -> str:
        """The figure as a tile shows it: "7.3 %", "$12.40", "18 min", "6.5 days"; "no data"."""
        shown = self.rounded(value)
        if shown is None:
            return "no data"
        if self.unit == Unit.PERCENT:
            return f"{shown} %"
        if self.unit == Unit.CURRENCY:
            return f"${shown:,}"
        if self.unit == Unit.MINUTES:
            return f"{shown} min"
        if self.unit == Unit.DAYS:
            return f"{shown} days"
        return f"{shown:,}"


_PLACES = {Unit.PERCENT: 1, Unit.CURRENCY: 2, Unit.MINUTES: 0, Unit.DAYS: 1, Unit.COUNT: 1}
# What `rounded` quantizes to for each number of places (the dashboard rounds a few hundred
# figures, targets and thresholds per page).
_QUANTUM = {places: Decimal(1).scaleb(-places) for places in set(_PLACES.values())}


class AlreadyRegistered(ImproperlyConfigured):
    pass


_registry: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add a metric to the catalogue; the same definition twice (a re-import) is harmless."""
    existing = _registry.get(metric.key)
    if existing is not None and existing != metric:
        raise AlreadyRegistered(f"A different metric is already registered as {metric.key!r}.")
    _registry[metric.key] = metric
    return metric


def unregister(key: str) -> None:
    _registry.pop(key, None)


def get(key: str) -> Metric:
    """The registered metric `key` (KeyError names it when there is none)."""
    try:
        return _registry[key]
    except KeyError:
        raise KeyError(f"No metric is registered as {key!r}.") from None


def is_registered(key: str) -> bool:
    return key in _registry


def all_metrics() -> list[Metric]:
    """Every registered metric, in catalogue (label) order."""
    return sorted(_registry.values(), key=lambda m: m.label.lower())


def autodiscover() -> None:
    """Import each installed app's `kpis` module; its `register(...)` calls fill the catalogue."""
    autodiscover_modules("kpis")


@contextmanager
def swapped(metrics: Iterable[Metric] = ()) -> Iterator[None]:
    """Run with exactly `metrics` registered, then restore the catalogue (tests, benchmarks)."""
    saved = dict(_registry)
    _registry.clear()
    try:
        for metric in metrics:
            register(metric)
        yield
    finally:
        _registry.clear()
        _registry.update(saved)


def consecutive_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """[(first, last), ...] for each run of consecutive days in `days`."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def by_local_day(
    queryset: QuerySet[Any],
    field_name: str,
    *,
    clinic: Clinic,
    first: date,
    last: date,
    **aggregates: Any,
) -> dict[date, dict[str, Any]]:
    """{local day: {name: aggregate}} of `queryset` over the clinic's local days first..last.

    The building block of a `compute_range`: rows are bucketed by the clinic-local date of
    `field_name` (a datetime), which is how a DST day gets its 23 or 25 hours.
    """
    from django.db.models.functions import TruncDate

    start, end = day_bounds(clinic, first)[0], day_bounds(clinic, last)[1]
    rows = (
        queryset.filter(**{f"{field_name}__gte": start, f"{field_name}__lt": end})
        .annotate(local_day=TruncDate(field_name, tzinfo=clinic.tz))
        .order_by()
        .values("local_day")
        .annotate(**aggregates)
    )
    return {row.pop("local_day"): row for row in rows}


def day_bounds(clinic: Clinic, day: date) -> tuple[datetime, datetime]:
    """[local midnight of `day`, local midnight of the next day) in UTC: 23 or 25 hours on DST days.

    In UTC because arithmetic between two datetimes of one zoneinfo zone is wall-clock
    arithmetic: it would call the 23-hour day 24 hours long.
    """
    tz = clinic.tz
    return (
        datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC),
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC),
    )
