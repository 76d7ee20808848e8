"""Time helpers for patient-flow tests, the browser test and the benchmark."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def midday_zone(now: dt.datetime | None = None) -> str:
    """An Etc/GMT zone where it is now 12:xx (Etc/GMT-3 is three hours ahead of UTC)."""
    now = now or timezone.now()
    offset = 12 - now.astimezone(dt.UTC).hour  # -11 .. +12
    return f"Etc/GMT{-offset:+d}"
