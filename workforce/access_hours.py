"""Published rosters, as compliance's "outside rostered hours" hint reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from .models import Assignment, RosterWeek


def rostered_windows(
    clinic_id: int, user_ids: Sequence[int], day: date
) -> dict[int, list[tuple[datetime, datetime]]]:
    """{user id: shifts touching `day` (the day before too: overnight shifts)} for each of
    `user_ids` on the clinic's published roster of the week holding `day`."""
    week_start = day - timedelta(days=day.weekday())
    published = RosterWeek.objects.filter(
        clinic_id=clinic_id, week_start=week_start, status=RosterWeek.Status.PUBLISHED
    )
    rows = Assignment.objects.filter(week__in=published, staff__user_id__in=list(user_ids))
    windows: dict[int, list[tuple[datetime, datetime]]] = {}
    for user_id, shift_day, start, end in rows.values_list("staff__user_id", "day", "start", "end"):
        spans = windows.setdefault(user_id, [])
        if shift_day in (day, day - timedelta(days=1)):
            spans.append((start, end))
    return windows
