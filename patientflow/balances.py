"""The patient's open balance for the front desk (check-in and checkout), display only.

Billing (revenue) sits above patient flow in the import layers, so patient flow cannot ask it
directly: revenue registers its reader here when it loads (`RevenueConfig.ready`). Without it
(revenue not installed) there is no balance to show.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

_reader: Callable[[int], Decimal] | None = None


def register(reader: Callable[[int], Decimal]) -> None:
    global _reader  # one reader, set once at startup
    _reader = reader


def patient_balance(patient_id: int) -> Decimal | None:
    """What the patient owes on their claims; None when no billing module answers."""
    if _reader is None:
        return None
    return _reader(patient_id)
