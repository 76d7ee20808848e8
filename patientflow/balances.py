"""The patient's open balance for the front desk (check-in and checkout), display only.

Billing (revenue) sits above patient flow in the import layers, so patient flow cannot ask it
directly: revenue registers its reader here when it loads (`RevenueConfig.ready`), and the same
figure as an expression a query of ours can annotate (the check-in page reads it with the
appointment, one round trip less). Without it (revenue not installed) there is no balance to
show.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.db.models import Expression

_reader: Callable[[int], Decimal] | None = None
_expression: Callable[[str], Expression] | None = None


def register(
    reader: Callable[[int], Decimal], *, expression: Callable[[str], Expression] | None = None
) -> None:
    global _reader, _expression  # one reader, set once at startup
    _reader = reader
    _expression = expression


def patient_balance(patient_id: int) -> Decimal | None:
    """What the patient owes on their claims; None when no billing module answers."""
    if _reader is None:
        return None
    return _reader(patient_id)


def patient_balance_expression(patient_field: str) -> Expression | None:
    """`patient_balance` of the patient `patient_field` names, for a query to annotate; None
    when no billing module answers (or it gives no expression: then ask `patient_balance`)."""
    if _expression is None:
        return None
    return _expression(patient_field)
