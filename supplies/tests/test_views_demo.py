"""The demo data (`manage.py seed_supplies`) gives every supplies screen something to show."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from clinicops.core.models import Clinic, Room, User
from clinicops.core.tests.factories import RoomFactory
from supplies import selectors
from supplies.models import LocationItem, StockLocation, StockMovement

pytestmark = pytest.mark.django_db


def test_seeding_several_carts_never_runs_the_supply_room_dry(
    client: Client, clinic: Clinic, nurse: User, manager: User
) -> None:
    # given a clinic with three exam rooms (small-par items need many refills)
    for name in ("Exam 1", "Exam 2", "Exam 3"):
        RoomFactory(clinic=clinic, name=name, kind=Room.Kind.EXAM)

    # when the demo is seeded, twice
    call_command("seed_supplies", stdout=StringIO())
    movements = StockMovement.objects.count()
    call_command("seed_supplies", stdout=StringIO())

    # then it is complete, consistent and seeded once
    assert StockMovement.objects.count() == movements
    assert StockLocation.objects.filter(clinic=clinic).count() == 4
    assert selectors.ledger_mismatches() == []
    assert StockMovement.objects.filter(kind="use").count() > 500
    assert not LocationItem.objects.filter(on_hand__lt=0).exists()
    assert selectors.expired(clinic).exists()

    # and the screens have stock to show
    cart = StockLocation.objects.get(clinic=clinic, name="Exam 2 cart")
    client.force_login(nurse)
    tablet = client.get(f"/supplies/use/{cart.pk}/").content.decode()
    assert tablet.count("data-tile ") == 15
    assert client.get("/supplies/below-par/").status_code == 200
    assert "Waste all expired" in client.get("/supplies/expiry/").content.decode()
    client.force_login(manager)
    assert client.get(f"/supplies/levels/?location={cart.pk}").status_code == 200
