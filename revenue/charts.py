"""The denial Pareto chart, server-rendered SVG (like the KPI trends): the geometry here, the
markup in `revenue/_pareto.html`. Bars are denial dollars largest first, each a link to the
work items behind it; a line is the cumulative share. Classes only (the CSP forbids inline
styles); a visually hidden table carries the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .selectors import ParetoBar

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 48, 16, 70


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label_x: float
    label: str
    amount_text: str
    cumulative_y: float
    bar: ParetoBar
    href: str


@dataclass(frozen=True)
class ParetoChart:
    title: str
    description: str
    bars: list[Bar]
    line: str
    ticks: list[tuple[float, str]]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM
    top: int = TOP


def _money(value: Decimal) -> str:
    """Whole dollars when the amount is whole, else with its cents: an axis tick at half of
    $15.00 reads "$7.50", not "$8"."""
    cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if cents == cents.to_integral_value():
        return f"${cents:,.0f}"
    return f"${cents:,.2f}"


def pareto_chart(bars: list[ParetoBar], *, title: str, hrefs: list[str]) -> ParetoChart:
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    top_amount = max((b.amount for b in bars), default=Decimal("0")) or Decimal("1")
    slot = plot_w / max(len(bars), 1)
    drawn: list[Bar] = []
    points: list[str] = []
    for i, (bar, href) in enumerate(zip(bars, hrefs, strict=True)):
        h = float(bar.amount / top_amount) * plot_h
        width = min(slot * 0.7, 96.0)
        x = LEFT + i * slot + (slot - width) / 2
        cum_y = TOP + plot_h * (1 - float(bar.cumulative_pct) / 100)
        drawn.append(
            Bar(
                x=round(x, 1),
                y=round(TOP + plot_h - h, 1),
                width=round(width, 1),
                height=round(h, 1),
                label_x=round(LEFT + i * slot + slot / 2, 1),
                label=bar.label if len(bar.label) <= 18 else bar.label[:17] + "…",
                amount_text=_money(bar.amount),
                cumulative_y=round(cum_y, 1),
                bar=bar,
                href=href,
            )
        )
        points.append(f"{'M' if i == 0 else 'L'}{LEFT + i * slot + slot / 2:.1f},{cum_y:.1f}")
    ticks = [
        (round(TOP + plot_h * (1 - f), 1), _money(top_amount * Decimal(str(f))))
        for f in (0, 0.5, 1)
    ]
    total = sum((b.amount for b in bars), Decimal("0"))
    description = (
        "; ".join(f"{b.label}: {_money(b.amount)} ({b.cumulative_pct} % cumulative)" for b in bars)
        or "No denials in the period."
    )
    return ParetoChart(
        title=f"{title}: {_money(total)} in all",
        description=description,
        bars=drawn,
        line=" ".join(points),
        ticks=ticks,
    )
