"""Seal the pending audit events now (the Celery beat does this every few seconds)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from clinicops.audit import sealer


class Command(BaseCommand):
    help = "Chain the committed, unsealed audit events (one sealer at a time)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = sealer.seal_pending()
        if result.busy:
            self.stdout.write("Another sealer is running; it will seal what is pending.")
        self.stdout.write(f"Sealed {result.sealed} event(s); the chain head is #{result.head_seq}.")
