"""Post an X12 835 remittance file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from clinicops.core.models import Clinic
from revenue.services import remittances
from revenue.x12.reader_835 import RemitRefused


class Command(BaseCommand):
    help = (
        "Validate (pyx12), balance and post one 835 file: prints claims and lines posted, "
        "denials opened, unmatched claims and lines, and amounts; exits non-zero with the reason "
        "when the file is refused (then nothing is posted)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The 835 file.")
        parser.add_argument(
            "--clinic", help="The clinic's short name (default: the one whose NPI the file pays)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = None
        if options["clinic"]:
            name = options["clinic"].strip()
            clinic = Clinic.objects.filter(
                Q(short_name__iexact=name) | Q(name__iexact=name)
            ).first()
            if clinic is None:
                raise CommandError(f"No clinic is called {name!r} (use its short name).")
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        try:
            result = remittances.import_835(
                actor=None, content=content, clinic=clinic, filename=path.name
            )
        except RemitRefused as refused:
            raise CommandError(f"Refused, nothing posted: {refused.message}") from None
        if result.duplicate:
            raise CommandError(result.summary())
        self.stdout.write(result.summary())
        for note in result.notes:
            self.stdout.write(f"Note: {note}")
