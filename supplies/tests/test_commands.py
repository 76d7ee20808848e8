"""The import and demo-seed management commands."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import RoomFactory
from supplies import importers, selectors
from supplies.models import LocationItem, StockLocation, StockMovement, SupplyItem

pytestmark = pytest.mark.django_db


def test_import_command_imports_a_file_and_reports_errors_by_line(tmp_path: Path) -> None:
    good = tmp_path / "items.csv"
    good.write_text(importers.template_csv())
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name,pack_size,unit_cost\nA1,,0,x\n")
    out = StringIO()

    call_command("import_supply_items", str(good), stdout=out)
    assert "2 created, 0 updated, 0 unchanged." in out.getvalue()

    err = StringIO()
    with pytest.raises(CommandError, match="Nothing imported: 3 problem"):
        call_command("import_supply_items", str(bad), stdout=StringIO(), stderr=err)
    assert "line 2, name: is required" in err.getvalue()
    assert SupplyItem.objects.count() == 2

    template = StringIO()
    call_command("import_supply_items", "--template", stdout=template)
    assert template.getvalue() == importers.template_csv()
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_supply_items", str(tmp_path / "missing.csv"))


def test_seed_supplies_builds_a_consistent_demo_once(clinic: Clinic, manager: User) -> None:
    RoomFactory(clinic=clinic, name="Exam 1")

    call_command("seed_supplies", stdout=StringIO())
    movements = StockMovement.objects.count()
    call_command("seed_supplies", stdout=StringIO())

    assert StockMovement.objects.count() == movements
    assert StockLocation.objects.filter(clinic=clinic).count() == 2
    assert LocationItem.objects.filter(location__name="Exam 1 cart").count() == 15
    assert StockMovement.objects.filter(kind="use").exists()
    assert selectors.ledger_mismatches() == []
