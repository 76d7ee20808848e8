"""The denial Pareto's geometry and its words: amounts as stored, to the cent when not whole."""

from __future__ import annotations

from decimal import Decimal

from revenue.charts import pareto_chart
from revenue.selectors import ParetoBar


def bar(key: str, amount: str, cumulative: str) -> ParetoBar:
    return ParetoBar(
        key=key,
        label=key.title(),
        amount=Decimal(amount),
        count=1,
        cumulative_pct=Decimal(cumulative),
    )


def test_axis_ticks_and_labels_keep_the_cents_they_have() -> None:
    chart = pareto_chart(
        [bar("eligibility", "15.00", "75.0"), bar("coding", "5.00", "100.0")],
        title="Denials",
        hrefs=["/a", "/b"],
    )

    # half of $15.00 is $7.50 (it used to read "$8"); whole amounts stay whole
    assert [text for _, text in chart.ticks] == ["$0", "$7.50", "$15"]
    assert [b.amount_text for b in chart.bars] == ["$15", "$5"]
    assert chart.title == "Denials: $20 in all"


def test_amounts_with_cents_are_shown_to_the_cent_and_rounded_half_up() -> None:
    chart = pareto_chart([bar("payer", "1234.565", "100.0")], title="By payer", hrefs=["/p"])

    assert chart.bars[0].amount_text == "$1,234.57"
    assert "Payer: $1,234.57 (100.0 % cumulative)" in chart.description
    assert chart.bars[0].height > 0
    # the top of the axis is the tallest bar
    assert chart.ticks[-1][1] == "$1,234.57"
    assert chart.ticks[-1][0] == chart.bars[0].y
