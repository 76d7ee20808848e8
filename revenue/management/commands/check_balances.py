"""Check every claim's balance against its ledger."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from revenue.services import balances


class Command(BaseCommand):
    help = (
        "Recompute every claim's balance (charges - payments - adjustments) and patient "
        "balance from the ledger and compare them with the stored ones; non-zero exit on any "
        "difference."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        checked, mismatches = balances.check()
        for mismatch in mismatches[:50]:
            self.stderr.write(str(mismatch))
        if mismatches:
            raise CommandError(f"{len(mismatches)} of {checked} claims do not match their ledger.")
        self.stdout.write(f"{checked} claims checked: every balance matches its ledger.")
