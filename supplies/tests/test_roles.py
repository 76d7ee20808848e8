"""The supplies permissions reach the roles that need them, and no others."""

from __future__ import annotations

import pytest

from clinicops.core import roles
from clinicops.core.tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "granted", "refused"),
    [
        (
            roles.NURSE,
            ["log_usage", "transfer_stock", "count_stock", "waste_stock", "receive_purchaseorder"],
            ["add_purchaseorder", "change_locationitem", "import_supplyitem"],
        ),
        (
            roles.MANAGER,
            [
                "log_usage",
                "add_purchaseorder",
                "send_purchaseorder",
                "change_locationitem",
                "import_supplyitem",
            ],
            ["change_supplyitem"],
        ),
        (roles.FRONT_DESK, [], ["log_usage", "view_locationitem", "view_stockmovement"]),
        (roles.BILLER, [], ["log_usage", "view_stockmovement"]),
        (roles.COMPLIANCE, ["view_stockmovement"], ["log_usage", "count_stock"]),
        (roles.ADMINISTRATOR, ["change_supplyitem", "add_stocklocation"], ["log_usage"]),
    ],
)
def test_roles_carry_the_supplies_permissions(
    role: str, granted: list[str], refused: list[str]
) -> None:
    user = StaffFactory(roles=[role]).user

    assert [p for p in granted if not user.has_perm(f"supplies.{p}")] == []
    assert [p for p in refused if user.has_perm(f"supplies.{p}")] == []
