"""`manage.py autofill_roster --clinic <short name> --week YYYY-MM-DD`: auto-fill one week."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from clinicops.core.models import Clinic
from workforce.services import autofill_runs
from workforce.services.weeks import RosterError, week_for


class Command(BaseCommand):
    help = "Auto-fill a clinic's roster week; print coverage filled, violations and objective."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", required=True, help="The clinic's short name (or name).")
        parser.add_argument("--week", required=True, help="A day of the week, YYYY-MM-DD.")
        parser.add_argument("--time-limit", type=int, default=10, help="Seconds (default 10).")
        parser.add_argument("--apply", action="store_true", help="Store the proposal.")

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = Clinic.objects.filter(
            Q(short_name__iexact=options["clinic"]) | Q(name__iexact=options["clinic"])
        ).first()
        if clinic is None:
            raise CommandError(f"No clinic is called {options['clinic']!r}.")
        try:
            day = date.fromisoformat(options["week"])
        except ValueError as exc:
            raise CommandError("--week is a date, YYYY-MM-DD.") from exc
        week = week_for(clinic, day)
        try:
            run = autofill_runs.start(actor=None, week=week, time_limit=options["time_limit"])
        except RosterError as exc:
            raise CommandError(str(exc)) from exc
        run = autofill_runs.execute(run.pk)
        if run.status != run.Status.DONE:
            raise CommandError(run.error or "The auto-fill failed.")
        r = run.result
        filled, total = r["filled_after"]
        before, _ = r["filled_before"]
        pct = f"{100 * filled / total:.1f} %" if total else "n/a (no demand)"
        self.stdout.write(f"{clinic} week of {week.week_start}")
        self.stdout.write(
            f"coverage filled: {filled}/{total} required slots ({pct}); before: {before}/{total}"
        )
        self.stdout.write(f"rule violations: {len(r['violations'])}")
        for message in r["violations"]:
            self.stdout.write(f"  - {message}")
        objective = ", ".join(f"{k} {v}" for k, v in r["objective"])
        self.stdout.write(f"objective: {objective}")
        self.stdout.write(f"solver: {r['status']} ({r['gap']}) in {r['seconds']} s")
        self.stdout.write(f"proposal: {len(r['add'])} to add, {len(r['remove'])} to remove")
        for message in r["uncovered"][:20]:
            self.stdout.write(f"  short: {message}")
        if options["apply"]:
            added, removed = autofill_runs.apply(actor=None, run=run)
            self.stdout.write(f"applied: {added} added, {removed} removed")
