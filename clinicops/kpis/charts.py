"""Server-rendered SVG trend charts: the geometry, and the markup (`TrendChart.html`).

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
from functools import lru_cache
from html import escape
from typing import TYPE_CHECKING

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from clinicops.core.templatetags.formats import fullday

from .registry import Direction, Metric, Unit
from .selectors import Status, WeekFigure, statuses_of

if TYPE_CHECKING:
    from .models import ClinicMetricChoice

WIDTH, HEIGHT = 600, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 30
LABEL_EVERY = 3


@lru_cache(maxsize=256)
def _week_of(monday: date, language: str | None) -> str:
    """`|fullday` of a week (the language is part of the key, as it is of the words): the
    dashboard's charts list the same twelve weeks each, and Django's translated date format
    was half the cost of a chart's markup."""
    return fullday(monday)


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

    def html(self, metric_label: str) -> SafeString:
        """The chart's markup (what kpis/_trend_chart.html was): the dashboard draws five
        of them, and in the template language they were most of its time."""
        e = escape
        left, right, base = self.left, self.right_edge, self.baseline
        out = [
            '<figure class="kpi-chart">\n  <svg class="kpi-chart__svg" viewBox="0 0 '
            f'{self.width} {self.height}" role="img" aria-labelledby="{e(self.id)}-title '
            f'{e(self.id)}-desc" focusable="false" preserveAspectRatio="xMidYMid meet">\n'
            f'    <title id="{e(self.id)}-title">{e(self.title)}</title>\n'
            f'    <desc id="{e(self.id)}-desc">{e(self.description)}</desc>\n'
            '    <g class="kpi-chart__grid">\n'
        ]
        for tick in self.ticks:
            out.append(
                f'      <line class="kpi-chart__gridline" x1="{left}" x2="{right}" '
                f'y1="{tick.y}" y2="{tick.y}"/>\n'
                f'      <text class="kpi-chart__tick" x="{self.tick_x}" y="{tick.y}" '
                f'text-anchor="end" dominant-baseline="middle">{e(tick.label)}</text>\n'
            )
        out.append("    </g>\n")
        if self.band:
            out.append(
                f'    <rect class="kpi-chart__band" x="{left}" y="{self.band[0]}" '
                f'width="{self.plot_width}" height="{self.band_height}"/>\n'
            )
        if self.alert_y is not None:
            out.append(
                f'    <line class="kpi-chart__alert" x1="{left}" x2="{right}" '
                f'y1="{self.alert_y}" y2="{self.alert_y}"/>\n'
            )
        lines = [self.band[0], self.band[1]] if self.band else [self.target_y]
        for y in lines:
            out.append(
                f'    <line class="kpi-chart__target" x1="{left}" x2="{right}" '
                f'y1="{y}" y2="{y}"/>\n'
            )
        out.append("    ")
        out.extend(f'<path class="kpi-chart__line" d="{e(path)}"/>' for path in self.segments)
        out.append("\n")
        last = len(self.points) - 1
        for i, point in enumerate(self.points):
            if point.has_data:
                r = 6 if i == last else 4
                out.append(
                    f'      <circle class="kpi-chart__point kpi-chart__point--{e(point.status)}" '
                    f'cx="{point.x}" cy="{point.y}" r="{r}"/>\n'
                )
            else:
                out.append(
                    f'      <circle class="kpi-chart__point kpi-chart__point--none" '
                    f'cx="{point.x}" cy="{base}" r="3"/>\n'
                )
        out.append(
            f'    <line class="kpi-chart__axis" x1="{left}" x2="{right}" y1="{base}" '
            f'y2="{base}"/>\n'
        )
        for point in self.x_labels:
            out.append(
                f'    <text class="kpi-chart__label" x="{point.x}" y="{self.label_y}" '
                f'text-anchor="middle">{e(point.label)}</text>\n'
            )
        target = "Target band" if self.band else "Target"
        alert = (
            '<span class="kpi-legend kpi-legend--alert">Alert threshold</span>'
            if self.alert_y is not None
            else ""
        )
        out.append(
            "  </svg>\n"
            '  <figcaption class="kpi-chart__legend muted">\n'
            f'    <span class="kpi-legend kpi-legend--target">{target}</span>\n'
            f"    {alert}\n"
            "  </figcaption>\n"
            '  <div class="table-wrap visually-hidden">\n'
            '    <table class="table">\n'
            f"      <caption>{e(self.title)}</caption>\n"
            '      <thead><tr><th scope="col">Week of</th><th scope="col">'
            f'{e(metric_label)}</th><th scope="col">Status</th></tr></thead>\n'
            "      <tbody>\n"
        )
        language = get_language()
        for point in self.points:
            out.append(
                f'        <tr><th scope="row">{e(_week_of(point.week_start, language))}</th>'
                f"<td>{e(point.value_text)}</td><td>{e(point.status.label)}</td></tr>\n"
            )
        out.append("      </tbody>\n    </table>\n  </div>\n</figure>")
        return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


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
    statuses = statuses_of(
        metric,
        [week.value for week in series],
        target=choice.target,
        alert_threshold=choice.alert_threshold,
        target_high=choice.target_high,
    )
    points = []
    for i, (week, status) in enumerate(zip(series, statuses, strict=True)):
        x = round(LEFT + (span * i / (count - 1) if count > 1 else span / 2), 1)
        value = week.value
        points.append(
            ChartPoint(
                x=x,
                y=y_of(float(value)) if value is not None else None,
                week_start=week.week_start,
                value_text=metric.format(value),
                status=status,
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
