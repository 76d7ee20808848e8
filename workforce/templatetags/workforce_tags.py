"""Workforce template filters: seconds shown as payroll hours."""

from __future__ import annotations

from django import template

from ..overtime import hours as to_hours

register = template.Library()


@register.filter
def hours(seconds: int | None) -> str:
    """Seconds as hours with two decimals (7.50), the unit timesheets and payroll use."""
    return str(to_hours(int(seconds or 0)))
