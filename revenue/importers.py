"""CSV imports of billing reference data: procedure codes, and a fee schedule.

Both are all-or-nothing: every line is checked first and the file is refused with every problem
(line number, field, message) when any line fails; nothing is imported then.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.csvimport import ImportRefused as ImportRefused
from clinicops.core.csvimport import ImportSummary as ImportSummary
from clinicops.core.csvimport import LineError as LineError
from clinicops.core.models import Clinic, Payer

from .models import FeeSchedule, FeeScheduleItem, ProcedureCode, procedure_code_problem

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 20_000
MONEY_MAX = Decimal("99999999.99")
TRUE = {"yes", "y", "true", "t", "1"}
FALSE = {"no", "n", "false", "f", "0"}

CODE_COLUMNS = ("code", "description", "active")
CODE_REQUIRED = ("code", "description")
FEE_COLUMNS = ("procedure_code", "modifier", "charge", "expected_allowed")
FEE_REQUIRED = ("procedure_code", "charge")


def _rows(
    data: bytes | str, columns: tuple[str, ...], required: tuple[str, ...]
) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: stripped text}) of each data row; ImportRefused on a bad file."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise ImportRefused(
                [LineError(1, "file", f"the file is larger than {MAX_BYTES // 1048576} MB")]
            )
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportRefused(
                [LineError(1, "file", "the file is not UTF-8 text; save it as CSV UTF-8")]
            ) from None
    else:
        text = data
    if "\x00" in text:
        raise ImportRefused(
            [LineError(1, "file", "the file contains NUL characters; it is not a CSV")]
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportRefused([LineError(1, "file", "the file is empty")]) from None
    except csv.Error as error:
        raise ImportRefused([LineError(1, "file", f"not a CSV: {error}")]) from None
    errors = [
        LineError(1, c, "this required column is missing") for c in required if c not in header
    ]
    errors += [LineError(1, h or "(blank)", "unknown column") for h in header if h not in columns]
    if errors:
        raise ImportRefused(errors)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportRefused(
                    [LineError(line, "file", f"more than {MAX_ROWS} rows; split it")]
                )
            if len(cells) > len(header):
                raise ImportRefused(
                    [LineError(line, "row", f"{len(cells)} cells for {len(header)} columns")]
                )
            values = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}
            rows.append((line, values))
    except csv.Error as error:
        raise ImportRefused([LineError(reader.line_num, "file", f"not a CSV: {error}")]) from None
    return rows


def _money(
    value: str, line: int, name: str, errors: list[LineError], *, required: bool
) -> Decimal | None:
    if not value:
        if required:
            errors.append(LineError(line, name, "enter an amount, e.g. 125.00"))
        return None
    try:
        amount = Decimal(value.replace("$", "").replace(",", ""))
    except InvalidOperation:
        errors.append(
            LineError(line, name, f"{value[:24]!r} is not an amount; use digits and a dot")
        )
        return None
    if (
        not amount.is_finite()
        or amount < 0
        or amount > MONEY_MAX
        or amount != amount.quantize(Decimal("0.01"))
    ):
        errors.append(
            LineError(line, name, "an amount from 0 to 99,999,999.99, at most 2 decimals")
        )
        return None
    if required and amount == 0:
        errors.append(LineError(line, name, "a charge is more than 0"))
        return None
    return amount


def import_procedure_codes(data: bytes | str, *, actor: Any) -> ImportSummary:
    rows = _rows(data, CODE_COLUMNS, CODE_REQUIRED)
    errors: list[LineError] = []
    parsed: dict[str, tuple[str, bool]] = {}
    for line, row in rows:
        code = row.get("code", "").upper()
        problem = procedure_code_problem(code)
        if problem:
            errors.append(LineError(line, "code", f"{code[:24]!r}: {problem}"))
        elif code in parsed:
            errors.append(LineError(line, "code", f"{code} is listed twice"))
        description = row.get("description", "")
        if not description:
            errors.append(LineError(line, "description", "enter the code's description"))
        elif len(description) > 200:
            errors.append(LineError(line, "description", "at most 200 characters"))
        active_text = row.get("active", "").lower() or "yes"
        if active_text not in TRUE | FALSE:
            errors.append(LineError(line, "active", "yes or no"))
        if not problem:
            parsed[code] = (description, active_text in TRUE)
    if not rows:
        errors.append(LineError(2, "file", "the file has a header but no codes"))
    if errors:
        raise ImportRefused(errors)
    summary = ImportSummary()
    with transaction.atomic():
        existing = {
            p.code: p for p in ProcedureCode.objects.select_for_update().filter(code__in=parsed)
        }
        for code, (description, active) in parsed.items():
            found = existing.get(code)
            if found is None:
                ProcedureCode.objects.create(code=code, description=description, is_active=active)
                summary.created.append(code)
            elif (found.description, found.is_active) != (description, active):
                found.description, found.is_active = description, active
                found.save(update_fields=["description", "is_active"])
                summary.updated.append(code)
            else:
                summary.unchanged.append(code)
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            object_type="revenue.procedurecode",
            summary=f"Imported procedure codes: {len(summary.created)} created, "
            f"{len(summary.updated)} updated, {len(summary.unchanged)} unchanged",
        )
    return summary


def import_fee_schedule(
    data: bytes | str,
    *,
    actor: Any,
    clinic: Clinic,
    payer: Payer | None,
    name: str,
    effective_from: date,
    effective_to: date | None,
) -> FeeSchedule:
    """A new fee schedule for the clinic and payer (None: the default one) from a CSV."""
    rows = _rows(data, FEE_COLUMNS, FEE_REQUIRED)
    errors: list[LineError] = []
    known = set(ProcedureCode.objects.filter(is_active=True).values_list("code", flat=True))
    items: dict[tuple[str, str], FeeScheduleItem] = {}
    for line, row in rows:
        code = row.get("procedure_code", "").upper()
        problem = procedure_code_problem(code)
        if problem:
            errors.append(LineError(line, "procedure_code", f"{code[:24]!r}: {problem}"))
        elif code not in known:
            errors.append(
                LineError(
                    line,
                    "procedure_code",
                    f"{code} is not in the procedure code list; import it first",
                )
            )
        modifier = row.get("modifier", "").upper()
        if modifier and not (len(modifier) == 2 and modifier.isascii() and modifier.isalnum()):
            errors.append(
                LineError(line, "modifier", "a modifier is 2 letters or digits, or blank")
            )
        charge = _money(row.get("charge", ""), line, "charge", errors, required=True)
        allowed = _money(
            row.get("expected_allowed", ""), line, "expected_allowed", errors, required=False
        )
        if (code, modifier) in items:
            errors.append(LineError(line, "procedure_code", f"{code} {modifier} is priced twice"))
        elif charge is not None:
            items[(code, modifier)] = FeeScheduleItem(
                procedure_code=code, modifier=modifier, charge=charge, expected_allowed=allowed
            )
    if not rows:
        errors.append(LineError(2, "file", "the file has a header but no fees"))
    if effective_to is not None and effective_to < effective_from:
        errors.append(LineError(0, "effective_to", "the end date is before the start date"))
    clash = FeeSchedule.objects.filter(clinic=clinic, payer=payer, effective_from=effective_from)
    if clash.exists():
        errors.append(
            LineError(
                0,
                "effective_from",
                "a schedule for this payer already starts that day; choose another date",
            )
        )
    if errors:
        raise ImportRefused(errors)
    with transaction.atomic():
        schedule = FeeSchedule.objects.create(
            clinic=clinic,
            payer=payer,
            name=name[:80],
            effective_from=effective_from,
            effective_to=effective_to,
        )
        for item in items.values():
            item.schedule = schedule
        FeeScheduleItem.objects.bulk_create(items.values())
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=schedule,
            clinic=clinic,
            summary=f"Imported fee schedule {schedule.name} ({len(items)} fees)",
        )
    return schedule
