"""Administrators keep reference data in the Django admin; nobody edits patients there."""

from __future__ import annotations

import pytest
from django.test import Client

from clinicops.core import roles
from clinicops.core.tests.factories import PayerFactory, RoomFactory

pytestmark = pytest.mark.django_db

REFERENCE_PAGES = [
    "/admin/core/clinic/",
    "/admin/core/room/",
    "/admin/core/payer/",
    "/admin/core/staff/",
    "/admin/core/user/",
]


@pytest.fixture
def administrator(make_user):
    user = make_user(roles.ADMINISTRATOR, username="admin")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.mark.parametrize("path", REFERENCE_PAGES)
def test_administrator_manages_reference_data(client: Client, administrator, clinic, path) -> None:
    RoomFactory(clinic=clinic)
    PayerFactory()
    client.force_login(administrator)
    assert client.get(path).status_code == 200


def test_clinic_page_edits_opening_hours_and_rooms_inline(client: Client, administrator, clinic):
    client.force_login(administrator)
    html = client.get(f"/admin/core/clinic/{clinic.pk}/change/").content.decode()
    assert "opening_hours-TOTAL_FORMS" in html
    assert "rooms-TOTAL_FORMS" in html


def test_patients_are_not_in_the_admin(client: Client, administrator) -> None:
    client.force_login(administrator)
    assert client.get("/admin/core/patient/").status_code == 404


def test_front_desk_cannot_use_the_admin(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    response = client.get("/admin/core/clinic/")
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_a_signed_in_non_administrator_is_told_no_rather_than_sent_round_in_circles(
    client: Client, front_desk
) -> None:
    client.force_login(front_desk)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) <= 2
