"""CSV import of the item master: all-or-nothing, idempotent, errors that name line and field.

The file is the master for the items it lists: a second import of the same file changes
nothing; items it does not list are left alone (deactivate them with active = no).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models.functions import Upper

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.csvimport import ImportRefused as ImportRefused
from clinicops.core.csvimport import ImportSummary as ImportSummary
from clinicops.core.csvimport import LineError as LineError

from .models import ItemBarcode, LotStock, Supplier, SupplyItem

COLUMNS = (
    "sku",
    "name",
    "category",
    "unit_of_use",
    "pack_size",
    "unit_cost",
    "supplier",
    "barcodes",
    "critical",
    "active",
    "lot_tracked",
    "max_use_quantity",
)
REQUIRED_COLUMNS = ("sku", "name", "pack_size", "unit_cost")
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_INT = 1_000_000
# pg_advisory_xact_lock key: two imports at once would race on barcodes and SKUs.
IMPORT_LOCK_KEY = 0x5355505049  # "SUPPI"

TRUE = {"yes", "y", "true", "t", "1"}
FALSE = {"no", "n", "false", "f", "0"}

# The fields of SupplyItem a row sets (barcodes are compared separately).
ITEM_FIELDS = (
    "name",
    "category",
    "unit_of_use",
    "pack_size",
    "unit_cost",
    "supplier_id",
    "is_critical",
    "is_active",
    "is_lot_tracked",
    "max_use_quantity",
)


def template_csv() -> str:
    """The downloadable template: the header and two example rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow(
        [
            "G44",
            "Gauze sponge 4x4 in, sterile",
            "Wound care",
            "each",
            "100",
            "0.1200",
            "",
            "00812345678905",
            "no",
            "yes",
            "no",
            "",
        ]
    )
    writer.writerow(
        [
            "SF10",
            "Saline flush 10 mL",
            "Flushes",
            "each",
            "30",
            "0.4500",
            "",
            "00812345678912;00812345678929",
            "yes",
            "yes",
            "yes",
            "20",
        ]
    )
    return out.getvalue()


# The refusal of an item file (the shared import error, under the name callers know).
ItemImportError = ImportRefused


