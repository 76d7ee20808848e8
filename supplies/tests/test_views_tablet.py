"""The nurse's tablet: pick a location, tap or scan items, log once, undo, count."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta

import pytest
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.middleware import SESSION_CLINIC
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import PatientFactory, RoomFactory, StaffFactory
from clinicops.core.tests.test_layout import assert_layout
from scheduling.tests.factories import AppointmentFactory
from supplies.models import LocationItem, StockLocation, StockMovement, UsageSubmission
from supplies.services import usage
from supplies.tests.factories import (
    ItemBarcodeFactory,
    LocationItemFactory,
    StockLocationFactory,
    SupplyItemFactory,
)

pytestmark = pytest.mark.django_db

KEY = re.compile(r'name="idempotency_key" value="([0-9a-f]{32})"')


@pytest.fixture
def gauze(cart: StockLocation, stock: Callable[..., LocationItem]) -> LocationItem:
    item = SupplyItemFactory(name="Gauze sponge", sku="G44")
    ItemBarcodeFactory(item=item, code="00812345678905")
    return stock(
        LocationItemFactory(location=cart, item=item, par=20, reorder_point=5, max_quantity=40), 12
    )


@pytest.fixture
def gloves(cart: StockLocation, stock: Callable[..., LocationItem]) -> LocationItem:
    item = SupplyItemFactory(name="Exam gloves", sku="GLV-M", unit_of_use="pair")
    return stock(
        LocationItemFactory(location=cart, item=item, par=10, reorder_point=4, max_quantity=20), 6
    )


@pytest.fixture
def nurse_client(client: Client, nurse: User) -> Client:
    client.force_login(nurse)
    return client


def log_url(location: StockLocation) -> str:
    return f"/supplies/use/{location.pk}/"


def key_of(response) -> str:
    match = KEY.search(response.content.decode())
    assert match, "no idempotency key on the page"
    return match.group(1)


def on_hand(li: LocationItem) -> int:
    li.refresh_from_db()
    return li.on_hand


# --- location ------------------------------------------------------------------------------


def test_without_a_location_the_tablet_offers_the_clinics_locations(
    nurse_client: Client, cart: StockLocation, supply_room: StockLocation, other_clinic: Clinic
) -> None:
    elsewhere = StockLocationFactory(clinic=other_clinic, name="Hillcrest cart")

    response = nurse_client.get("/supplies/use/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{log_url(cart)}"' in html
    assert f'href="{log_url(supply_room)}"' in html
    assert elsewhere.name not in html
    assert_layout(response)


def test_the_location_is_remembered(nurse_client: Client, cart: StockLocation, gauze) -> None:
    assert nurse_client.get(log_url(cart)).status_code == 200

    response = nurse_client.get("/supplies/use/")

    assert response.status_code == 302
    assert response["Location"] == log_url(cart)
    # "Change location" still offers the list.
    assert nurse_client.get("/supplies/use/?choose=1").status_code == 200


def test_the_tablet_page_has_the_layout_tiles_and_a_key(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem, gloves: LocationItem
) -> None:
    response = nurse_client.get(log_url(cart))

    assert response.status_code == 200
    page = assert_layout(response)
    html = response.content.decode()
    assert "Gauze sponge" in html
    assert "Exam gloves" in html
    assert 'data-codes="00812345678905 G44"' in html
    assert len(key_of(response)) == 32
    assert page.title.strip() == "Log supplies · ClinicOps"
    assert response["Cache-Control"].startswith("max-age=0")


def test_tiles_put_the_most_used_item_first(
    nurse_client: Client,
    nurse: User,
    cart: StockLocation,
    gauze: LocationItem,
    gloves: LocationItem,
) -> None:
    usage.log_usage(
        actor=nurse,
        location=cart,
        lines=[usage.UsageLine(gloves.item_id, 3)],
        idempotency_key="warm-up",
    )
    html = nurse_client.get(log_url(cart)).content.decode()

    assert html.index("Exam gloves") < html.index("Gauze sponge")


def test_another_clinics_location_is_not_found(nurse_client: Client, other_clinic: Clinic) -> None:
    elsewhere = StockLocationFactory(clinic=other_clinic)

    assert nurse_client.get(log_url(elsewhere)).status_code == 404
    assert nurse_client.post(log_url(elsewhere), {"action": "log"}).status_code == 404


@pytest.mark.parametrize("role", [roles.FRONT_DESK, roles.BILLER, roles.COMPLIANCE])
def test_roles_without_log_usage_are_forbidden(
    client: Client, make_user: Callable[..., User], cart: StockLocation, role: str
) -> None:
    client.force_login(make_user(role))

    assert client.get("/supplies/use/").status_code == 403
    assert client.get(log_url(cart)).status_code == 403
    assert client.post(log_url(cart), {"action": "log"}).status_code == 403


# --- logging -------------------------------------------------------------------------------


def test_log_takes_stock_once_and_renews_the_key(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem, gloves: LocationItem
) -> None:
    key = key_of(nurse_client.get(log_url(cart)))

    response = nurse_client.post(
        log_url(cart),
        {"idempotency_key": key, f"qty_{gauze.pk}": "2", f"qty_{gloves.pk}": "1", "action": "log"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Logged at Exam 2" in html
    assert "Undo this entry" in html
    assert on_hand(gauze) == 10
    assert on_hand(gloves) == 5
    assert key_of(response) != key
    submission = UsageSubmission.objects.get(idempotency_key=key)
    assert submission.movements.filter(kind=StockMovement.Kind.USE).count() == 2


def test_htmx_gets_a_small_answer_and_a_plain_request_the_whole_page(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem
) -> None:
    key = key_of(nurse_client.get(log_url(cart)))
    data = {"idempotency_key": key, f"qty_{gauze.pk}": "1", "action": "log"}

    fragment = nurse_client.post(log_url(cart), data, headers={"HX-Request": "true"})
    full = nurse_client.post(log_url(cart), data)

    assert fragment.status_code == full.status_code == 200
    assert "<html" not in fragment.content.decode()
    # a stored log answers with what changed, not the whole screen again
    assert 'id="log-feedback"' in fragment.content.decode()
    assert 'class="tiles"' not in fragment.content.decode()
    assert f'id="tile-meta-{gauze.pk}" hx-swap-oob="true"' in fragment.content.decode()
    assert 'id="id_idempotency_key" hx-swap-oob="true"' in fragment.content.decode()
    assert fragment["HX-Retarget"] == "#log-feedback"
    assert "<h1>" not in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]
    assert_layout(full)
    # the plain resend was the same submission: it logged nothing more
    assert on_hand(gauze) == 11


def test_the_same_submission_twice_in_sequence_logs_once(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem
) -> None:
    key = key_of(nurse_client.get(log_url(cart)))
    data = {"idempotency_key": key, f"qty_{gauze.pk}": "3", "action": "log"}

    first = nurse_client.post(log_url(cart), data, headers={"HX-Request": "true"})
    second = nurse_client.post(log_url(cart), data, headers={"HX-Request": "true"})

    assert first.status_code == second.status_code == 200
    assert on_hand(gauze) == 9
    assert "already been logged" in second.content.decode()
    assert StockMovement.objects.filter(kind=StockMovement.Kind.USE).count() == 1


def test_the_same_key_with_other_quantities_is_refused(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem
) -> None:
    key = key_of(nurse_client.get(log_url(cart)))
    nurse_client.post(
        log_url(cart), {"idempotency_key": key, f"qty_{gauze.pk}": "1", "action": "log"}
    )

    response = nurse_client.post(
        log_url(cart), {"idempotency_key": key, f"qty_{gauze.pk}": "4", "action": "log"}
    )

    assert response.status_code == 200
    assert "already used for a different log" in response.content.decode()
    assert on_hand(gauze) == 11


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_the_same_submission_sent_concurrently_logs_once(
    nurse: User, cart: StockLocation, stock
) -> None:
    # given a cart with 30 and one rendered form (one key)
    li = stock(LocationItemFactory(location=cart, par=40, reorder_point=5, max_quantity=60), 30)
    data = {"idempotency_key": "f" * 32, f"qty_{li.pk}": "2", "action": "log"}
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def tap() -> None:
        client = Client()
        client.force_login(nurse)
        barrier.wait()
        try:
            statuses.append(client.post(log_url(cart), data).status_code)
        finally:
            close_old_connections()

    # when six copies of the same submission arrive at once
    threads = [threading.Thread(target=tap) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then every request is answered and exactly one log was taken
    assert statuses == [200] * 6
    assert on_hand(li) == 28
    assert UsageSubmission.objects.count() == 1
    assert StockMovement.objects.filter(kind=StockMovement.Kind.USE).count() == 1


def last_logs(html: str) -> str:
    """The tablet's "last logged here today" box."""
    start = html.index("data-last-logs")
    return html[start : html.index("</section>", start)]


