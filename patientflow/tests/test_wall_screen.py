"""The waiting-room wall screen shows what the clinic configures, never a full name."""

from __future__ import annotations

import pytest
from django.test import Client

from clinicops.core.models import Clinic
from patientflow.models import Visit
from patientflow.services import checkin

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(appointment, front_desk) -> Visit:
    return checkin.check_in(actor=front_desk, appointment=appointment)


@pytest.mark.parametrize(
    ("display", "shown"),
    [
        (Clinic.WallDisplay.FIRST_NAME_INITIAL, "Harriet Q."),
        (Clinic.WallDisplay.INITIALS, "H. Q."),
    ],
)
def test_the_wall_shows_the_configured_name(
    client: Client, front_desk, visit, display: str, shown: str
) -> None:
    clinic = visit.clinic
    clinic.wall_display = display
    clinic.save()
    client.force_login(front_desk)
    html = client.get("/flow/?wall=1").content.decode()
    assert shown in html
    assert "Quimby" not in html
    # the desk's own board still names the patient in full
    assert "Quimby, Harriet" in client.get("/flow/").content.decode()


def test_the_wall_can_show_only_a_number(client: Client, front_desk, visit) -> None:
    clinic = visit.clinic
    clinic.wall_display = Clinic.WallDisplay.TICKET
    clinic.save()
    client.force_login(front_desk)
    html = client.get("/flow/?wall=1", headers={"HX-Request": "true"}).content.decode()
    assert f"No. {visit.pk}" in html
    assert "Harriet" not in html
    assert "Quimby" not in html


def test_the_default_is_first_name_and_last_initial() -> None:
    assert Clinic().wall_display == Clinic.WallDisplay.FIRST_NAME_INITIAL
