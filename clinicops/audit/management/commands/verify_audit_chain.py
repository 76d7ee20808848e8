"""Walk the audit chain and say whether it is intact; exit non-zero at the first break.

It checks and keeps the same anchor as the hourly task (`services.check_audit_chain`), so a
removed tail fails here too; `--witness` also checks every head published to the witness file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinicops.audit import sealer, services


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; exits non-zero and names the first broken event."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=10_000,
            help="Events read per query (default 10000).",
        )
        parser.add_argument(
            "--no-anchor",
            action="store_true",
            help="Skip the check against the head verified earlier (kept in the cache), and "
            "do not move it (after a legitimate restore from backup).",
        )
        parser.add_argument(
            "--witness",
            nargs="?",
            const="",
            default=None,
            metavar="PATH",
            help="Also check the heads published to the witness file (default: "
            "settings.AUDIT_WITNESS_PATH).",
        )
        parser.add_argument("--seal", action="store_true", help="Seal the pending events first.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["seal"]:
            sealed = sealer.seal_pending()
            self.stdout.write(f"Sealed {sealed.sealed} pending event(s).")
        checkpoints, problems = self._witness(options["witness"])
        started = time.monotonic()
        try:
            result = services.check_audit_chain(
                use_anchor=not options["no_anchor"], checkpoints=checkpoints, notify=False
            )
        except Exception as exc:
            if "cache" not in type(exc).__module__ and "redis" not in type(exc).__module__:
                raise
            self.stderr.write(f"Could not use the verified head in the cache ({exc}); ")
            self.stderr.write("checking without it (a removed tail would go unnoticed).")
            result = services.check_audit_chain(
                use_anchor=False, checkpoints=checkpoints, notify=False
            )
        elapsed = time.monotonic() - started
        window = services.unsealed_note(result)
        if result.broken is not None:
            raise CommandError(
                f"Audit chain BROKEN at {result.broken.describe()}. "
                f"{result.checked} event(s) before it are intact; {window}."
            )
        if problems:
            raise CommandError("Audit witness BROKEN: " + "; ".join(problems) + ".")
        head = f", head #{result.head.seq}" if result.head else ""
        witnessed = f", {len(checkpoints)} witness head(s) match" if checkpoints else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Checked {result.checked} audit events in {elapsed:.1f}s: the chain is intact"
                f"{head}{witnessed}; {window}."
            )
        )
        if result.unsealed_lag_seconds() > services.seal_lag_limit():
            raise CommandError(
                f"The audit sealer is behind: {window} (limit "
                f"{services.seal_lag_limit():.0f} s). Is the Celery beat and worker running?"
            )

    def _witness(self, option: str | None) -> tuple[tuple[Any, ...], tuple[str, ...]]:
        if option is None:
            return (), ()
        path = Path(option) if option else services.witness_path()
        if path is None or not path.exists():
            raise CommandError(f"No witness file at {path} (settings.AUDIT_WITNESS_PATH).")
        reading = services.read_witness(path)
        if not reading.checkpoints and not reading.problems:
            raise CommandError(f"The witness file {path} holds no published head.")
        return reading.checkpoints, reading.problems
