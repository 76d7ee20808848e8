"""The item-master CSV import: all-or-nothing, idempotent, errors naming line and field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinicops.audit.models import AuditEvent
from clinicops.core.models import User
from supplies import importers
from supplies.models import ItemBarcode, SupplyItem
from supplies.tests.factories import SupplierFactory, SupplyItemFactory

pytestmark = pytest.mark.django_db

HEADER = ",".join(importers.COLUMNS) + "\n"


def errors_of(data: str | bytes, actor: User) -> list[str]:
    with pytest.raises(importers.ItemImportError) as refused:
        importers.import_items(data, actor=actor)
    return [str(e) for e in refused.value.errors]


def test_the_template_imports_as_is(manager: User) -> None:
    summary = importers.import_items(importers.template_csv().encode(), actor=manager)

    assert summary.created == ["G44", "SF10"]
    flush = SupplyItem.objects.get(sku="SF10")
    assert (
        flush.pack_size,
        flush.unit_cost,
        flush.is_critical,
        flush.is_lot_tracked,
        flush.max_use_quantity,
    ) == (
        30,
        Decimal("0.4500"),
        True,
        True,
        20,
    )
    assert sorted(flush.barcodes.values_list("code", flat=True)) == [
        "00812345678912",
        "00812345678929",
    ]


def test_the_same_file_twice_changes_nothing_the_second_time(manager: User) -> None:
    SupplierFactory(name="Medline")
    data = HEADER + "G44,Gauze 4x4,Wound care,each,100,0.12,medline,0081;0082,no,yes,no,\n"
    importers.import_items(data, actor=manager)
    events = AuditEvent.objects.count()
    item = SupplyItem.objects.get()

    summary = importers.import_items(data, actor=manager)

    assert (summary.created, summary.updated, summary.unchanged) == ([], [], ["G44"])
    assert AuditEvent.objects.count() == events
    assert SupplyItem.objects.get().pk == item.pk
    assert ItemBarcode.objects.count() == 2


def test_an_import_updates_existing_items_by_sku_and_syncs_barcodes(manager: User) -> None:
    item = SupplyItemFactory(sku="g44", name="Old name", pack_size=50, unit_cost=Decimal("0.1"))
    item.barcodes.create(code="OLD")

    summary = importers.import_items(HEADER + "G44,Gauze 4x4,,,100,0.12,,NEW,,,,\n", actor=manager)

    assert summary.updated == ["g44"]
    item.refresh_from_db()
    assert (item.name, item.pack_size, item.unit_cost, item.supplier) == (
        "Gauze 4x4",
        100,
        Decimal("0.1200"),
        None,
    )
    assert list(item.barcodes.values_list("code", flat=True)) == ["NEW"]
    event = AuditEvent.objects.get(object_type="supplies.supplyitem")
    assert event.changes["updated"]["g44"]["name"] == ["Old name", "Gauze 4x4"]


def test_errors_name_the_line_and_field_and_nothing_is_imported(manager: User) -> None:
    SupplyItemFactory(sku="TAKEN").barcodes.create(code="999")
    data = (
        HEADER
        + "A1,Good item,,,10,1.00,,,,,,\n"
        + ",No sku,,,10,1.00,,,,,,\n"
        + "B1,,,,0,abc,,,maybe,,,\n"
        + "C1,Cost,,,1,-1,Nobody Inc,,,,,0\n"
        + "A1,Duplicate,,,1,1.123456,,999,,,,\n"
        + "D1,NaN cost,,,1,NaN,,,,,,\n"
    )

    errors = errors_of(data, manager)

    assert errors == [
        "line 3, sku: is required",
        "line 4, name: is required",
        "line 4, pack_size: must be between 1 and 1000000",
        "line 4, unit_cost: “abc” is not an amount like 12.50",
        "line 4, critical: “maybe” is not yes or no",
        "line 5, unit_cost: must be zero or more",
        "line 5, max_use_quantity: must be between 1 and 1000000",
        "line 6, sku: A1 is already on line 2",
        "line 6, unit_cost: has more than 4 decimal places",
        "line 7, unit_cost: “NaN” is not a number",
    ]
    assert SupplyItem.objects.count() == 1  # only TAKEN, made by the test


@pytest.mark.parametrize("value", ["NaN", "nan", "sNaN", "inf", "-Infinity", "Infinity"])
def test_a_cost_that_is_not_a_number_is_called_that(manager: User, value: str) -> None:
    data = HEADER + f"A1,Gauze,,,10,{value},,,,,,\n"

    assert errors_of(data, manager) == [f"line 2, unit_cost: “{value}” is not a number"]
    assert not SupplyItem.objects.exists()


@pytest.mark.parametrize(
    ("column", "line"),
    [("name", 2), ("category", 3), ("barcodes", 2), ("max_use_quantity", 3)],
)
def test_a_cell_too_large_to_read_names_its_line_and_column(
    manager: User, column: str, line: int
) -> None:
    # The csv module refuses any cell over its field limit (128 KiB) without saying which.
    cells = dict.fromkeys(importers.COLUMNS, "")
    cells.update(sku="A1", name="Gauze", pack_size="10", unit_cost="1.00")
    rows = [dict(cells), dict(cells, sku="A2")]
    big = "x" * 200_000
    # quoted, with an embedded comma and doubled quotes, so the column is found the csv way
    rows[line - 2][column] = f'"{big},""{big}"""'
    text = HEADER + "".join(
        ",".join(row[name] for name in importers.COLUMNS) + "\n" for row in rows
    )

    assert errors_of(text, manager) == [
        f"line {line}, {column}: the cell is longer than 131072 characters"
    ]
    assert not SupplyItem.objects.exists()


