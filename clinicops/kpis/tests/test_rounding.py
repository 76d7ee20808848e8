"""Figures are shown rounded half-up, and judged against their targets as shown (issue 11.5)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinicops.kpis.dashboard import change_text
from clinicops.kpis.registry import Kind, Metric, Unit
from clinicops.kpis.selectors import Figure, Status, status_of

PERCENT = Metric(key="no_show_rate", label="No-show rate", unit=Unit.PERCENT, compute=print)
MONEY = Metric(key="cost", label="Cost", unit=Unit.CURRENCY, compute=print)
MINUTES = Metric(key="wait", label="Wait", unit=Unit.MINUTES, kind=Kind.MEDIAN, compute=print)
DAYS = Metric(key="tnaa", label="TNAA", unit=Unit.DAYS, kind=Kind.MEAN_OF_MEANS, compute=print)
BAND = Metric(key="util", label="Util", unit=Unit.PERCENT, target_band=(80, 85), compute=print)


@pytest.mark.parametrize(
    ("metric", "value", "shown"),
    [
        (PERCENT, "76.25", "76.3 %"),  # half-to-even said 76.2 %
        (PERCENT, "76.35", "76.4 %"),
        (PERCENT, "0.05", "0.1 %"),
        (PERCENT, "-0.04", "0.0 %"),
        (MONEY, "12.125", "$12.13"),  # half-to-even said $12.12
        (MONEY, "1234.5", "$1,234.50"),
        (MINUTES, "18.5", "19 min"),  # half-to-even said 18 min
        (MINUTES, "80", "80 min"),
        (DAYS, "6.45", "6.5 days"),
        (PERCENT, 76.25, "76.3 %"),
        (PERCENT, None, "no data"),
    ],
)
def test_figures_round_half_up(metric: Metric, value: object, shown: str) -> None:
    assert metric.format(value if not isinstance(value, str) else Decimal(value)) == shown


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Both show "7.0 %" against a 7 % target: both are on target, as the tile reads.
        ("7.042", Status.ON_TARGET),
        ("6.977", Status.ON_TARGET),
        ("7.05", Status.WATCH),  # shown 7.1 %
        # alert at 10 %: 9.96 shows "10.0 %", so it is an alert
        ("9.96", Status.ALERT),
        ("9.949", Status.WATCH),
    ],
)
def test_status_compares_the_figure_as_shown(value: str, expected: Status) -> None:
    status = status_of(PERCENT, Decimal(value), target=Decimal(7), alert_threshold=Decimal(10))
    assert status == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("79.96", Status.ON_TARGET), ("85.04", Status.ON_TARGET), ("85.05", Status.WATCH)],
)
def test_a_band_compares_the_figure_as_shown(value: str, expected: Status) -> None:
    status = status_of(
        BAND,
        Decimal(value),
        target=Decimal(80),
        alert_threshold=Decimal(5),
        target_high=Decimal(85),
    )
    assert status == expected


def test_the_change_since_last_week_is_the_difference_of_the_figures_shown() -> None:
    this = Figure(Decimal("76.25"), Decimal(7625), Decimal(10000))
    last = Figure(Decimal("75.149"), Decimal(75149), Decimal(100000))
    # shown 76.3 % and 75.1 %: up 1.2 points (unrounded, 1.101 read "1.1 points")
    assert change_text(PERCENT, this, last) == "up 1.2 points from last week"
    same = Figure(Decimal("76.26"), Decimal(7626), Decimal(10000))
    assert change_text(PERCENT, same, this) == "no change from last week"
