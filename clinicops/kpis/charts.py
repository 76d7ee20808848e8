"""Server-rendered SVG trend charts: the geometry here, the markup in `kpis/_trend_chart.html`.

The chart is drawn with classes only (the CSP forbids inline styles), scales with its box
(a viewBox, no fixed size), and is an image to assistive technology (role="img" with a
<title> and a <desc>) backed by a visually hidden table of the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from .registry import Direction, Metric, Unit
from .selectors import Status, WeekFigure, status_of

if TYPE_CHECKING:
    from .models import ClinicMetricChoice

WIDTH, HEIGHT = 600, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 30
LABEL_EVERY = 3


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float | None
    week_start: date
    value_text: str
    status: Status
    label: str

    @property
    def has_data(self) -> bool:
        return self.y is not None


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class TrendChart:
    id: str
    title: str
    description: str
    points: list[ChartPoint]
    segments: list[str]
    ticks: list[Tick]
    target_y: float | None
    band: tuple[float, float] | None  # (top y, bottom y) of the target band
    alert_y: float | None
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM

    @property
    def plot_width(self) -> int:
        return self.right_edge - self.left

    @property
    def band_height(self) -> float:
        return round(self.band[1] - self.band[0], 1) if self.band else 0.0

    @property
    def tick_x(self) -> int:
        return self.left - 6

    @property
    def label_y(self) -> int:
        return self.height - 8

    @property
    def x_labels(self) -> list[ChartPoint]:
        """Every third week, counted back from the newest, so the latest is always labelled."""
        last = len(self.points) - 1
        return [p for i, p in enumerate(self.points) if (last - i) % LABEL_EVERY == 0]


def nice_step(span: float, intervals: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving at most `intervals`."""
    if span <= 0:
        return 1.0
    raw = span / intervals
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * power >= raw:
            return multiple * power
    return 10 * power  # pragma: no cover - the loop always returns


def _tick_label(metric: Metric, value: float, step: float) -> str:
    decimals = 0 if step >= 1 else (1 if step >= 0.1 else 2)
    number = f"{value:,.{decimals}f}"
    if metric.unit == Unit.PERCENT:
        return f"{number} %"
    if metric.unit == Unit.CURRENCY:
        return f"${number}"
    return number


def trend_chart(
    metric: Metric,
    choice: ClinicMetricChoice,
    series: Sequence[WeekFigure],
    *,
    clinic_id: int,
) -> TrendChart:
    """The geometry of a metric's weekly trend, with its target (line or band) and alert line."""
    values = [float(w.value) for w in series if w.value is not None]
    target = float(choice.target)
    high = float(choice.target_high) if choice.target_high is not None else None
    band = metric.direction == Direction.BAND
    alert = None if band else float(choice.alert_threshold)
    references = [v for v in (target, high, alert) if v is not None]
    top_value = max(values + references + [0.0]) * 1.1 or 1.0
    if metric.unit == Unit.PERCENT and max(values + references + [0.0]) <= 100:
        top_value = min(top_value, 100.0)
    step = nice_step(top_value)
    y_max = math.ceil(top_value / step - 1e-9) * step
    plot_top, plot_bottom = TOP, HEIGHT - BOTTOM

    def y_of(value: float) -> float:
        return round(plot_bottom - (value / y_max) * (plot_bottom - plot_top), 1)

    count = len(series)
    span = (WIDTH - RIGHT) - LEFT
    points = []
    for i, week in enumerate(series):
        x = round(LEFT + (span * i / (count - 1) if count > 1 else span / 2), 1)
        value = week.value
        points.append(
            ChartPoint(
                x=x,
                y=y_of(float(value)) if value is not None else None,
                week_start=week.week_start,
                value_text=metric.format(value),
                status=status_of(
                    metric,
                    value,
                    target=choice.target,
                    alert_threshold=choice.alert_threshold,
                    target_high=choice.target_high,
                ),
                label=f"{week.week_start:%b} {week.week_start.day}",
            )
        )
    segments, current = [], []
    for point in points:
        if point.has_data:
            current.append(f"{point.x},{point.y}")
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    paths = ["M" + " L".join(run) for run in segments]

    ticks = []
    tick = 0.0
    while tick <= y_max + 1e-9:
        ticks.append(Tick(y=y_of(tick), label=_tick_label(metric, tick, step)))
        tick += step

    latest = series[-1] if series else None
    first = series[0].week_start if series else None
    described = [f"{metric.label} by week"]
    if first and latest:
        described[0] += f", weeks of {first:%d %b %Y} to {latest.week_start:%d %b %Y}"
    target_words = (
        f"the target band {metric.format(Decimal(str(target)))} to "
        f"{metric.format(Decimal(str(high if high is not None else target)))}"
        if band
        else f"the target {metric.format(choice.target)}"
    )
    described.append(f"Dashed line: {target_words}")
    if alert is not None:
        threshold = metric.format(choice.alert_threshold)
        described.append(f"dotted line: the alert threshold {threshold}")
    if latest is not None:
        described.append(f"latest week {metric.format(latest.value)}")
    missing = sum(1 for w in series if w.value is None)
    if missing:
        described.append(f"{missing} week{'s' if missing != 1 else ''} without data")
    return TrendChart(
        id=f"trend-{clinic_id}-{metric.key}",
        title=f"{metric.label}: {len(series)}-week trend",
        description="; ".join(described) + ".",
        points=points,
        segments=paths,
        ticks=ticks,
        target_y=y_of(target),
        band=(y_of(high if high is not None else target), y_of(target)) if band else None,
        alert_y=y_of(alert) if alert is not None else None,
    )
