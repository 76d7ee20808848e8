"""Export every scrubbed, unsubmitted claim of a clinic as one X12 837P interchange."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.template.defaultfilters import pluralize

from clinicops.core.models import Clinic, Payer
from revenue.models import CheckStatus
from revenue.services import RevenueError, batch_check, export


class Command(BaseCommand):
    help = (
        "Write one 837P interchange of the clinic's scrubbed, unsubmitted claims (one payer, or "
        "all payers with one functional group each) to FILE, mark them submitted and keep the "
        "batch; with nothing to export, say so and write nothing. pyx12 then checks the file "
        "here (exit status 1 on any finding: do not send it), unless --no-validate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", required=True, help="The clinic's short name.")
        parser.add_argument("--payer", help="Only this payer: its X12 payer id (or its row id).")
        parser.add_argument("--out", required=True, help="The file to write.")
        parser.add_argument(
            "--no-validate",
            action="store_true",
            help="Skip pyx12 here (about a minute for 5,000 claims); the batch is then checked "
            "in the background and its page shows the verdict.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["clinic"].strip()
        clinic = Clinic.objects.filter(Q(short_name__iexact=name) | Q(name__iexact=name)).first()
        if clinic is None:
            raise CommandError(f"No clinic is called {name!r} (use its short name).")
        payer = None
        if options["payer"]:
            ident = options["payer"].strip()
            payer = Payer.objects.filter(payer_id__iexact=ident).first()
            if payer is None and ident.isascii() and ident.isdigit() and len(ident) < 12:
                payer = Payer.objects.filter(pk=int(ident)).first()
            if payer is None:
                raise CommandError(f"No payer has the id {ident!r}.")
        out = Path(options["out"])
        if not out.parent.is_dir():
            raise CommandError(f"The folder {out.parent} does not exist.")
        try:
            result = export.export_batch(
                actor="export_837 command",
                clinic=clinic,
                payer=payer,
                queue_check=options["no_validate"],
            )
        except RevenueError as error:
            raise CommandError(f"Nothing was exported: {error.message}") from error
        if result is None:
            self.stdout.write(
                f"Nothing to export: {clinic} has no scrubbed, unsubmitted claim"
                f"{f' for {payer}' if payer else ''}. No file was written."
            )
            return
        out.write_bytes(bytes(result.batch.content))
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {out}: {result.claims} claim{pluralize(result.claims)}, "
                f"{result.lines} line{pluralize(result.lines)}, interchange "
                f"{result.batch.interchange_control_number:09d} (batch {result.batch.pk})."
            )
        )
        if options["no_validate"]:
            self.stdout.write(
                "pyx12: not run (--no-validate); the batch is checked in the background."
            )
            return
        checked = batch_check.check_batch(result.batch.pk)
        if checked is None:
            raise CommandError(f"Batch {result.batch.pk} is gone; {out} was not checked.")
        if checked.check_status == CheckStatus.VALID:
            self.stdout.write(self.style.SUCCESS("pyx12: 0 findings"))
            return
        for finding in checked.findings[:10]:
            where = " ".join(filter(None, [finding["segment"], finding["element"]])) or "file"
            self.stderr.write(f"  {where}: {finding['message']}")
        raise CommandError(
            f"pyx12: {checked.finding_count} findings in batch {checked.pk}: do not send {out}. "
            "The batch is kept and flagged."
        )
