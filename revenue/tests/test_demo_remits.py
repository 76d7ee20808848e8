"""The demo 835s balance whatever the seeded charges are (a half-cent once broke seed_demo)."""

from __future__ import annotations

import random
import types
from decimal import Decimal

import pytest

from revenue import demo_remits


def _claim(*charges: str) -> types.SimpleNamespace:
    lines = [
        types.SimpleNamespace(
            procedure_code="99214", charge=Decimal(c), line_id=f"L{k}", service_date=None
        )
        for k, c in enumerate(charges)
    ]
    return types.SimpleNamespace(
        lines=types.SimpleNamespace(all=lambda: lines),
        control_number="C0000000299",
        total_charge=sum((Decimal(c) for c in charges), Decimal(0)),
        patient=types.SimpleNamespace(last_name="Quimby", first_name="Harriet"),
        coverage=None,
    )


@pytest.mark.parametrize("charge", ["166.50", "166.51", "0.03", "125.00", "99.99"])
@pytest.mark.parametrize("outcome", ["paid", "partial", "denied"])
def test_every_demo_line_balances_in_whole_cents(charge: str, outcome: str) -> None:
    remit = demo_remits._remit_claim(_claim(charge), outcome, random.Random(7), 3)
    for line in remit.lines:
        amounts = [line.paid, *(a.amount for a in line.adjustments)]
        assert all(a == a.quantize(Decimal("0.01")) for a in amounts), amounts
        assert line.charge - sum(a.amount for a in line.adjustments) == line.paid
    assert remit.paid == sum(line.paid for line in remit.lines)
