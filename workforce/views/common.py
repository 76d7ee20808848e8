"""What the workforce screens share: the week asked for, and the messages after a write."""

from __future__ import annotations

from datetime import date, timedelta

from django.http import QueryDict

from clinicops.core.models import Clinic

from ..forms import WeekForm


def week_start_from(data: QueryDict, clinic: Clinic, *, default_offset: int = 1) -> date:
    """The Monday of the `week` asked for; by default next week (the one being built)."""
    form = WeekForm(data)
    day = form.cleaned_data.get("week") if form.is_valid() else None
    if day is None:
        day = clinic.today() + timedelta(weeks=default_offset)
    monday: date = day - timedelta(days=day.weekday())
    return monday


def day_from(data: QueryDict, clinic: Clinic) -> date:
    """The `week` asked for as a day (any day of it), or the clinic's today."""
    form = WeekForm(data)
    day = form.cleaned_data.get("week") if form.is_valid() else None
    return day or clinic.today()