def test_the_tablet_shows_todays_last_logs_from_the_ledger(
    nurse_client: Client,
    nurse: User,
    make_user: Callable[..., User],
    clinic: Clinic,
    cart: StockLocation,
    gauze: LocationItem,
    gloves: LocationItem,
) -> None:
    colleague = make_user(roles.NURSE, username="nurse2", first_name="Ada", last_name="Byrne")
    # The clinic's midnight: today, and before the nurse's own log whatever the hour of the run.
    at = datetime.combine(clinic.today(), time(0, 0), tzinfo=clinic.tz)
    usage.log_usage(
        actor=colleague,
        location=cart,
        lines=[usage.UsageLine(gloves.item_id, 1)],
        idempotency_key="colleague-1",
        now=at,
    )
    yesterday = usage.log_usage(
        actor=nurse,
        location=cart,
        lines=[usage.UsageLine(gloves.item_id, 1)],
        idempotency_key="yesterday",
        now=at - timedelta(days=1),
    )
    assert "Nothing logged here yet today" not in last_logs(
        nurse_client.get(log_url(cart)).content.decode()
    )
    key = key_of(nurse_client.get(log_url(cart)))
    nurse_client.post(
        log_url(cart), {"idempotency_key": key, f"qty_{gauze.pk}": "2", "action": "log"}
    )

    box = last_logs(nurse_client.get(log_url(cart)).content.decode())

    # newest first, what the ledger holds, in the clinic's time, by whom
    assert box.count("<li") == 2
    assert box.index("2 \u00d7 Gauze sponge") < box.index("1 \u00d7 Exam gloves")
    assert "00:00 · by Ada Byrne" in box
    assert "by you" in box
    # yesterday's log is not today's
    assert box.count("Exam gloves") == 1
    assert UsageSubmission.objects.filter(pk=yesterday.submission.pk).exists()


