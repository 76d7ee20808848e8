"""One way to show dates, times and money in every page: `{{ value|day }}`, `|money` ...

Loaded into every template as a builtin (settings.TEMPLATES), so no `{% load %}` is needed.
Aware datetimes are shown in the current time zone, which CurrentClinicMiddleware sets to the
clinic's own: "09:00" means 09:00 at the clinic. Machine values (an `<input>`'s value, a
`<time datetime>`, a query string) keep their ISO forms and do not use these filters.

    |clock     09:00                      a time of day (24-hour, as the clinic's wall clock)
    |day       Tue 8 Dec                  a day this year, short
    |fullday   Tue 8 Dec 2026             a day, short, with the year
    |longday   Tuesday 8 December 2026    a page title's day
    |dayclock  Tue 8 Dec 09:00            a moment (an event, a booking)
    |dob       11/15/1986                 a date of birth, as the front desk types it
    |money     $4.20, -$4.20              dollars and cents; blank input shows "—"
    |percent   20%, 12.5%                 a share, without trailing zeros
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()

EMPTY = "—"
CLOCK = "H:i"
DAY = "D j M"
FULLDAY = "D j M Y"
LONGDAY = "l j F Y"
DOB = "m/d/Y"


def _local(value: Any) -> Any:
    if isinstance(value, datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def _fmt(value: Any, pattern: str) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, (date, time)):
        return str(value)
    return date_format(_local(value), pattern)


@register.filter
def clock(value: datetime | time | None) -> str:
    return _fmt(value, CLOCK)


@register.filter
def day(value: date | None) -> str:
    return _fmt(value, DAY)


@register.filter
def fullday(value: date | None) -> str:
    return _fmt(value, FULLDAY)


@register.filter
def longday(value: date | None) -> str:
    return _fmt(value, LONGDAY)


@register.filter
def dayclock(value: datetime | None) -> str:
    return _fmt(value, f"{DAY} {CLOCK}")


@register.filter
def dob(value: date | None) -> str:
    return _fmt(value, DOB)


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@register.filter
def money(value: Any) -> str:
    """$4.20 (never 4.2000); a negative amount -$4.20; thousands separated: $1,234.50."""
    amount = _decimal(value)
    if amount is None:
        return EMPTY
    cents = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


@register.filter
def percent(value: Any) -> str:
    share = _decimal(value)
    if share is None:
        return EMPTY
    text = f"{share.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}".rstrip("0").rstrip(".")
    return f"{text}%"


def moment(value: datetime, tz: Any = None) -> str:
    """`|dayclock` for messages written in Python ("moved from ... to ..."), in `tz` (a
    clinic's zone) when given, else the current time zone."""
    if tz is not None and timezone.is_aware(value):
        return date_format(value.astimezone(tz), f"{DAY} {CLOCK}")
    return dayclock(value)
