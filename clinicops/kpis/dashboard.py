"""The dashboard's read model: tiles, trends and the health-system grid, from the rollup only.

Nothing here calls a metric's compute function: every figure comes from `MetricDay` through
`selectors`, one query per clinic for all its chosen metrics and weeks, so the page costs the
same whether the clinic logged a thousand visits or a million.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from clinicops.core.models import Clinic

from . import registry, selectors
from .charts import TrendChart, trend_chart
from .models import ClinicMetricChoice
from .registry import Direction, Kind, Metric, Unit
from .selectors import Figure, Status, WeekFigure

WEEKS_SHOWN = selectors.WEEKS_SHOWN


def last_complete_week(clinic: Clinic) -> date:
    """The Monday of the latest clinic-local week that has ended (on a Monday: last week)."""
    return selectors.week_start(clinic.today()) - timedelta(weeks=1)


def _number(metric: Metric, value: Decimal | None) -> str:
    """A target or threshold as the tile shows it (the metric's own unit and precision)."""
    return metric.format(value)


def target_text(metric: Metric, choice: ClinicMetricChoice) -> str:
    """ "≤ 7.0 %", "≥ 95.0 %", "80.0 % to 85.0 %": the target, and which way is good."""
    if metric.direction == Direction.BAND:
        high = choice.target_high if choice.target_high is not None else choice.target
        return f"{_number(metric, choice.target)} to {_number(metric, high)}"
    sign = "≥" if metric.direction == Direction.HIGHER else "≤"
    return f"{sign} {_number(metric, choice.target)}"


def alert_text(metric: Metric, choice: ClinicMetricChoice) -> str:
    """When the tile turns to alert, in words a manager reads at a glance."""
    if metric.direction == Direction.BAND:
        return f"{_number(metric, choice.alert_threshold)} outside"
    sign = "≤" if metric.direction == Direction.HIGHER else "≥"
    return f"{sign} {_number(metric, choice.alert_threshold)}"


def basis_text(metric: Metric, figure: Figure) -> str:
    """What the figure was computed from: "12 of 164", "$912.40 over 88", "230 measurements"."""
    if not figure.has_data:
        return ""
    d = figure.denominator.normalize()
    if metric.kind != Kind.RATIO:
        return f"{d:,f} measurement{'s' if d != 1 else ''}"
    n = figure.numerator
    if metric.unit == Unit.CURRENCY:
        return f"${n:,.2f} over {d:,f}"
    return f"{n.normalize():,f} of {d:,f}"


def change_text(metric: Metric, this_week: Figure, last_week: Figure) -> str:
    """The move since last week, in the metric's unit ("up 1.2 points", "down $0.40")."""
    if not (this_week.has_data and last_week.has_data):
        return ""
    # The difference of the figures as shown (rounded half-up), so the words agree with them.
    delta = metric.rounded(this_week.value) - metric.rounded(last_week.value)  # type: ignore[operator]
    if delta == 0:
        return "no change from last week"
    if metric.unit == Unit.PERCENT:
        size = f"{abs(delta)} point{'s' if abs(delta) != 1 else ''}"
    else:
        size = metric.format(abs(delta))
    return f"{'up' if delta > 0 else 'down'} {size} from last week"


@dataclass(frozen=True)
class Tile:
    """One chosen metric's week: this week, last week, its target and status, and its trend."""

    choice: ClinicMetricChoice
    metric: Metric
    series: list[WeekFigure]
    status: Status
    last_status: Status
    chart: TrendChart | None = None

    @property
    def key(self) -> str:
        return self.metric.key

    @property
    def chart_html(self) -> str:
        return self.chart.html(self.metric.label) if self.chart is not None else ""

    @property
    def this_week(self) -> Figure:
        return self.series[-1].figure

    @property
    def last_week(self) -> Figure:
        return self.series[-2].figure if len(self.series) > 1 else selectors.NO_DATA

    @property
    def display(self) -> str:
        return self.metric.format(self.this_week.value)

    @property
    def last_display(self) -> str:
        return self.metric.format(self.last_week.value)

    @property
    def target(self) -> str:
        return target_text(self.metric, self.choice)

    @property
    def alert(self) -> str:
        return alert_text(self.metric, self.choice)

    @property
    def basis(self) -> str:
        return basis_text(self.metric, self.this_week)

    @property
    def change(self) -> str:
        return change_text(self.metric, self.this_week, self.last_week)

    @property
    def owner(self) -> str:
        owner = self.choice.owner
        return owner.user.display_name if owner is not None else "no owner"

    @property
    def crossed_threshold(self) -> bool:
        """In alert this week: what the digest calls out."""
        return self.status == Status.ALERT

    @property
    def newly_alert(self) -> bool:
        return self.status == Status.ALERT and self.last_status != Status.ALERT


def tiles_for(
    clinic: Clinic,
    choices: Sequence[ClinicMetricChoice],
    week_of: date,
    *,
    weeks: int = WEEKS_SHOWN,
    charts: bool = True,
) -> list[Tile]:
    """A tile per chosen metric for the week of `week_of`, with its `weeks`-week trend."""
    if not choices:
        return []
    series = selectors.weekly_series(
        clinic=clinic, keys=[c.key for c in choices], week_of=week_of, weeks=max(weeks, 2)
    )
    tiles = []
    for choice in choices:
        metric = registry.get(choice.key)
        points = series[choice.key]
        tiles.append(
            Tile(
                choice=choice,
                metric=metric,
                series=points,
                status=selectors.choice_status(choice, points[-1].value),
                last_status=selectors.choice_status(choice, points[-2].value),
                chart=trend_chart(metric, choice, points, clinic_id=clinic.pk) if charts else None,
            )
        )
    return tiles


@dataclass(frozen=True)
class Dashboard:
    clinic: Clinic
    week_start: date
    tiles: list[Tile]
    rolled_up_at: datetime | None
    today: date

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)

    @property
    def is_partial_week(self) -> bool:
        """The week has not ended yet in the clinic: its figures are the week to date."""
        return self.week_end >= self.today

    @property
    def previous_week(self) -> date:
        return self.week_start - timedelta(weeks=1)

    @property
    def next_week(self) -> date | None:
        following = self.week_start + timedelta(weeks=1)
        return following if following <= self.today else None

    @property
    def rolled_up_local(self) -> datetime | None:
        if self.rolled_up_at is None:
            return None
        return timezone.localtime(self.rolled_up_at, self.clinic.tz)

    @property
    def alerts(self) -> list[Tile]:
        return [t for t in self.tiles if t.crossed_threshold]

    @property
    def watches(self) -> list[Tile]:
        return [t for t in self.tiles if t.status == Status.WATCH]