def test_a_resent_key_after_a_reload_logs_once_and_the_list_shows_one_log(
    nurse_client: Client, nurse: User, cart: StockLocation, gauze: LocationItem
) -> None:
    key = key_of(nurse_client.get(log_url(cart)))
    post = {"idempotency_key": key, f"qty_{gauze.pk}": "2", "action": "log"}
    nurse_client.post(log_url(cart), post)  # stored, but the answer never reached the tablet

    # the reload renders a new key; the tablet resends the kept one
    reloaded = nurse_client.get(log_url(cart))
    assert key_of(reloaded) != key
    resent = nurse_client.post(log_url(cart), post, headers={"HX-Request": "true"})

    html = resent.content.decode()
    assert "This tap had already been logged; nothing was logged twice." in html
    assert UsageSubmission.objects.filter(user=nurse).count() == 1
    assert StockMovement.objects.filter(kind=StockMovement.Kind.USE).count() == 1
    assert on_hand(gauze) == 10
    box = last_logs(html)
    assert box.count("<li") == 1
    assert "2 \u00d7 Gauze sponge" in box


def test_more_than_on_hand_is_logged_and_the_shortfall_flagged_for_review(
    nurse_client: Client, cart: StockLocation, stock
) -> None:
    li = stock(LocationItemFactory(location=cart, item=SupplyItemFactory(name="Saline flush")), 3)
    key = key_of(nurse_client.get(log_url(cart)))

    response = nurse_client.post(
        log_url(cart), {"idempotency_key": key, f"qty_{li.pk}": "5", "action": "log"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Logged at Exam 2" in html
    assert "Logged 5 Saline flush; 2 were not on the books and are flagged for review." in html
    assert "2 not on the books" in html
    # the books were short: a count of what is really there is offered at once
    assert "Record a count of Saline flush" in html
    assert on_hand(li) == 0
    assert StockMovement.objects.get(kind=StockMovement.Kind.FOUND).quantity == 2
    assert key_of(response) != key  # logged: the next tap gets a new key
    # the same tap again (a retry) finds and logs nothing twice
    retry = nurse_client.post(
        log_url(cart), {"idempotency_key": key, f"qty_{li.pk}": "5", "action": "log"}
    )
    assert "nothing was logged twice" in retry.content.decode()
    assert "2 were not on the books" in retry.content.decode()
    assert StockMovement.objects.filter(kind=StockMovement.Kind.FOUND).count() == 1
    assert on_hand(li) == 0


def test_found_stock_waits_on_the_counts_screen_until_a_manager_reviews_it(
    client: Client,
    nurse: User,
    manager: User,
    cart: StockLocation,
    stock,
    other_clinic: Clinic,
) -> None:
    li = LocationItemFactory(location=cart, item=SupplyItemFactory(name="Saline flush"))
    client.force_login(nurse)
    key = key_of(client.get(log_url(cart)))
    client.post(log_url(cart), {"idempotency_key": key, f"qty_{li.pk}": "2", "action": "log"})
    found = StockMovement.objects.get(kind=StockMovement.Kind.FOUND)
    url = f"/supplies/counts/found/{found.pk}/reviewed/"

    # the nurse sees it listed, without the button, and cannot mark it
    page = client.get("/supplies/counts/").content.decode()
    assert "Found at use: to review" in page
    assert "Saline flush" in page
    assert url not in page
    assert client.post(url).status_code == 403

    # the manager marks it reviewed; it leaves the list, and that is audited
    client.force_login(manager)
    page = client.get("/supplies/counts/").content.decode()
    assert url in page
    response = client.post(url, follow=True)
    assert "Marked reviewed: 2 Saline flush found at Exam 2." in response.content.decode()
    assert found.found_review.reviewed_by == manager
    assert "Nothing to review" in client.get("/supplies/counts/").content.decode()
    assert AuditEvent.objects.filter(object_type="supplies.foundstockreview").count() == 1
    assert client.get(url).status_code == 405

    # another clinic's found stock is not found
    elsewhere = LocationItemFactory(location=StockLocationFactory(clinic=other_clinic))
    usage.log_usage(
        actor=StaffFactory(roles=[roles.NURSE], clinics=[other_clinic]).user,
        location=elsewhere.location,
        lines=[usage.UsageLine(elsewhere.item_id, 1)],
        idempotency_key="elsewhere",
    )
    theirs = StockMovement.objects.get(kind=StockMovement.Kind.FOUND, location_item=elsewhere)
    assert client.post(f"/supplies/counts/found/{theirs.pk}/reviewed/").status_code == 404


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("-1", "Cannot be negative."),
        ("abc", "Enter a whole number."),
        ("2.5", "Enter a whole number."),
        ("1e3", "Enter a whole number."),
        ("51", "At most 50 each in one log"),
        ("99999999999999999999999", "At most 50 each in one log"),
        ("\x00", "Enter a whole number."),
    ],
)
def test_bad_quantities_are_refused_and_nothing_is_saved(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem, quantity: str, message: str
) -> None:
    key = key_of(nurse_client.get(log_url(cart)))

    response = nurse_client.post(
        log_url(cart), {"idempotency_key": key, f"qty_{gauze.pk}": quantity, "action": "log"}
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert on_hand(gauze) == 12
    assert not UsageSubmission.objects.exists()


def test_the_item_cap_applies(nurse_client: Client, cart: StockLocation, stock) -> None:
    li = stock(LocationItemFactory(location=cart, item=SupplyItemFactory(max_use_quantity=4)), 10)
    screen = nurse_client.get(log_url(cart))
    key = key_of(screen)
    # the tile's stepper stops there too
    assert f'max="4" step="1" id="id_qty_{li.pk}"' in screen.content.decode()

    response = nurse_client.post(
        log_url(cart), {"idempotency_key": key, f"qty_{li.pk}": "5", "action": "log"}
    )

    assert "At most 4 each in one log" in response.content.decode()
    assert on_hand(li) == 10


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Tap at least one item, then Log."),
        ({"idempotency_key": ""}, "This screen is out of date; reload it"),
        ({"idempotency_key": "k" * 65}, "This screen is out of date; reload it"),
        ({"visit": "999999"}, "That patient is no longer in a room here"),
        ({"visit": "abc"}, "That patient is no longer in a room here"),
        ({"qty_999999999": "1"}, "no longer stocked at Exam 2"),
    ],
)
def test_incomplete_or_stale_submissions_are_refused(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem, data: dict, message: str
) -> None:
    post = {"idempotency_key": "a" * 32, "action": "log", **data}
    if "qty_999999999" not in data and data:
        post[f"qty_{gauze.pk}"] = "1"

    response = nurse_client.post(log_url(cart), post)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert on_hand(gauze) == 12


