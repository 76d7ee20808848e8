"""The one set of date, time and money filters every template uses."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone

from clinicops.core.templatetags.formats import moment

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def render(text: str, **context: object) -> str:
    return Template(text).render(Context(context))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("4.2000"), "$4.20"),
        (Decimal("4.2"), "$4.20"),
        (4, "$4.00"),
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("-4.2"), "-$4.20"),
        (Decimal("0.005"), "$0.01"),
        (None, "—"),
        ("", "—"),
        ("not money", "—"),
    ],
)
def test_money(value: object, shown: str) -> None:
    assert render("{{ v|money }}", v=value) == shown


def test_dates_and_times_need_no_load_and_use_the_current_zone() -> None:
    moment_utc = dt.datetime(2026, 12, 8, 14, 0, tzinfo=dt.UTC)  # 09:00 in New York
    with timezone.override(NEW_YORK):
        shown = render(
            "{{ m|clock }}|{{ m|day }}|{{ m|fullday }}|{{ m|longday }}|{{ m|dayclock }}",
            m=moment_utc,
        )
    assert shown == "09:00|Tue 8 Dec|Tue 8 Dec 2026|Tuesday 8 December 2026|Tue 8 Dec 09:00"
    assert render("{{ d|dob }}", d=dt.date(1986, 11, 15)) == "11/15/1986"
    assert render("{{ t|clock }}", t=dt.time(14, 20)) == "14:20"
    assert render("[{{ v|clock }}{{ v|day }}]", v=None) == "[]"


def test_percent() -> None:
    assert render("{{ v|percent }}", v=Decimal("20.00")) == "20%"
    assert render("{{ v|percent }}", v=Decimal("12.50")) == "12.5%"


def test_moment_in_a_clinics_zone() -> None:
    value = dt.datetime(2026, 12, 10, 19, 20, tzinfo=dt.UTC)
    assert moment(value, NEW_YORK) == "Thu 10 Dec 14:20"


def test_no_template_shows_an_iso_timestamp_or_a_raw_decimal() -> None:
    """Grep the templates: visible dates go through the filters above."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[3]
    offenders = []
    for path in root.rglob("*.html"):
        if ".venv" in path.parts or "node_modules" in path.parts:
            continue
        text = path.read_text()
        for pattern in (r'\|date:"Y-m-d H', r"\|floatformat:2", r"\$\{\{"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(root)}: {pattern}")
    assert offenders == []
