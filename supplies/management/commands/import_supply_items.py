"""Import the item master from a CSV file (all-or-nothing; the same file twice changes nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from supplies.importers import ItemImportError, import_items, template_csv


class Command(BaseCommand):
    help = "Import supply items from CSV (see --template for the columns)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="CSV file to import")
        parser.add_argument("--template", action="store_true", help="print the CSV template")

    def handle(self, *args: Any, path: str | None, template: bool, **options: Any) -> None:
        if template:
            self.stdout.write(template_csv(), ending="")
            return
        if not path:
            raise CommandError("Give the CSV file to import, or --template.")
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"{path}: no such file.")
        try:
            summary = import_items(file.read_bytes(), actor="import_supply_items")
        except ItemImportError as refused:
            for error in refused.errors:
                self.stderr.write(str(error))
            raise CommandError(f"Nothing imported: {len(refused.errors)} problem(s).") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(summary.created)} created, {len(summary.updated)} updated, "
                f"{len(summary.unchanged)} unchanged."
            )
        )