def test_logging_to_the_reorder_point_warns(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem
) -> None:
    key = key_of(nurse_client.get(log_url(cart)))

    response = nurse_client.post(
        log_url(cart), {"idempotency_key": key, f"qty_{gauze.pk}": "7", "action": "log"}
    )

    html = response.content.decode()
    assert "Gauze sponge is low:" in html
    assert "at or below the reorder point of 5" in html
    assert "feedback--warning" in html


# --- scanning and tapping without JavaScript ------------------------------------------------


@pytest.mark.parametrize("code", ["00812345678905", "g44", " G44 "])
def test_a_scan_adds_the_item_without_logging(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem, code: str
) -> None:
    key = key_of(nurse_client.get(log_url(cart)))

    response = nurse_client.post(
        log_url(cart),
        {"idempotency_key": key, "barcode": code, f"qty_{gauze.pk}": "1", "action": "scan"},
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert f'name="qty_{gauze.pk}" value="2"' in html
    assert "Added Gauze sponge" in html
    assert "autofocus" in html
    assert key_of(response) == key
    assert on_hand(gauze) == 12


def test_an_unknown_scan_says_so(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem
) -> None:
    elsewhere = ItemBarcodeFactory(code="0099")  # an item not stocked at this cart

    response = nurse_client.post(
        log_url(cart), {"idempotency_key": "a" * 32, "barcode": elsewhere.code}
    )

    assert "Nothing stocked at Exam 2 has the barcode “0099”" in response.content.decode()
    assert not UsageSubmission.objects.exists()


def test_tile_taps_work_without_javascript(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem
) -> None:
    data = {"idempotency_key": "a" * 32, f"qty_{gauze.pk}": "2"}

    more = nurse_client.post(log_url(cart), {**data, "add": str(gauze.pk)})
    less = nurse_client.post(log_url(cart), {**data, "remove": str(gauze.pk)})
    junk = nurse_client.post(log_url(cart), {**data, "add": "not-a-number"})

    assert f'name="qty_{gauze.pk}" value="3"' in more.content.decode()
    assert f'name="qty_{gauze.pk}" value="1"' in less.content.decode()
    assert junk.status_code == 200
    assert not UsageSubmission.objects.exists()


def test_search_hides_the_tiles_that_do_not_match(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem, gloves: LocationItem
) -> None:
    html = nurse_client.post(
        log_url(cart), {"idempotency_key": "a" * 32, "q": "glov"}
    ).content.decode()

    gauze_tile = html[
        html.index('data-name="Gauze sponge"') - 200 : html.index('data-name="Gauze sponge"') + 400
    ]
    gloves_tile = html[
        html.index('data-name="Exam gloves"') - 200 : html.index('data-name="Exam gloves"') + 400
    ]
    assert " hidden>" in gauze_tile
    assert " hidden>" not in gloves_tile


# --- undo ----------------------------------------------------------------------------------


def _log(client: Client, cart: StockLocation, li: LocationItem, quantity: int) -> UsageSubmission:
    key = key_of(client.get(log_url(cart)))
    client.post(
        log_url(cart), {"idempotency_key": key, f"qty_{li.pk}": str(quantity), "action": "log"}
    )
    return UsageSubmission.objects.get(idempotency_key=key)


def test_the_last_entry_can_be_undone(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem
) -> None:
    submission = _log(nurse_client, cart, gauze, 4)
    assert on_hand(gauze) == 8
    page = nurse_client.get(log_url(cart)).content.decode()
    assert "Your last entry here" in page
    assert '<span class="feedback__qty">4</span> \u00d7 Gauze sponge</li>' in page
    assert f"/supplies/use/undo/{submission.pk}/" in page

    response = nurse_client.post(
        f"/supplies/use/undo/{submission.pk}/",
        {"idempotency_key": "b" * 32, f"qty_{gauze.pk}": "2"},
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Undone: put back" in html
    assert on_hand(gauze) == 12
    assert StockMovement.objects.filter(kind=StockMovement.Kind.RETURN).count() == 1
    # what the nurse had on the tiles meanwhile is kept
    assert f'name="qty_{gauze.pk}" value="2"' in html
    # and undoing twice is refused, changing nothing
    again = nurse_client.post(f"/supplies/use/undo/{submission.pk}/")
    assert "already undone" in again.content.decode()
    assert on_hand(gauze) == 12


def test_undo_is_refused_after_the_window_and_for_someone_elses_log(
    client: Client,
    nurse: User,
    make_user: Callable[..., User],
    cart: StockLocation,
    gauze: LocationItem,
) -> None:
    client.force_login(nurse)
    old = _log(client, cart, gauze, 1)
    UsageSubmission.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(minutes=3)
    )
    late = client.post(f"/supplies/use/undo/{old.pk}/")
    assert "Undo is possible for 2 minutes" in late.content.decode()

    mine = _log(client, cart, gauze, 1)
    client.force_login(make_user(roles.NURSE, username="nurse2"))
    theirs = client.post(f"/supplies/use/undo/{mine.pk}/")

    assert theirs.status_code == 200
    assert "Only the person who logged it can undo it." in theirs.content.decode()
    assert on_hand(gauze) == 10


def test_another_clinics_log_cannot_be_undone(
    client: Client, other_clinic: Clinic, gauze: LocationItem
) -> None:
    outsider = StaffFactory(roles=[roles.NURSE], clinics=[other_clinic]).user
    nurse = StaffFactory(roles=[roles.NURSE], clinics=[gauze.location.clinic]).user
    client.force_login(nurse)
    submission = _log(client, gauze.location, gauze, 1)
    client.force_login(outsider)

    assert client.post(f"/supplies/use/undo/{submission.pk}/").status_code == 404
    assert on_hand(gauze) == 11


# --- record a count ------------------------------------------------------------------------


def test_a_count_after_a_refusal_sets_on_hand(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem
) -> None:
    response = nurse_client.post(
        f"/supplies/use/count/{gauze.pk}/",
        {"counted": "20", "reason": "found", "idempotency_key": "c" * 32},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "Counted Gauze sponge at Exam 2: 20" in response.content.decode()
    assert on_hand(gauze) == 20
    adjustment = StockMovement.objects.get(kind=StockMovement.Kind.COUNT_ADJUST)
    assert adjustment.quantity == 8
    assert adjustment.reason == "found"


def test_a_count_of_an_item_held_in_lots_sets_the_total_and_says_what_was_stored(
    nurse_client: Client, cart: StockLocation, stock, clinic: Clinic
) -> None:
    li = LocationItemFactory(
        location=cart, item=SupplyItemFactory(name="Saline flush", is_lot_tracked=True)
    )
    stock(li, 5, lot_number="A", expiry=clinic.today() + timedelta(days=10))
    stock(li, 10, lot_number="B", expiry=clinic.today() + timedelta(days=20))

    response = nurse_client.post(
        f"/supplies/use/count/{li.pk}/",
        {"counted": "5", "reason": "lost"},
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert on_hand(li) == 5
    assert "Counted Saline flush at Exam 2: 5" in html
    assert "On hand was 15; it is now 5. (lot A 5 → 0; lot B 10 → 5)" in html
    assert dict(li.lot_stocks.values_list("lot__lot_number", "on_hand")) == {"A": 0, "B": 5}


@pytest.mark.parametrize("counted", ["", "-2", "x", "10000000"])
def test_a_bad_count_is_refused(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem, counted: str
) -> None:
    response = nurse_client.post(f"/supplies/use/count/{gauze.pk}/", {"counted": counted})

    assert response.status_code == 200
    assert "Count of Gauze sponge not saved" in response.content.decode()
    assert on_hand(gauze) == 12


def test_counting_another_clinics_item_is_not_found(
    nurse_client: Client, other_clinic: Clinic
) -> None:
    elsewhere = LocationItemFactory(location=StockLocationFactory(clinic=other_clinic))

    response = nurse_client.post(f"/supplies/use/count/{elsewhere.pk}/", {"counted": "1"})

    assert response.status_code == 404


# --- a patient's visit ---------------------------------------------------------------------


@pytest.fixture
def roomed_visit(clinic: Clinic, cart: StockLocation):
    from patientflow.models import Visit

    room = RoomFactory(clinic=clinic, name="Exam 2")
    StockLocation.objects.filter(pk=cart.pk).update(room=room)
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    now = timezone.now()
    appointment = AppointmentFactory(
        clinic=clinic,
        patient=patient,
        provider=StaffFactory(roles=[roles.PROVIDER], clinics=[clinic]),
        start=now,
    )
    return Visit.objects.create(
        clinic=clinic,
        appointment=appointment,
        patient=patient,
        step="roomed",
        step_since=now,
        room=room,
        checked_in_at=now,
    )


def test_roomed_patients_are_offered_and_the_showing_is_audited(
    nurse_client: Client, nurse: User, cart: StockLocation, gauze: LocationItem, roomed_visit
) -> None:
    response = nurse_client.get(log_url(cart))

    html = response.content.decode()
    assert "Quimby, Harriet" in html
    assert f'value="{roomed_visit.pk}" form="log-form"' in html
    event = AuditEvent.objects.get(object_type="supplies.tablet")
    assert event.actor == nurse
    assert event.changes["patient_ids"] == [roomed_visit.patient_id]


def test_the_picker_offers_only_todays_patients_in_a_room_at_this_clinic(
    client: Client, other_clinic: Clinic, cart: StockLocation, gauze: LocationItem, roomed_visit
) -> None:
    # given, besides Harriet Quimby roomed here today: a patient checked in but not roomed, one
    # roomed yesterday, and one roomed at the other clinic (the nurse works in both)
    from patientflow.models import Visit

    def visit(clinic: Clinic, name: str, step: str, at: datetime) -> None:
        patient = PatientFactory(clinic=clinic, last_name=name)
        in_room = step == "roomed"
        Visit.objects.create(
            clinic=clinic,
            appointment=AppointmentFactory(clinic=clinic, patient=patient, start=at),
            patient=patient,
            step=step,
            step_since=at,
            room=RoomFactory(clinic=clinic, name=f"Room {name}") if in_room else None,
            checked_in_at=at,
        )

    now = timezone.now()
    visit(cart.clinic, "Waiting", "checked_in", now)
    visit(cart.clinic, "Yesterday", "roomed", now - timedelta(days=1))
    visit(other_clinic, "Elsewhere", "roomed", now)
    nurse = StaffFactory(roles=[roles.NURSE], clinics=[cart.clinic, other_clinic]).user
    client.force_login(nurse)
    session = client.session
    session[SESSION_CLINIC] = cart.clinic_id
    session.save()

    # when
    html = client.get(log_url(cart)).content.decode()

    # then only she is offered, and only she is audited as shown
    assert "Quimby, Harriet" in html
    assert html.count('class="chip__input"') == 2  # "No patient" and her
    for name in ("Waiting", "Yesterday", "Elsewhere"):
        assert name not in html
    event = AuditEvent.objects.get(object_type="supplies.tablet")
    assert event.changes["patient_ids"] == [roomed_visit.patient_id]


def test_use_logged_for_a_visit_carries_the_patient(
    nurse_client: Client, cart: StockLocation, gauze: LocationItem, roomed_visit
) -> None:
    key = key_of(nurse_client.get(log_url(cart)))

    response = nurse_client.post(
        log_url(cart),
        {
            "idempotency_key": key,
            "visit": str(roomed_visit.pk),
            f"qty_{gauze.pk}": "2",
            "action": "log",
        },
    )

    assert "Logged at Exam 2 for Harriet Quimby" in response.content.decode()
    movement = StockMovement.objects.get(kind=StockMovement.Kind.USE)
    assert movement.patient_id == roomed_visit.patient_id
    assert movement.visit_id == roomed_visit.pk
    assert AuditEvent.objects.filter(
        object_type="supplies.usagesubmission", patient_id=roomed_visit.patient_id
    ).exists()


def test_another_clinics_visit_is_refused(
    client: Client, other_clinic: Clinic, cart: StockLocation, gauze: LocationItem, roomed_visit
) -> None:
    # A nurse of both clinics, at the cart of the first, picks a visit of the second.
    from patientflow.models import Visit

    nurse = StaffFactory(roles=[roles.NURSE], clinics=[cart.clinic, other_clinic]).user
    client.force_login(nurse)
    session = client.session
    session[SESSION_CLINIC] = cart.clinic_id
    session.save()
    Visit.objects.filter(pk=roomed_visit.pk).update(clinic=other_clinic)

    response = client.post(
        log_url(cart),
        {
            "idempotency_key": "d" * 32,
            "visit": str(roomed_visit.pk),
            f"qty_{gauze.pk}": "1",
            "action": "log",
        },
    )

    assert "That patient is no longer in a room here" in response.content.decode()
    assert on_hand(gauze) == 12
