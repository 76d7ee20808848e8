"""Prove that every on-hand quantity equals the sum of its ledger movements."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from clinicops.core.models import Clinic
from supplies.selectors import ledger_mismatches


class Command(BaseCommand):
    help = (
        "Check that on hand equals the ledger sum for every location-item and lot; "
        "name each mismatch and exit non-zero if there is any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", type=int, help="Only this clinic (id).")

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = None
        if options["clinic"] is not None:
            clinic = Clinic.objects.filter(pk=options["clinic"]).first()
            if clinic is None:
                raise CommandError(f"No clinic with id {options['clinic']}.")
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if outermost:
                # One snapshot for every query, so stock moving meanwhile cannot look like drift.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            mismatches = ledger_mismatches(clinic=clinic)
        for mismatch in mismatches:
            self.stderr.write(f"MISMATCH {mismatch}")
        if mismatches:
            raise CommandError(f"{len(mismatches)} stock figure(s) disagree with the ledger.")
        self.stdout.write(
            self.style.SUCCESS("Stock ledger consistent: every on hand equals its ledger sum.")
        )
