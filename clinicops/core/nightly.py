"""When a clinic's night has come: the one DST-proof rule every hourly dispatcher uses.

Beat fires a dispatcher every hour; a clinic is due when its local `hour` o'clock fell in the
clock hour that ends at the tick (the tick truncated to the hour). Hour-aligned windows tile
time without gaps or overlaps, so each clinic is due exactly once per local day however late
in the hour beat fires, on the night the clocks skip the hour (02:00 that does not exist
resolves to the instant just after the gap, 03:00 EDT on 2026-03-08 in New York), on the night
they repeat it (02:00 EST comes once), and in zones with half-hour offsets. A plain
"local hour == 2" test skips the spring-forward night entirely.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from clinicops.core.models import Clinic


def local_run_instant(clinic: Clinic, local_day: date, hour: int) -> datetime:
    """The UTC instant of `hour` o'clock on the clinic's `local_day` (fold 0: a skipped wall
    time resolves to just after the gap)."""
    return datetime.combine(local_day, time(hour), tzinfo=clinic.tz).astimezone(UTC)


def clinics_due(now: datetime, hour: int) -> list[tuple[int, date]]:
    """(clinic id, yesterday in that clinic) for each active clinic whose local `hour` o'clock
    fell in the clock hour ending at `now` (truncated to the hour)."""
    window_end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    window_start = window_end - timedelta(hours=1)
    due = []
    for clinic in Clinic.objects.filter(is_active=True).order_by("pk"):
        local_day = timezone.localtime(window_end, timezone=clinic.tz).date()
        # The run instant of the local date at the window's end, or of the day before it (a
        # zone where the window straddles local midnight).
        for day in (local_day, local_day - timedelta(days=1)):
            if window_start < local_run_instant(clinic, day, hour) <= window_end:
                due.append((clinic.pk, day - timedelta(days=1)))
                break
    return due
