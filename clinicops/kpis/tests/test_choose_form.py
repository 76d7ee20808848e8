"""Choose metrics: targets shown as typed ("80", not "8E+1"), short labels (issue 11.7)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.test import Client

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.kpis import registry
from clinicops.kpis.forms import plain_number
from clinicops.kpis.registry import Metric

from .boards import choose, dashboard_catalogue
from .conftest import Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def board_metrics(source: Source) -> Iterator[list[Metric]]:
    metrics = dashboard_catalogue(source)
    with registry.swapped(metrics):
        yield metrics


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager", email="manager@example.org")


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("80.0000", "80"),
        ("100.0000", "100"),
        ("7.5000", "7.5"),
        ("8.7500", "8.75"),
        ("0.0000", "0"),
        ("12.4000", "12.4"),
    ],
)
def test_a_stored_target_is_shown_as_typed(stored: str, shown: str) -> None:
    assert str(plain_number(Decimal(stored))) == shown


def test_the_form_shows_saved_round_targets_without_an_exponent(
    client: Client, manager: User, clinic: Clinic, board_metrics: list[Metric]
) -> None:
    choose(
        clinic,
        manager,
        ["no_show_rate", "clean_claim_rate", "door_to_provider_min"],
        clean_claim_rate=(90, 80),
        door_to_provider_min=(20, 30),
    )
    client.force_login(manager)

    html = client.get(f"/kpis/{clinic.pk}/metrics/").content.decode()

    assert "E+" not in html
    assert re.search(r'name="clean_claim_rate-target"[^>]*value="90"', html)
    assert re.search(r'name="clean_claim_rate-alert"[^>]*value="80"', html)
    assert re.search(r'name="door_to_provider_min-alert"[^>]*value="30"', html)


def test_the_visible_labels_are_short_and_the_accessible_names_full(
    client: Client, manager: User, clinic: Clinic, board_metrics: list[Metric]
) -> None:
    client.force_login(manager)

    html = client.get(f"/kpis/{clinic.pk}/metrics/").content.decode()

    label = re.search(
        r'<label class="field__label" for="id_no_show_rate-target">(.*?)</label>', html
    )
    assert label is not None
    assert label.group(1) == (
        '<span class="visually-hidden">No-show rate: </span>'
        '<span class="kpi-choice__short">target (%)</span>'
    )
