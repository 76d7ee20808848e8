"""Roll up a range of past days for every clinic (or one), with a progress bar; resumable.

    manage.py backfill_kpis --from 2025-01-01 --to 2025-12-31 [--clinic ID] [--force]

Resumable: a clinic-day is skipped when it is already current (`services.stale_days`: every
registered metric has a row computed after the local day ended, and no write to the metrics'
source tables has touched the day since: the change triggers' marks, `changes.py`). Each
chunk of up to --chunk-days consecutive days commits on its own, so an interrupted backfill,
run again with the same arguments, carries on where it stopped. --force recomputes every day,
point-in-time measurements (TNAA) included.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from clinicops.core.models import Clinic
from clinicops.kpis import registry, services


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"“{value}” is not a date; write it as YYYY-MM-DD.") from None


def chunks(days: list[date], size: int) -> list[list[date]]:
    """`days` cut into runs of at most `size` consecutive days."""
    result: list[list[date]] = []
    for first, last in registry.consecutive_runs(days):
        day = first
        while day <= last:
            chunk_end = min(last, day + timedelta(days=size - 1))
            result.append([day + timedelta(days=i) for i in range((chunk_end - day).days + 1)])
            day = chunk_end + timedelta(days=1)
    return result


class Command(BaseCommand):
    help = "Recompute the KPI rollup for a range of days (resumable; see --force)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD")
        parser.add_argument("--clinic", type=int, help="only this clinic (its id)")
        parser.add_argument(
            "--force", action="store_true", help="recompute days that are already current"
        )
        parser.add_argument(
            "--chunk-days",
            type=int,
            default=366,
            help="consecutive days per transaction (metrics with a range function compute "
            "them in one query); default 366, a year",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = iso_date(options["start"]), iso_date(options["end"])
        if options["chunk_days"] < 1:
            raise CommandError("--chunk-days must be at least 1.")
        if end < start:
            raise CommandError(f"--to ({end}) is before --from ({start}).")
        # No clinic anywhere is past UTC+14, so no local day after tomorrow (UTC) has begun.
        latest = timezone.now().date() + timedelta(days=1)
        if end > latest:
            raise CommandError(f"--to ({end}) is in the future; a day is rolled up once it began.")
        if not registry.all_metrics():
            raise CommandError("No metrics are registered: there is nothing to roll up.")
        clinics = list(Clinic.objects.filter(is_active=True).order_by("pk"))
        if options["clinic"] is not None:
            clinics = [c for c in clinics if c.pk == options["clinic"]]
            if not clinics:
                raise CommandError(f"There is no active clinic with id {options['clinic']}.")

        force = options["force"]
        span = (end - start).days + 1
        work: list[tuple[Clinic, list[date]]] = []
        for clinic in clinics:
            if force:
                days = [start + timedelta(days=i) for i in range(span)]
            else:
                days = services.stale_days(clinic=clinic, start=start, end=end)
            work.append((clinic, days))
        total = sum(len(days) for _, days in work)
        skipped = span * len(clinics) - total

        began = time.perf_counter()
        with tqdm(
            total=total,
            unit="clinic-day",
            file=self.stderr,
            disable=options["verbosity"] < 1,
        ) as bar:
            for clinic, days in work:
                bar.set_description(clinic.short_name or clinic.name)
                for chunk in chunks(days, options["chunk_days"]):
                    services.rollup_clinic_days(clinic=clinic, days=chunk, force=force)
                    bar.update(len(chunk))
        elapsed = time.perf_counter() - began
        self.stdout.write(
            f"Rolled up {total} clinic-day(s) of {len(registry.all_metrics())} metric(s) "
            f"in {elapsed:.1f} s; {skipped} already current, skipped."
        )
