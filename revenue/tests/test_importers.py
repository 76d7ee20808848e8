"""CSV imports: line-by-line answers, nothing imported on any error, effective dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from revenue.importers import ImportRefused, import_fee_schedule, import_procedure_codes
from revenue.models import FeeSchedule, ProcedureCode

pytestmark = pytest.mark.django_db


def test_procedure_codes_import_and_reimport_changes_nothing(biller):
    data = "code,description,active\n99213,Office visit est 20-29 min,yes\nG0439,Annual wellness,\n"
    summary = import_procedure_codes(data.encode(), actor=biller)
    assert summary.created == ["99213", "G0439"]
    again = import_procedure_codes(data.encode(), actor=biller)
    assert again.unchanged == ["99213", "G0439"]
    assert not again.created


def test_any_bad_line_imports_nothing_and_names_line_and_field(biller):
    data = (
        "code,description,active\n"
        "99213,Office visit,yes\n"
        "9921,Too short,yes\n"
        "A1234,,maybe\n"
        "99213,Twice,yes\n"
    )
    with pytest.raises(ImportRefused) as refused:
        import_procedure_codes(data.encode(), actor=biller)
    found = {(e.line, e.field) for e in refused.value.errors}
    assert {(3, "code"), (4, "description"), (4, "active"), (5, "code")} <= found
    assert not ProcedureCode.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe\x00",
        b"code\n99213\n",
        b"code,description,colour\n99213,x,red\n",
        b"a\x00b",
    ],
)
def test_bad_files_are_refused(biller, data):
    with pytest.raises(ImportRefused):
        import_procedure_codes(data, actor=biller)
    assert not ProcedureCode.objects.exists()


def test_fee_schedule_import(clinic, payer, biller):
    import_procedure_codes(b"code,description\n99213,Visit\n99214,Visit 2\n", actor=biller)
    data = (
        "procedure_code,modifier,charge,expected_allowed\n"
        "99213,,125.00,90\n99213,25,150,\n99214,,$185.00,120.50\n"
    )
    schedule = import_fee_schedule(
        data.encode(),
        actor=biller,
        clinic=clinic,
        payer=payer,
        name="BVHP 2026",
        effective_from=dt.date(2026, 1, 1),
        effective_to=None,
    )
    items = {(i.procedure_code, i.modifier): i for i in schedule.items.all()}
    assert items[("99213", "25")].charge == Decimal("150")
    assert items[("99214", "")].expected_allowed == Decimal("120.50")


def test_fee_schedule_errors_import_nothing(clinic, biller):
    import_procedure_codes(b"code,description\n99213,Visit\n", actor=biller)
    data = (
        "procedure_code,modifier,charge\n"
        "99213,,125.00\n"
        "99214,,100\n"  # not in the code list
        "99213,2!,10\n"  # bad modifier
        "99213,25,abc\n"  # bad amount
        "99213,,0\n"  # no charge, and priced twice
    )
    with pytest.raises(ImportRefused) as refused:
        import_fee_schedule(
            data.encode(),
            actor=biller,
            clinic=clinic,
            payer=None,
            name="Default",
            effective_from=dt.date(2026, 1, 1),
            effective_to=None,
        )
    found = {(e.line, e.field) for e in refused.value.errors}
    assert {(3, "procedure_code"), (4, "modifier"), (5, "charge"), (6, "charge")} <= found
    assert not FeeSchedule.objects.exists()
