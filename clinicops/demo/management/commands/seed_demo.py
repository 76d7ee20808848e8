"""`manage.py seed_demo`: a believable, entirely fictitious clinic group for demos and benchmarks.

The shared model's part (clinics, staff, payers, patients) is `clinicops.core.demo`; then each
module's own seed step runs, in dependency order. Every person in it is made up. Running it
again creates nothing new; a larger --patients tops the demo clinics up to that many patients.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from clinicops.core.demo import (
    DEFAULT_PATIENTS,
    DEFAULT_SEED,
    DEMO_LOGINS,
    seed_reference_data,
    top_up_patients,
)
from clinicops.core.models import Patient
from clinicops.core.tests.factories import DEMO_PASSWORD

__all__ = ["APP_SEEDERS", "DEMO_LOGINS", "Command", "run_app_seeders"]

# The modules' own demo seed steps, in dependency order, called by name where they exist.
APP_SEEDERS = (
    "seed_scheduling",
    "seed_supplies",
    "seed_flow",
    "seed_roster",
    "seed_timeclock",
    "seed_revenue",
    "seed_kpis_history",
    "seed_compliance",
    "seed_incidents",
    "seed_access_controls",
)


class Command(BaseCommand):
    help = "Create a fictitious demo clinic group (DEMO DATA): clinics, staff, payers, patients."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--patients",
            type=int,
            default=DEFAULT_PATIENTS,
            help=f"Total demo patients to top up to (default {DEFAULT_PATIENTS}).",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help="Random seed, for repeatable data."
        )
        parser.add_argument(
            "--core-only",
            action="store_true",
            help=f"Skip the apps' demo seeders ({', '.join(APP_SEEDERS)}).",
        )

    def handle(
        self, *args: Any, patients: int, seed: int, core_only: bool = False, **options: Any
    ) -> None:
        if patients < 0:
            raise CommandError("--patients must be zero or more.")
        verbosity = int(options.get("verbosity", 1))
        started = time.monotonic()
        self.stdout.write(self.style.WARNING("DEMO DATA: every person and record is fictitious."))

        with transaction.atomic():
            clinics = seed_reference_data()
        created = top_up_patients(clinics, total=patients, seed=seed, progress=verbosity > 0)

        elapsed = time.monotonic() - started
        demo_count = Patient.objects.filter(clinic__in=clinics.values()).count()
        self.stdout.write(
            f"Created {created} patients ({demo_count} demo patients in all) in {elapsed:.1f} s."
        )
        if not core_only:
            for name in run_app_seeders(seed=seed, verbosity=verbosity, stdout=self.stdout):
                self.stdout.write(f"Ran {name}.")
            self.stdout.write(f"Demo ready in {time.monotonic() - started:.1f} s.")
        self.stdout.write(f"Demo logins (password {DEMO_PASSWORD}):")
        for label, username in DEMO_LOGINS:
            self.stdout.write(f"  {label:<28} {username}")


def run_app_seeders(*, seed: int, verbosity: int, stdout: Any) -> list[str]:
    """Run each app's demo seeder that exists, in dependency order; return those that ran."""
    available = get_commands()
    ran = []
    for name in APP_SEEDERS:
        if name in available:
            call_command(name, seed=seed, verbosity=verbosity, stdout=stdout)
            ran.append(name)
    return ran
