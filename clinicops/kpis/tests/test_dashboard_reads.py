"""The dashboard's constant statements (decision 0049) against the querysets they stand for, and
its tiles' markup (written in Python) against the template partial it shares with the drill-down.

`selectors.chosen_metrics` reads kpis' choices and, through core's staff and user tables, each
owner's name in one statement; `selectors.freshness` reads the latest rollup. Each must equal
what the models' querysets return, for this clinic only, whatever the owners' names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Max
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.kpis import dashboard, markup, registry, selectors
from clinicops.kpis.models import ClinicMetricChoice, MetricDay
from clinicops.kpis.registry import Metric
from clinicops.kpis.selectors import Status

from .boards import dashboard_catalogue
from .conftest import Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def board_metrics(source: Source) -> Iterator[list[Metric]]:
    metrics = dashboard_catalogue(source)
    with registry.swapped(metrics):
        yield metrics


def _choose(
    clinic: Clinic, key: str, position: int, owner: User | None = None, **fields: Any
) -> None:
    ClinicMetricChoice.objects.create(
        clinic=clinic,
        key=key,
        position=position,
        target=fields.pop("target", Decimal("7.25")),
        alert_threshold=fields.pop("alert_threshold", Decimal("9.0625")),
        owner=owner.staff if owner is not None else None,
        **fields,
    )


def _as_orm_reads(clinic: Clinic) -> list[dict[str, Any]]:
    """What the dashboard read before: the queryset with its owner's user joined."""
    choices = ClinicMetricChoice.objects.filter(clinic=clinic).select_related("owner__user")
    return [_shown(c) for c in choices if registry.is_registered(c.key)]


def _shown(choice: ClinicMetricChoice) -> dict[str, Any]:
    values = {
        f.attname: getattr(choice, f.attname) for f in ClinicMetricChoice._meta.concrete_fields
    }
    owner = choice.owner
    values["owner"] = None if owner is None else (owner.pk, owner.user.pk, str(owner))
    return values


def test_chosen_metrics_are_the_clinics_choices_with_their_owners_as_the_orm_reads_them(
    clinic: Clinic,
    other_clinic: Clinic,
    make_user: Callable[..., User],
    board_metrics: list[Metric],
) -> None:
    named = make_user(roles.MANAGER, first_name="Ana", last_name="O'Neil <Ops>")
    unnamed = make_user(roles.MANAGER, username="ops-lead", first_name="", last_name="")
    # Saved out of order, one without an owner, a band, a metric no longer in the catalogue.
    _choose(clinic, "clean_claim_rate", 3, owner=unnamed, target=Decimal(95))
    _choose(clinic, "no_show_rate", 1, owner=named)
    _choose(clinic, "template_utilization", 2, target=Decimal(80), target_high=Decimal(85))
    _choose(clinic, "retired_metric", 4, owner=named)
    _choose(other_clinic, "no_show_rate", 1, owner=named, target=Decimal(3))

    with CaptureQueriesContext(connection) as queries:
        chosen = selectors.chosen_metrics(clinic)
        shown = [_shown(c) for c in chosen]
    assert len(queries) == 1
    assert shown == _as_orm_reads(clinic)
    assert [c.key for c in chosen] == ["no_show_rate", "template_utilization", "clean_claim_rate"]
    owners = [
        dashboard.Tile(c, registry.get(c.key), [], Status.NO_DATA, Status.NO_DATA).owner
        for c in chosen
    ]
    assert owners == ["Ana O'Neil <Ops>", "no owner", "ops-lead"]
    # The owner's other fields are there when asked for (read then, as with `.only()`).
    assert chosen[0].owner is not None
    assert chosen[0].owner.user.email == named.email
    assert chosen[0].clinic == clinic
    assert [_shown(c) for c in selectors.chosen_metrics(other_clinic)] == _as_orm_reads(
        other_clinic
    )


def test_no_choices_is_an_empty_list(clinic: Clinic, board_metrics: list[Metric]) -> None:
    assert selectors.chosen_metrics(clinic) == []


def test_freshness_is_the_latest_rollup_of_this_clinic_only(
    clinic: Clinic, other_clinic: Clinic
) -> None:
    assert selectors.freshness(clinic) is None
    for place, day, at in [
        (clinic, date(2026, 2, 2), datetime(2026, 2, 3, 7, 0, tzinfo=UTC)),
        (clinic, date(2026, 2, 3), datetime(2026, 2, 4, 7, 5, 12, 345678, tzinfo=UTC)),
        (other_clinic, date(2026, 2, 3), datetime(2026, 2, 5, 7, 0, tzinfo=UTC)),
    ]:
        MetricDay.objects.create(clinic=place, key="no_show_rate", day=day, computed_at=at)

    for place in (clinic, other_clinic):
        expected = MetricDay.objects.filter(clinic=place).aggregate(at=Max("computed_at"))["at"]
        assert selectors.freshness(place) == expected
    assert selectors.freshness(clinic) == datetime(2026, 2, 4, 7, 5, 12, 345678, tzinfo=UTC)


@pytest.mark.parametrize(
    ("definition", "description"),
    [
        ('Missed visits <b>without</b> a call, divided by "booked" & kept.', "Ignored."),
        ("", "Only a description, O'Brien's."),
        ("", ""),
    ],
)
def test_a_tiles_definition_is_the_partials_markup(
    board_metrics: list[Metric], definition: str, description: str
) -> None:
    metric = dataclasses.replace(
        board_metrics[0], label="No-show <rate>", definition=definition, description=description
    )
    partial = render_to_string("kpis/_definition.html", {"metric": metric})
    assert markup.definition_html(metric).strip() == partial.strip()
    assert "<b>" not in markup.definition_html(metric)


def test_a_tile_escapes_what_people_typed_and_links_its_figure_only_when_there_is_data(
    clinic: Clinic, make_user: Callable[..., User], board_metrics: list[Metric]
) -> None:
    owner = make_user(roles.MANAGER, first_name="<b>Ana</b>", last_name="& Co")
    _choose(clinic, "no_show_rate", 1, owner=owner)
    choice = selectors.chosen_metrics(clinic)[0]
    metric = dataclasses.replace(registry.get("no_show_rate"), label='No-show "rate" <x>')
    monday = date(2026, 2, 2)
    empty = dashboard.Tile(choice, metric, [], Status.NO_DATA, Status.NO_DATA)
    week = selectors.WeekFigure(
        monday, selectors.Figure(Decimal("7.25"), Decimal(29), Decimal(400))
    )
    measured = dataclasses.replace(empty, series=[week], status=Status.WATCH)

    html = markup.tile_html(measured, clinic_id=clinic.pk, week_start=monday)
    assert "&lt;b&gt;Ana&lt;/b&gt; &amp; Co" in html
    assert "No-show &quot;rate&quot; &lt;x&gt;" in html
    assert "<b>" not in html
    assert "<x>" not in html
    assert 'class="badge badge--warning kpi-tile__status">Watch<' in html
    assert f'href="/kpis/{clinic.pk}/drill/no_show_rate/?week=2026-02-02"' in html
    assert ">7.3 %<" in html
    assert "29 of 400" in html

    html = markup.tile_html(
        dataclasses.replace(empty, series=[selectors.WeekFigure(monday, selectors.NO_DATA)]),
        clinic_id=clinic.pk,
        week_start=monday,
    )
    assert "/drill/" not in html
    assert '<span class="kpi-tile__value">no data</span>' in html
    assert "Nothing to measure this week" in html
    assert "badge--neutral" in html