@dataclass
class _Row:
    line: int
    sku: str
    values: dict[str, Any]
    barcodes: list[str]


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    if len(data) > MAX_BYTES:
        raise ItemImportError(
            [LineError(1, "file", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ItemImportError(
            [
                LineError(
                    1, "file", "the file is not UTF-8 text; save it as “CSV UTF-8” and try again"
                )
            ]
        ) from None


def _shown(value: str, limit: int = 24) -> str:
    """A cell's value as quoted back in a message: a long one is cut short."""
    return value if len(value) <= limit else value[:limit] + "…"


def _oversized_cell(text: str, first_line: int) -> int | None:
    """The 0-based column of the cell longer than the csv module's field limit in the record
    starting at line `first_line` (1-based), or None. Only called after the csv module refused
    that record, which does not say which cell it was; this follows the same quoting rules
    (comma, double quote, "" inside quotes) to find it."""
    limit = csv.field_size_limit()
    lines = io.StringIO(text, newline="").readlines()
    record = "".join(lines[first_line - 1 :])
    column = length = 0
    quoted = False
    index = 0
    while index < len(record):
        char = record[index]
        if quoted:
            if char == '"':
                if record[index + 1 : index + 2] == '"':
                    index += 1
                    length += 1
                else:
                    quoted = False
            else:
                length += 1
        elif char == ",":
            column += 1
            length = 0
        elif char == '"' and length == 0:
            quoted = True
        elif char in "\r\n":
            return None
        else:
            length += 1
        if length > limit:
            return column
        index += 1
    return None


def _text(
    raw: str,
    *,
    name: str,
    line: int,
    errors: list[LineError],
    max_length: int,
    required: bool = False,
) -> str:
    value = raw.strip()
    if required and not value:
        errors.append(LineError(line, name, "is required"))
    elif not value.isprintable():
        errors.append(
            LineError(line, name, "contains a control character (a tab, a line break or worse)")
        )
    elif len(value) > max_length:
        errors.append(LineError(line, name, f"is longer than {max_length} characters"))
    return value


def _int(
    raw: str, *, name: str, line: int, errors: list[LineError], minimum: int, required: bool
) -> int | None:
    value = raw.strip()
    if not value:
        if required:
            errors.append(LineError(line, name, "is required"))
        return None
    try:
        number = int(value)
    except ValueError:
        errors.append(LineError(line, name, f"“{_shown(value)}” is not a whole number"))
        return None
    if number < minimum or number > MAX_INT:
        errors.append(LineError(line, name, f"must be between {minimum} and {MAX_INT}"))
        return None
    return number


def _money(raw: str, *, line: int, errors: list[LineError]) -> Decimal | None:
    value = raw.strip().removeprefix("$")
    if not value:
        errors.append(LineError(line, "unit_cost", "is required"))
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        errors.append(
            LineError(line, "unit_cost", f"“{_shown(raw.strip())}” is not an amount like 12.50")
        )
        return None
    if not amount.is_finite():
        # Decimal() accepts NaN, sNaN, Infinity and inf: none of them is a price.
        errors.append(LineError(line, "unit_cost", f"“{_shown(raw.strip())}” is not a number"))
        return None
    if amount < 0:
        errors.append(LineError(line, "unit_cost", "must be zero or more"))
        return None
    if amount.as_tuple().exponent < -4:  # type: ignore[operator]
        errors.append(LineError(line, "unit_cost", "has more than 4 decimal places"))
        return None
    if amount >= Decimal("100000000"):
        errors.append(LineError(line, "unit_cost", "is too large (at most 99999999.9999)"))
        return None
    return amount.quantize(Decimal("0.0001"))


def _flag(raw: str, *, name: str, line: int, errors: list[LineError], default: bool) -> bool:
    value = raw.strip().lower()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    errors.append(LineError(line, name, f"“{_shown(raw.strip())}” is not yes or no"))
    return default


def parse(text: str) -> tuple[list[_Row], list[LineError]]:
    """Rows and errors of an item-master CSV, without touching the database."""
    errors: list[LineError] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        return [], [LineError(1, "file", f"unreadable CSV ({error})")]
    if not header or not any(h.strip() for h in header):
        return [], [LineError(1, "file", "the file is empty; start from the template")]
    names = [h.strip().lower().replace(" ", "_") for h in header]
    for name in names:
        if name not in COLUMNS:
            errors.append(LineError(1, name or "(blank)", "is not a column of the template"))
    for name in REQUIRED_COLUMNS:
        if name not in names:
            errors.append(LineError(1, name, "column is missing"))
    duplicates = {n for n in names if names.count(n) > 1}
    for name in sorted(duplicates):
        errors.append(LineError(1, name, "column appears more than once"))
    if errors:
        return [], errors

    rows: list[_Row] = []
    first_line_of_sku: dict[str, int] = {}
    first_line_of_barcode: dict[str, int] = {}
    # The last line of the last record read: the next record starts on the line after it.
    end_of_record = reader.line_num
    try:
        for record in reader:
            line = end_of_record = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                errors.append(
                    LineError(line, "file", f"more than {MAX_ROWS} items; split the file")
                )
                break
            if len(record) > len(names):
                errors.append(
                    LineError(
                        line, "file", f"has {len(record)} cells but the header has {len(names)}"
                    )
                )
                continue
            cells = dict(zip(names, record + [""] * (len(names) - len(record)), strict=True))
            get = cells.get
            sku = _text(
                get("sku", ""), name="sku", line=line, errors=errors, max_length=40, required=True
            )
            if sku:
                key = sku.upper()
                if key in first_line_of_sku:
                    errors.append(
                        LineError(line, "sku", f"{sku} is already on line {first_line_of_sku[key]}")
                    )
                first_line_of_sku.setdefault(key, line)
            barcodes = []
            for code in (get("barcodes", "") or "").replace("|", ";").split(";"):
                code = code.strip()
                if not code:
                    continue
                if not code.isprintable():
                    errors.append(LineError(line, "barcodes", "contains a control character"))
                elif len(code) > 64:
                    errors.append(
                        LineError(line, "barcodes", f"{code[:20]}… is longer than 64 characters")
                    )
                elif code in first_line_of_barcode:
                    errors.append(
                        LineError(
                            line,
                            "barcodes",
                            f"{code} is already on line {first_line_of_barcode[code]}",
                        )
                    )
                else:
                    first_line_of_barcode[code] = line
                    barcodes.append(code)
            values = {
                "name": _text(
                    get("name", ""),
                    name="name",
                    line=line,
                    errors=errors,
                    max_length=120,
                    required=True,
                ),
                "category": _text(
                    get("category", ""), name="category", line=line, errors=errors, max_length=60
                ),
                "unit_of_use": _text(
                    get("unit_of_use", ""),
                    name="unit_of_use",
                    line=line,
                    errors=errors,
                    max_length=30,
                )
                or "each",
                "pack_size": _int(
                    get("pack_size", ""),
                    name="pack_size",
                    line=line,
                    errors=errors,
                    minimum=1,
                    required=True,
                ),
                "unit_cost": _money(get("unit_cost", ""), line=line, errors=errors),
                "supplier": _text(
                    get("supplier", ""), name="supplier", line=line, errors=errors, max_length=120
                ),
                "is_critical": _flag(
                    get("critical", ""), name="critical", line=line, errors=errors, default=False
                ),
                "is_active": _flag(
                    get("active", ""), name="active", line=line, errors=errors, default=True
                ),
                "is_lot_tracked": _flag(
                    get("lot_tracked", ""),
                    name="lot_tracked",
                    line=line,
                    errors=errors,
                    default=False,
                ),
                "max_use_quantity": _int(
                    get("max_use_quantity", ""),
                    name="max_use_quantity",
                    line=line,
                    errors=errors,
                    minimum=1,
                    required=False,
                ),
            }
            rows.append(_Row(line=line, sku=sku, values=values, barcodes=sorted(barcodes)))
    except csv.Error as error:
        start = end_of_record + 1
        column = _oversized_cell(text, start) if "field limit" in str(error) else None
        if column is None:
            errors.append(LineError(start, "file", f"unreadable CSV ({error})"))
        else:
            errors.append(
                LineError(
                    start,
                    names[column] if column < len(names) else f"column {column + 1}",
                    f"the cell is longer than {csv.field_size_limit()} characters",
                )
            )
    if not rows and not errors:
        errors.append(LineError(2, "file", "the file has a header but no items"))
    return rows, errors


def import_items(data: bytes | str, *, actor: Any) -> ImportSummary:
    """Import an item-master CSV: every row or none; raises ItemImportError naming each problem."""
    rows, errors = parse(_decode(data))
    if errors:
        raise ItemImportError(errors)
    summary = ImportSummary()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])
        suppliers = {s.name.lower(): s.pk for s in Supplier.objects.all()}
        # SKUs match whatever their case; an item keeps the SKU as first written.
        existing = {
            item.sku.upper(): item
            for item in SupplyItem.objects.annotate(key=Upper("sku")).filter(
                key__in=[r.sku.upper() for r in rows]
            )
        }
        owners = dict(
            ItemBarcode.objects.filter(code__in=[c for r in rows for c in r.barcodes]).values_list(
                "code", "item__sku"
            )
        )
        current_codes: dict[int, list[str]] = {}
        for code, item_id in ItemBarcode.objects.filter(item__in=existing.values()).values_list(
            "code", "item_id"
        ):
            current_codes.setdefault(item_id, []).append(code)
        lotted = set(
            LotStock.objects.filter(on_hand__gt=0, lot__item__in=existing.values()).values_list(
                "lot__item_id", flat=True
            )
        )
        for row in rows:
            supplier_name = row.values.pop("supplier")
            row.values["supplier_id"] = None
            if supplier_name:
                supplier_id = suppliers.get(supplier_name.lower())
                if supplier_id is None:
                    errors.append(
                        LineError(
                            row.line,
                            "supplier",
                            f"no supplier named “{supplier_name}”; add it in the admin first",
                        )
                    )
                row.values["supplier_id"] = supplier_id
            item = existing.get(row.sku.upper())
            for code in row.barcodes:
                owner = owners.get(code)
                if owner is not None and owner.upper() != row.sku.upper():
                    errors.append(
                        LineError(row.line, "barcodes", f"{code} already belongs to item {owner}")
                    )
            if (
                item is not None
                and item.is_lot_tracked
                and not row.values["is_lot_tracked"]
                and item.pk in lotted
            ):
                errors.append(
                    LineError(
                        row.line,
                        "lot_tracked",
                        f"{row.sku} has stock held in lots; use it up or count it out first",
                    )
                )
        if errors:
            raise ItemImportError(errors)

        changes: dict[str, Any] = {}
        for row in rows:
            item = existing.get(row.sku.upper())
            if item is None:
                item = SupplyItem.objects.create(sku=row.sku, **row.values)
                ItemBarcode.objects.bulk_create(
                    ItemBarcode(item=item, code=code) for code in row.barcodes
                )
                summary.created.append(row.sku)
                continue
            before = {name: getattr(item, name) for name in ITEM_FIELDS}
            diff = {
                name: [before[name], value]
                for name, value in row.values.items()
                if before[name] != value
            }
            old_codes = sorted(current_codes.get(item.pk, []))
            if old_codes != row.barcodes:
                diff["barcodes"] = [old_codes, row.barcodes]
                ItemBarcode.objects.filter(item=item).exclude(code__in=row.barcodes).delete()
                ItemBarcode.objects.bulk_create(
                    ItemBarcode(item=item, code=code)
                    for code in row.barcodes
                    if code not in old_codes
                )
            if not diff:
                summary.unchanged.append(item.sku)
                continue
            for name, value in row.values.items():
                setattr(item, name, value)
            item.save(update_fields=list(row.values))
            summary.updated.append(item.sku)
            changes[item.sku] = diff
        if summary.changed:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.UPDATE,
                object_type="supplies.supplyitem",
                summary=(
                    f"Imported the item master: {len(summary.created)} created, "
                    f"{len(summary.updated)} updated, {len(summary.unchanged)} unchanged"
                ),
                changes={"created": summary.created, "updated": changes},
            )
    return summary
