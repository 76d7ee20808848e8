"""When people are meant to be at work, for the "outside rostered hours" hint.

Compliance sits below workforce in the layers, so workforce registers its published rosters
here (workforce/apps.py) rather than compliance importing it. A source answers, for a clinic,
some users and a clinic-local day: {user id: [(start, end), ...]} (UTC instants) for each user
who has a published roster that week at that clinic (an empty list: rostered off that day).
Users it leaves out have no roster that week: their day is judged by the clinic's opening
hours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

Window = tuple[datetime, datetime]
RosterSource = Callable[[int, Sequence[int], date], Mapping[int, list[Window]]]
ROSTER_SOURCES: list[RosterSource] = []


def register(source: RosterSource) -> None:
    if source not in ROSTER_SOURCES:
        ROSTER_SOURCES.append(source)


def rostered_windows(clinic_id: int, user_ids: Sequence[int], day: date) -> dict[int, list[Window]]:
    windows: dict[int, list[Window]] = {}
    for source in ROSTER_SOURCES:
        for user_id, spans in source(clinic_id, user_ids, day).items():
            windows.setdefault(user_id, []).extend(spans)
    return windows
