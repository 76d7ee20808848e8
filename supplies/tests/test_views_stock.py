"""Cycle counts, expiry, levels with suggested par and the item-master import, by the views."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.test_layout import assert_layout
from supplies import importers
from supplies.models import (
    CountSession,
    LocationItem,
    LotStock,
    StockLocation,
    StockMovement,
    SupplyItem,
)
from supplies.services import counts
from supplies.tests.factories import (
    LocationItemFactory,
    StockLocationFactory,
    SupplyItemFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def gauze(cart: StockLocation, stock: Callable[..., LocationItem]) -> LocationItem:
    item = SupplyItemFactory(name="Gauze sponge", sku="G44")
    return stock(
        LocationItemFactory(location=cart, item=item, par=20, reorder_point=5, max_quantity=40), 12
    )


@pytest.fixture
def flush(cart: StockLocation, clinic: Clinic, stock: Callable[..., LocationItem]) -> LocationItem:
    item = SupplyItemFactory(name="Saline flush", sku="SF10", is_lot_tracked=True)
    li = LocationItemFactory(location=cart, item=item, par=10, reorder_point=3, max_quantity=20)
    today = clinic.today()
    stock(li, 4, lot_number="OLD", expiry=today - timedelta(days=2))
    stock(li, 6, lot_number="SOON", expiry=today + timedelta(days=20))
    return stock(li, 5, lot_number="LATER", expiry=today + timedelta(days=50))


def refresh(li: LocationItem) -> int:
    li.refresh_from_db()
    return li.on_hand


# --- cycle counts --------------------------------------------------------------------------


def test_a_nurse_counts_a_cart_and_posts_the_variances(
    client: Client, nurse: User, cart: StockLocation, gauze: LocationItem, flush: LocationItem
) -> None:
    client.force_login(nurse)
    listing = client.get("/supplies/counts/")
    assert listing.status_code == 200
    assert_layout(listing)

    # when the nurse starts a count of the cart
    start = client.post("/supplies/counts/start/", {"location": str(cart.pk)})
    session = CountSession.objects.get()
    assert start["Location"] == f"/supplies/counts/{session.pk}/"
    page = client.get(start["Location"])
    assert page.status_code == 200
    assert_layout(page)
    html = page.content.decode()
    old_lot = LotStock.objects.get(lot__lot_number="OLD")
    assert f'name="counted_{flush.pk}_{old_lot.lot_id}"' in html
    assert f'name="counted_{gauze.pk}_0"' in html

    # and counts 10 gauze (12 expected) and the old lot right (4)
    saved = client.post(
        f"/supplies/counts/{session.pk}/",
        {f"counted_{gauze.pk}_0": "10", f"counted_{flush.pk}_{old_lot.lot_id}": "4"},
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200
    assert "<html" not in saved.content.decode()
    assert "Saved 2 counted quantities." in saved.content.decode()
    assert "-2" in saved.content.decode()

    # then posting without a reason is refused, and with one it adjusts
    line = session.lines.get(location_item=gauze)
    refused = client.post(f"/supplies/counts/{session.pk}/post/", {})
    assert refused.status_code == 200
    assert "Give a reason for this difference." in refused.content.decode()
    assert refresh(gauze) == 12
    posted = client.post(f"/supplies/counts/{session.pk}/post/", {f"reason_{line.pk}": "lost"})
    assert posted.status_code == 302
    assert refresh(gauze) == 10
    adjustment = StockMovement.objects.get(kind=StockMovement.Kind.COUNT_ADJUST)
    assert (adjustment.quantity, adjustment.reason) == (-2, "lost")
    session.refresh_from_db()
    assert session.status == CountSession.Status.POSTED
    assert client.get(f"/supplies/counts/{session.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-3", "Cannot be negative."),
        ("three", "Enter a whole number."),
        ("10000000", "At most 1000000"),
        ("", "Enter at least one counted quantity."),
    ],
)
def test_bad_counts_are_refused(
    client: Client, nurse: User, cart: StockLocation, gauze: LocationItem, value: str, message: str
) -> None:
    client.force_login(nurse)
    session = counts.start_count(actor=nurse, location=cart)

    response = client.post(f"/supplies/counts/{session.pk}/", {f"counted_{gauze.pk}_0": value})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not session.lines.exists()


def test_a_bad_reason_is_refused(
    client: Client, nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    session = counts.start_count(actor=nurse, location=cart)
    (line,) = counts.record_count(
        actor=nurse, session=session, entries=[counts.CountEntry(gauze.item_id, 3)]
    )
    client.force_login(nurse)

    response = client.post(f"/supplies/counts/{session.pk}/post/", {f"reason_{line.pk}": "stolen"})

    assert "Pick a reason from the list." in response.content.decode()
    assert refresh(gauze) == 12


def test_starting_a_second_count_continues_the_open_one(
    client: Client, nurse: User, cart: StockLocation
) -> None:
    client.force_login(nurse)
    first = client.post("/supplies/counts/start/", {"location": str(cart.pk)})
    second = client.post("/supplies/counts/start/", {"location": str(cart.pk)})

    assert first["Location"] == second["Location"]
    assert CountSession.objects.count() == 1


def test_a_cancelled_count_changes_nothing(
    client: Client, nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    session = counts.start_count(actor=nurse, location=cart)
    client.force_login(nurse)

    response = client.post(f"/supplies/counts/{session.pk}/cancel/")

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == CountSession.Status.CANCELLED
    again = client.post(f"/supplies/counts/{session.pk}/cancel/", follow=True)
    assert "already closed" in again.content.decode()


@pytest.mark.parametrize("location", ["", "abc", "99999999"])
def test_starting_a_count_of_no_location_is_not_found(
    client: Client, nurse: User, location: str
) -> None:
    client.force_login(nurse)

    assert client.post("/supplies/counts/start/", {"location": location}).status_code == 404


def test_another_clinics_counts_are_not_found(
    client: Client, nurse: User, other_clinic: Clinic
) -> None:
    elsewhere = StockLocationFactory(clinic=other_clinic)
    session = counts.start_count(actor=nurse, location=elsewhere)
    client.force_login(nurse)

    assert (
        client.post("/supplies/counts/start/", {"location": str(elsewhere.pk)}).status_code == 404
    )
    assert client.get(f"/supplies/counts/{session.pk}/").status_code == 404
    assert client.post(f"/supplies/counts/{session.pk}/post/").status_code == 404


def test_providers_see_no_counts(client: Client, make_user: Callable[..., User]) -> None:
    client.force_login(make_user(roles.PROVIDER))

    assert client.get("/supplies/counts/").status_code == 403


# --- expiry --------------------------------------------------------------------------------


def test_the_expiry_list_has_30_and_60_day_windows(
    client: Client, nurse: User, flush: LocationItem
) -> None:
    client.force_login(nurse)

    within_60 = client.get("/supplies/expiry/")
    within_30 = client.get("/supplies/expiry/?days=30", headers={"HX-Request": "true"})
    junk = client.get("/supplies/expiry/?days=7000")

    assert within_60.status_code == within_30.status_code == junk.status_code == 200
    assert_layout(within_60)
    html60, html30 = within_60.content.decode(), within_30.content.decode()
    for lot in ("LATER", "SOON", "OLD"):
        assert lot in html60
    assert "LATER" not in html30
    assert "SOON" in html30
    assert "<html" not in html30
    assert "Waste all expired (4 units, 1 lot)" in html60


def test_expired_stock_is_wasted_in_one_action(
    client: Client, nurse: User, flush: LocationItem
) -> None:
    client.force_login(nurse)

    response = client.post(
        "/supplies/expiry/waste/", {"days": "60"}, headers={"HX-Request": "true"}
    )
    again = client.post(
        "/supplies/expiry/waste/", {"days": "bogus"}, headers={"HX-Request": "true"}
    )

    assert "Wasted 4 expired units from 1 lots." in response.content.decode()
    assert "nothing was wasted" in again.content.decode()
    assert refresh(flush) == 11
    waste = StockMovement.objects.get(kind=StockMovement.Kind.WASTE)
    assert (waste.quantity, waste.lot.lot_number, waste.reason) == (-4, "OLD", "expired")


def test_only_staff_who_may_waste_can_waste(
    client: Client, make_user: Callable[..., User], flush: LocationItem
) -> None:
    client.force_login(make_user(roles.PROVIDER))

    assert client.get("/supplies/expiry/").status_code == 403
    assert client.post("/supplies/expiry/waste/").status_code == 403
    assert refresh(flush) == 15


# --- levels and suggested par -----------------------------------------------------------


def test_levels_show_the_suggested_par_and_a_manager_accepts_it(
    client: Client, manager: User, cart: StockLocation, gauze: LocationItem
) -> None:
    client.force_login(manager)

    page = client.get(f"/supplies/levels/?location={cart.pk}")
    assert page.status_code == 200
    assert_layout(page)
    # no use in 8 weeks: the suggestion is 0, shown beside the current par of 20
    assert "Accept 0" in page.content.decode()

    response = client.post(f"/supplies/levels/{gauze.pk}/accept/", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "Par of Gauze sponge at Exam 2: 20 → 0." in response.content.decode()
    gauze.refresh_from_db()
    assert (gauze.par, gauze.reorder_point, gauze.max_quantity) == (0, 0, 40)
    assert AuditEvent.objects.filter(object_type="supplies.locationitem").exists()


def test_levels_are_edited_and_bad_levels_refused(
    client: Client, manager: User, gauze: LocationItem
) -> None:
    client.force_login(manager)
    url = f"/supplies/levels/{gauze.pk}/"
    assert_layout(client.get(url))

    bad = client.post(url, {"reorder_point": "30", "par": "25", "max_quantity": "20"})
    junk = client.post(url, {"reorder_point": "x", "par": "-1", "max_quantity": ""})
    empty = client.post(url, {})
    assert "Enter a quantity." in empty.content.decode()
    good = client.post(url, {"reorder_point": "6", "par": "24", "max_quantity": "48"})

    assert bad.status_code == junk.status_code == 200
    assert "The reorder point must be at or below par." in bad.content.decode()
    assert "Par must be at or below the maximum." in bad.content.decode()
    assert "Enter a whole number." in junk.content.decode()
    assert good.status_code == 302
    gauze.refresh_from_db()
    assert (gauze.reorder_point, gauze.par, gauze.max_quantity) == (6, 24, 48)


def test_nurses_see_levels_but_cannot_change_them(
    client: Client, nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    client.force_login(nurse)

    page = client.get("/supplies/levels/")
    assert page.status_code == 200
    assert "Accept" not in page.content.decode()
    assert client.post(f"/supplies/levels/{gauze.pk}/accept/").status_code == 403
    assert client.get(f"/supplies/levels/{gauze.pk}/").status_code == 403


def test_another_clinics_levels_are_not_found(
    client: Client, manager: User, other_clinic: Clinic
) -> None:
    elsewhere = LocationItemFactory(location=StockLocationFactory(clinic=other_clinic))
    client.force_login(manager)

    assert client.get(f"/supplies/levels/?location={elsewhere.location_id}").status_code == 404
    assert client.post(f"/supplies/levels/{elsewhere.pk}/accept/").status_code == 404
    assert client.get(f"/supplies/levels/{elsewhere.pk}/").status_code == 404
    assert client.get("/supplies/levels/?location=nonsense").status_code == 200


# --- item-master import --------------------------------------------------------------------


def upload(text: str | bytes, name: str = "items.csv") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_the_template_downloads(client: Client, manager: User) -> None:
    client.force_login(manager)

    response = client.get("/supplies/import/template.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response.content.decode().splitlines()[0] == ",".join(importers.COLUMNS)


def test_the_template_imports_and_a_second_import_changes_nothing(
    client: Client, manager: User
) -> None:
    client.force_login(manager)
    page = client.get("/supplies/import/")
    assert page.status_code == 200
    assert_layout(page)

    first = client.post("/supplies/import/", {"file": upload(importers.template_csv())})
    second = client.post("/supplies/import/", {"file": upload(importers.template_csv())})

    assert "2 created, 0 updated, 0 unchanged" in first.content.decode()
    assert "0 created, 0 updated, 2 unchanged" in second.content.decode()
    assert SupplyItem.objects.filter(sku__in=["G44", "SF10"]).count() == 2


def test_a_bad_file_names_line_and_field_and_imports_nothing(client: Client, manager: User) -> None:
    client.force_login(manager)
    text = (
        "sku,name,pack_size,unit_cost\n"
        "A1,Good item,10,0.50\n"
        "A2,Bad pack,zero,0.50\n"
        "A3,Bad cost,10,-1\n"
    )

    response = client.post("/supplies/import/", {"file": upload(text)})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was imported" in html
    assert '<td class="num">3</td><td class="mono">pack_size</td>' in html
    assert '<td class="num">4</td><td class="mono">unit_cost</td>' in html
    assert not SupplyItem.objects.filter(sku="A1").exists()


def test_an_import_names_the_column_of_a_huge_cell_and_a_nan_cost(
    client: Client, manager: User
) -> None:
    client.force_login(manager)
    text = f"sku,name,pack_size,unit_cost\nA1,Good item,10,NaN\nA2,{'y' * 150_000},10,0.50\n"

    response = client.post("/supplies/import/", {"file": upload(text)})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was imported" in html
    assert '<td class="num">2</td><td class="mono">unit_cost</td>' in html
    assert "“NaN” is not a number" in html
    assert '<td class="num">3</td><td class="mono">name</td>' in html
    assert "the cell is longer than 131072 characters" in html
    assert not SupplyItem.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "Choose a CSV file to import."),
        (b"", "The file is empty."),
        (b"\xff\xfe\x00binary\x00", "line 1"),
        (b"not,a,template\n1,2,3\n", "is not a column of the template"),
    ],
)
def test_unusable_uploads_are_refused(
    client: Client, manager: User, data: bytes | None, message: str
) -> None:
    client.force_login(manager)
    post = {} if data is None else {"file": upload(data)}

    response = client.post("/supplies/import/", post)

    assert response.status_code == 200
    assert message in response.content.decode().replace('<td class="num">1</td>', "line 1")
    assert not SupplyItem.objects.exists()


def test_only_managers_and_administrators_import(
    client: Client, nurse: User, make_user: Callable[..., User]
) -> None:
    client.force_login(nurse)
    assert client.get("/supplies/import/").status_code == 403
    assert client.get("/supplies/import/template.csv").status_code == 403
    client.force_login(make_user(roles.ADMINISTRATOR))
    assert client.get("/supplies/import/").status_code == 200