def test_a_huge_number_is_quoted_back_cut_short(manager: User) -> None:
    data = HEADER + "A1,Gauze,,," + "9" * 5000 + ",1.00,,,,,,\n"

    assert errors_of(data, manager) == [
        "line 2, pack_size: “999999999999999999999999…” is not a whole number"
    ]


def test_database_level_problems_are_named_too_and_nothing_is_imported(manager: User) -> None:
    SupplyItemFactory(sku="TAKEN").barcodes.create(code="999")
    data = HEADER + "A1,Good,,,10,1.00,,,,,,\n" + "B1,Bad,,,10,1.00,Nobody Inc,999,,,,\n"

    assert errors_of(data, manager) == [
        "line 3, supplier: no supplier named “Nobody Inc”; add it in the admin first",
        "line 3, barcodes: 999 already belongs to item TAKEN",
    ]
    assert not SupplyItem.objects.filter(sku="A1").exists()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", ["line 1, file: the file is empty; start from the template"]),
        (HEADER.encode(), ["line 2, file: the file has a header but no items"]),
        (
            b"sku,name\nA,B\n",
            ["line 1, pack_size: column is missing", "line 1, unit_cost: column is missing"],
        ),
        (
            b"sku,name,pack_size,unit_cost,colour\n",
            ["line 1, colour: is not a column of the template"],
        ),
        (
            b"sku,name,pack_size,unit_cost\nA,B,1,1,extra\n",
            ["line 2, file: has 5 cells but the header has 4"],
        ),
        (
            "sku,name,pack_size,unit_cost\nA,Caf\xe9,1,1\n".encode("latin-1"),
            ["line 1, file: the file is not UTF-8 text; save it as “CSV UTF-8” and try again"],
        ),
        (
            b"sku,name,pack_size,unit_cost\nA,B\x00,1,1\n",
            ["line 2, name: contains a control character (a tab, a line break or worse)"],
        ),
    ],
)
def test_malformed_files_are_refused_with_a_reason(
    manager: User, data: bytes, expected: list[str]
) -> None:
    assert errors_of(data, manager) == expected
    assert not SupplyItem.objects.exists()


def test_excel_style_headers_and_a_byte_order_mark_are_accepted(manager: User) -> None:
    data = "\ufeffSKU,Name,Pack Size,Unit Cost\r\nA1,Gauze,10,$1.50\r\n".encode()

    importers.import_items(data, actor=manager)

    assert SupplyItem.objects.get().unit_cost == Decimal("1.5000")


def test_an_item_with_stock_in_lots_cannot_stop_being_lot_tracked(
    manager: User, cart, stock
) -> None:
    from supplies.tests.factories import LocationItemFactory

    item = SupplyItemFactory(sku="SF10", is_lot_tracked=True)
    stock(LocationItemFactory(location=cart, item=item), 3, lot_number="L1")

    assert errors_of(HEADER + "SF10,Flush,,,1,1,,,,,no,\n", manager) == [
        "line 2, lot_tracked: SF10 has stock held in lots; use it up or count it out first"
    ]