def dashboard(clinic: Clinic, week_of: date) -> Dashboard:
    """The clinic's weekly dashboard for the week holding `week_of`."""
    return Dashboard(
        clinic=clinic,
        week_start=selectors.week_start(week_of),
        tiles=tiles_for(clinic, selectors.chosen_metrics(clinic), week_of),
        rolled_up_at=selectors.freshness(clinic),
        today=clinic.today(),
    )


@dataclass(frozen=True)
class Cell:
    """One clinic's figure for one metric in the health-system grid (None: not chosen there)."""

    tile: Tile | None


@dataclass(frozen=True)
class SystemRow:
    clinic: Clinic
    cells: list[Cell]
    rolled_up_at: datetime | None

    @property
    def chosen_count(self) -> int:
        return sum(1 for c in self.cells if c.tile is not None)


@dataclass(frozen=True)
class SystemView:
    week_start: date
    metrics: list[Metric]
    rows: list[SystemRow] = field(default_factory=list)


def system_view(clinics: Iterable[Clinic], week_of: date) -> SystemView:
    """Each clinic's chosen metrics side by side, a column per metric any of them chose."""
    clinics = list(clinics)
    chosen = {clinic.pk: selectors.chosen_metrics(clinic) for clinic in clinics}
    keys = list(dict.fromkeys(c.key for choices in chosen.values() for c in choices))
    metrics = sorted((registry.get(k) for k in keys), key=lambda m: m.label.lower())
    rows = []
    for clinic in clinics:
        found = tiles_for(clinic, chosen[clinic.pk], week_of, weeks=2, charts=False)
        tiles = {t.key: t for t in found}
        rows.append(
            SystemRow(
                clinic=clinic,
                cells=[Cell(tiles.get(m.key)) for m in metrics],
                rolled_up_at=selectors.freshness(clinic),
            )
        )
    return SystemView(week_start=selectors.week_start(week_of), metrics=metrics, rows=rows)
