"""The dashboard screens: roles, scoping, full page vs fragment, the 3-5 rule, colours, CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, User
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, StaffFactory
from clinicops.core.tests.test_layout import Page
from clinicops.core.tests.test_layout import assert_layout as assert_core_layout
from clinicops.kpis import registry
from clinicops.kpis.models import ClinicMetricChoice, MetricDay
from clinicops.kpis.registry import Metric

from .boards import MONDAY, SUNDAY, choose, dashboard_catalogue, fill_week, roll
from .conftest import Source

pytestmark = pytest.mark.django_db

WEEK = f"?week={MONDAY:%Y-%m-%d}"
CHOSEN = ["no_show_rate", "clean_claim_rate", "door_to_provider_min", "template_utilization"]


@pytest.fixture
def board_metrics(source: Source) -> Iterator[list[Metric]]:
    """Exactly the dashboard test catalogue is registered for the test."""
    metrics = dashboard_catalogue(source)
    with registry.swapped(metrics):
        yield metrics


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager", email="manager@example.org")


@pytest.fixture
def chosen(clinic: Clinic, manager: User, board_metrics: list[Metric]) -> list[str]:
    choose(clinic, manager, CHOSEN, door_to_provider_min=(20, 25))
    return CHOSEN


@pytest.fixture
def rolled(clinic: Clinic, source: Source, chosen: list[str]) -> None:
    fill_week(source, clinic)
    roll(clinic, MONDAY - timedelta(weeks=1), SUNDAY)


def assert_layout(response: HttpResponse) -> Page:
    """The shared layout rules, with the charts left out: core's checker reads an SVG's
    <title> (the chart's accessible name) as the page's own title."""
    response.content = re.sub(r"<svg\b.*?</svg>", "", response.content.decode(), flags=re.S)
    return assert_core_layout(response)


def url(clinic: Clinic, suffix: str = "") -> str:
    return f"/kpis/{clinic.pk}/{suffix}"


# --- who may see what ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        (roles.FRONT_DESK, "", 403),
        (roles.NURSE, "", 403),
        (roles.BILLER, "", 403),
        (roles.MANAGER, "", 200),
        (roles.ADMINISTRATOR, "", 200),
        (roles.ADMINISTRATOR, "metrics/", 403),
        (roles.PROVIDER, "metrics/", 403),
        (roles.MANAGER, "metrics/", 200),
        (roles.FRONT_DESK, "weekly.csv", 403),
        (roles.NURSE, "drill/no_show_rate/", 403),
    ],
)
def test_each_screen_answers_only_the_roles_that_hold_its_permission(
    client: Client,
    make_user: Callable[..., User],
    clinic: Clinic,
    chosen: list[str],
    role: str,
    path: str,
    status: int,
) -> None:
    client.force_login(make_user(role))

    assert client.get(url(clinic, path) + WEEK).status_code == status


@pytest.mark.parametrize(
    "path",
    ["", "metrics/", "weekly.csv", "drill/no_show_rate/", "drill/no_show_rate/export.csv"],
)
def test_another_clinics_screens_are_not_found(
    client: Client,
    manager: User,
    other_clinic: Clinic,
    source: Source,
    chosen: list[str],
    path: str,
) -> None:
    choose(other_clinic, StaffFactory(clinics=[other_clinic]).user, CHOSEN[:3])
    client.force_login(manager)

    response = client.get(url(other_clinic, path) + WEEK)

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(object_type="kpis.drilldown").exists()


def test_an_unknown_metric_or_one_without_a_drilldown_is_not_found(
    client: Client, manager: User, clinic: Clinic, chosen: list[str]
) -> None:
    client.force_login(manager)

    assert client.get(url(clinic, "drill/made_up/")).status_code == 404
    assert client.get(url(clinic, "drill/clean_claim_rate/")).status_code == 404


def test_the_navigation_links_managers_to_the_dashboard(
    client: Client, manager: User, front_desk: User
) -> None:
    client.force_login(manager)
    assert 'href="/kpis/">Dashboard</a>' in client.get("/").content.decode()
    client.force_login(front_desk)
    assert "/kpis/" not in client.get("/").content.decode()


# --- the weekly page ----------------------------------------------------------------------


def test_the_dashboard_is_a_full_page_or_for_htmx_the_week_fragment(
    client: Client, manager: User, clinic: Clinic, rolled: None
) -> None:
    client.force_login(manager)

    page = client.get(url(clinic) + WEEK)
    fragment = client.get(url(clinic) + WEEK, headers={"HX-Request": "true"})
    restore = client.get(
        url(clinic) + WEEK,
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )

    assert_layout(page)
    assert "<html" in page.content.decode()
    html = fragment.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="dashboard-week"')
    assert "No-show rate" in html
    assert "<html" in restore.content.decode()
    assert "HX-Request" in page["Vary"]
    assert "no-cache" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]


def test_each_tile_shows_its_status_colour_and_no_data_instead_of_zero(
    client: Client, manager: User, clinic: Clinic, rolled: None
) -> None:
    client.force_login(manager)

    html = client.get(url(clinic) + WEEK).content.decode()

    tiles = dict(
        re.findall(
            r'kpi-tile--(\w+)" aria-labelledby="tile-(\w+)-title"',
            html,
        )[i][::-1]
        for i in range(4)
    )
    assert tiles == {
        "no_show_rate": "on_target",
        "clean_claim_rate": "watch",
        "door_to_provider_min": "alert",
        "template_utilization": "no_data",
    }
    assert "5.0 %" in html  # 5 no-shows of 100
    assert "5 of 100" in html
    assert "90.0 %" in html
    assert "45 min" in html
    tile = html.split('id="tile-template_utilization-title"')[1].split("</article>")[0]
    figure = tile.split('<p class="kpi-tile__figure">')[1].split("</p>")[0]
    assert '<span class="kpi-tile__value">no data</span>' in figure
    assert "%" not in figure
    assert 'badge--neutral kpi-tile__status">No data' in tile
    for status, badge in (("On target", "success"), ("Watch", "warning"), ("Alert", "danger")):
        assert f'badge--{badge} kpi-tile__status">{status}' in html


def test_a_tile_shows_last_week_the_target_the_owner_and_the_change(
    client: Client, manager: User, clinic: Clinic, source: Source, chosen: list[str]
) -> None:
    source.put(clinic, MONDAY - timedelta(days=7), "no_show_rate", (8, 100))
    source.put(clinic, MONDAY, "no_show_rate", (5, 100))
    roll(clinic, MONDAY - timedelta(weeks=1), SUNDAY)
    client.force_login(manager)

    html = client.get(url(clinic) + WEEK).content.decode()
    tile = html.split('id="tile-no_show_rate-title"')[1].split("</article>")[0]

    assert "<dt>Last week</dt><dd>8.0 %</dd>" in tile
    assert "<dt>Target</dt><dd>≤ 7.0 %</dd>" in tile
    assert "<dt>Alert</dt><dd>≥ 10.0 %</dd>" in tile
    assert f"<dt>Owner</dt><dd>{manager.display_name}</dd>" in tile
    assert "down 3.0 points from last week" in tile


def test_the_trend_chart_is_an_accessible_svg_with_the_target_line_and_a_data_table(
    client: Client, manager: User, clinic: Clinic, rolled: None
) -> None:
    client.force_login(manager)

    html = client.get(url(clinic) + WEEK).content.decode()
    tile = html.split('id="tile-no_show_rate-title"')[1].split("</article>")[0]

    svg = re.search(r"<svg[^>]*>", tile).group(0)
    assert 'role="img"' in svg
    assert f'aria-labelledby="trend-{clinic.pk}-no_show_rate-title' in svg
    assert f'<title id="trend-{clinic.pk}-no_show_rate-title">No-show rate: 12-week trend' in tile
    assert "<desc" in tile
    assert "the target 7.0 %" in tile
    assert 'class="kpi-chart__target"' in tile
    assert 'class="kpi-chart__alert"' in tile
    assert tile.count('<tr><th scope="row">') == 12
    assert "<td>5.0 %</td><td>On target</td>" in tile
    assert "<td>no data</td><td>No data</td>" in tile
    band = html.split('id="tile-template_utilization-title"')[1].split("</article>")[0]
    assert 'class="kpi-chart__band"' in band


def test_the_week_picker_moves_between_weeks_and_refuses_bad_input(
    client: Client, manager: User, clinic: Clinic, rolled: None
) -> None:
    client.force_login(manager)

    wednesday = client.get(url(clinic) + f"?week={MONDAY + timedelta(days=2):%Y-%m-%d}")
    nonsense = client.get(url(clinic) + "?week=2026-13-45")
    future = client.get(url(clinic) + f"?week={clinic.today() + timedelta(days=8):%Y-%m-%d}")

    assert "Week of Monday 2 February 2026" in wednesday.content.decode()
    assert f"?week={MONDAY - timedelta(weeks=1):%Y-%m-%d}" in wednesday.content.decode()
    assert nonsense.status_code == 200
    assert "Week of: Enter a date as YYYY-MM-DD." in nonsense.content.decode()
    assert future.status_code == 200
    assert "That week has not started yet. Pick a past week." in future.content.decode()


def test_freshness_is_shown_in_clinic_time(
    client: Client, manager: User, clinic: Clinic, rolled: None
) -> None:
    MetricDay.objects.filter(clinic=clinic).update(
        computed_at=datetime(2026, 2, 9, 7, 3, tzinfo=UTC)  # 02:03 in New York
    )
    client.force_login(manager)

    html = client.get(url(clinic) + WEEK).content.decode()

    assert "Rolled up at <time" in html
    assert ">02:03</time> on Mon 9 Feb (America/New_York)" in html


def test_the_dashboard_renders_from_the_rollup_table_only(
    client: Client, manager: User, clinic: Clinic, source: Source, rolled: None
) -> None:
    client.force_login(manager)
    calls = source.calls

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(clinic) + WEEK)

    assert response.status_code == 200
    assert source.calls == calls  # no metric was computed
    tables = {
        t for q in queries for t in re.findall(r'(?<!ISODOW )(?:FROM|JOIN) "?(\w+)"?', q["sql"])
    } - {"LATERAL"}
    # Only the rollup, the shared model and the session: no app's raw tables. (The one
    # compliance table is the access check: does this user hold a break-glass grant, read once
    # and then cached.)
    access_checks = {"compliance_breakglassaccess"}
    assert {
        t
        for t in tables - access_checks
        if not t.startswith(("kpis_", "core_", "auth_", "django_"))
    } <= {
        "rows",
        "sums",
        "medians",
        "group_means",
        "means",
    }
    assert "kpis_metricday" in tables
    assert len(queries) <= 15


def test_without_chosen_metrics_the_manager_is_asked_to_choose(
    client: Client, manager: User, clinic: Clinic, board_metrics: list[Metric]
) -> None:
    client.force_login(manager)

    html = client.get(url(clinic)).content.decode()

    assert "No metrics chosen yet" in html
    assert f'href="/kpis/{clinic.pk}/metrics/"' in html


def test_kpis_index_shows_the_current_clinic(
    client: Client, manager: User, clinic: Clinic, rolled: None
) -> None:
    client.force_login(manager)

    html = client.get("/kpis/" + WEEK).content.decode()

    assert clinic.name in html
    assert 'id="tile-no_show_rate-title"' in html


# --- choosing metrics ---------------------------------------------------------------------


def choice_post(owner: User, keys: list[str], **fields: str) -> dict[str, str]:
    data = {}
    for key in keys:
        data[f"{key}-chosen"] = "on"
        data[f"{key}-owner"] = str(owner.staff.pk)
    data.update(fields)
    return data


def test_the_choice_screen_lists_the_catalogue_with_defaults(
    client: Client, manager: User, clinic: Clinic, board_metrics: list[Metric]
) -> None:
    client.force_login(manager)

    response = client.get(url(clinic, "metrics/"))

    page = assert_layout(response)
    html = response.content.decode()
    for metric in board_metrics:
        assert f'<legend class="fieldset__legend">{metric.label}</legend>' in html
    assert 'name="no_show_rate-target" value="7"' in html
    assert 'name="template_utilization-target_high" value="85"' in html
    assert page.unlabelled_controls() == []


def test_three_to_five_metrics_are_saved_in_the_chosen_order(
    client: Client, manager: User, clinic: Clinic, board_metrics: list[Metric]
) -> None:
    client.force_login(manager)
    data = choice_post(
        manager,
        ["no_show_rate", "clean_claim_rate", "tnaa_days", "template_utilization"],
        **{"tnaa_days-position": "1", "no_show_rate-target": "6.5", "no_show_rate-alert": "9"},
    )

    response = client.post(url(clinic, "metrics/"), data)

    assert response.status_code == 302
    assert response["Location"] == url(clinic)
    saved = list(ClinicMetricChoice.objects.filter(clinic=clinic).order_by("position"))
    assert next(c.key for c in saved) == "tnaa_days"
    assert {c.key for c in saved} == {
        "no_show_rate",
        "clean_claim_rate",
        "tnaa_days",
        "template_utilization",
    }
    no_show = next(c for c in saved if c.key == "no_show_rate")
    assert (no_show.target, no_show.alert_threshold, no_show.owner) == (6.5, 9, manager.staff)
    assert AuditEvent.objects.filter(object_type="kpis.clinicmetricchoice").exists()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["no_show_rate", "clean_claim_rate"], "Choose at least 3 metrics (you chose 2)."),
        (
            [
                "no_show_rate",
                "clean_claim_rate",
                "tnaa_days",
                "template_utilization",
                "door_to_provider_min",
                "new_patients_female_share",
            ],
            "Choose at most 5 metrics (you chose 6).",
        ),
    ],
)
def test_fewer_than_three_or_more_than_five_are_refused_with_a_clear_message(
    client: Client,
    manager: User,
    clinic: Clinic,
    chosen: list[str],
    keys: list[str],
    message: str,
) -> None:
    client.force_login(manager)

    response = client.post(url(clinic, "metrics/"), choice_post(manager, keys))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert (
        list(ClinicMetricChoice.objects.filter(clinic=clinic).values_list("key", flat=True))
        == CHOSEN
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"no_show_rate-target": "seven"}, "No-show rate: target (%): Enter a number."),
        ({"no_show_rate-target": "NaN"}, "No-show rate: target (%): Enter a number."),
        ({"no_show_rate-target": "1e400"}, "No-show rate: target (%): Ensure that there are"),
        ({"no_show_rate-target": "120"}, "Ensure this value is less than or equal to 100."),
        ({"no_show_rate-alert": "-3"}, "Ensure this value is greater than or equal to 0."),
        (
            {"no_show_rate-target": "7", "no_show_rate-alert": "5"},
            "No-show rate: lower is better, so the alert threshold (5) must be at or above the "
            "target (7).",
        ),
        ({"no_show_rate-owner": ""}, "No-show rate: owner: Choose who owns this metric."),
        ({"no_show_rate-owner": "banana"}, "No-show rate: owner: Select a valid choice."),
        (
            {"no_show_rate-position": "1", "clean_claim_rate-position": "1"},
            "Two metrics have this position.",
        ),
        (
            {"supply_cost_per_visit-chosen": "on", "supply_cost_per_visit-owner": "OWNER"},
            "Supply cost per visit: target ($): Set a target (use your baseline).",
        ),
    ],
)
def test_bad_choices_are_refused_naming_the_field_and_change_nothing(
    client: Client,
    manager: User,
    clinic: Clinic,
    chosen: list[str],
    fields: dict[str, str],
    message: str,
) -> None:
    client.force_login(manager)
    data = choice_post(manager, ["no_show_rate", "clean_claim_rate", "tnaa_days"])
    data.update({k: v.replace("OWNER", str(manager.staff.pk)) for k, v in fields.items()})

    response = client.post(url(clinic, "metrics/"), data)

    assert response.status_code == 200
    assert_layout(response)
    html = response.content.decode().replace("&#x27;", "'")
    assert message in html
    assert (
        list(ClinicMetricChoice.objects.filter(clinic=clinic).values_list("key", flat=True))
        == CHOSEN
    )


def test_an_owner_from_another_clinic_cannot_be_chosen(
    client: Client, manager: User, clinic: Clinic, other_clinic: Clinic, chosen: list[str]
) -> None:
    stranger = StaffFactory(clinics=[other_clinic])
    client.force_login(manager)
    data = choice_post(manager, ["no_show_rate", "clean_claim_rate", "tnaa_days"])
    data["tnaa_days-owner"] = str(stranger.pk)

    response = client.post(url(clinic, "metrics/"), data)

    assert "Third next available appointment: owner: Select a valid choice." in (
        response.content.decode()
    )
    assert ClinicMetricChoice.objects.filter(clinic=clinic, key="tnaa_days").count() == 0


def test_a_stray_entry_in_an_unchosen_metric_is_ignored(
    client: Client, manager: User, clinic: Clinic, board_metrics: list[Metric]
) -> None:
    client.force_login(manager)
    data = choice_post(manager, ["no_show_rate", "clean_claim_rate", "tnaa_days"])
    data["door_to_provider_min-target"] = "soon"

    response = client.post(url(clinic, "metrics/"), data)

    assert response.status_code == 302
    assert ClinicMetricChoice.objects.filter(clinic=clinic).count() == 3


# --- drill-down ---------------------------------------------------------------------------


@pytest.fixture
def new_patients(clinic: Clinic, other_clinic: Clinic) -> list[Patient]:
    """Two patients registered at the clinic in the week, one before it, one elsewhere."""
    inside = [
        PatientFactory(clinic=clinic, last_name="Ahn", sex=Patient.Sex.FEMALE),
        PatientFactory(clinic=clinic, last_name="Brody", sex=Patient.Sex.MALE),
    ]
    before = PatientFactory(clinic=clinic, last_name="Early")
    elsewhere = PatientFactory(clinic=other_clinic, last_name="Faraway")
    in_week = datetime(2026, 2, 4, 15, 0, tzinfo=UTC)
    Patient.objects.filter(pk__in=[p.pk for p in inside]).update(created_at=in_week)
    Patient.objects.filter(pk=before.pk).update(created_at=in_week - timedelta(days=10))
    Patient.objects.filter(pk=elsewhere.pk).update(created_at=in_week)
    return inside


def test_a_drilldown_shows_the_weeks_records_of_this_clinic_only_and_audits_each_patient(
    client: Client,
    manager: User,
    clinic: Clinic,
    board_metrics: list[Metric],
    new_patients: list[Patient],
) -> None:
    client.force_login(manager)

    response = client.get(url(clinic, "drill/new_patients_female_share/") + WEEK)

    assert response.status_code == 200
    assert_layout(response)
    html = response.content.decode()
    assert "Ahn, " in html
    assert "Brody, " in html
    assert "Early" not in html
    assert "Faraway" not in html
    assert "2 records" in html
    events = AuditEvent.objects.filter(object_type="kpis.drilldown", action="view")
    assert sorted(events.values_list("patient_id", flat=True)) == sorted(p.pk for p in new_patients)
    assert {e.actor_id for e in events} == {manager.pk}
    assert {e.clinic_id for e in events} == {clinic.pk}


def test_a_drilldown_naming_patients_is_refused_to_a_role_that_cannot_see_patients(
    client: Client,
    make_user: Callable[..., User],
    clinic: Clinic,
    board_metrics: list[Metric],
    new_patients: list[Patient],
) -> None:
    client.force_login(make_user(roles.ADMINISTRATOR))

    response = client.get(url(clinic, "drill/new_patients_female_share/") + WEEK)

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(object_type="kpis.drilldown").exists()


def test_a_drilldown_is_a_fragment_for_htmx_and_linked_from_the_tile(
    client: Client, manager: User, clinic: Clinic, rolled: None
) -> None:
    client.force_login(manager)

    board = client.get(url(clinic) + WEEK).content.decode()
    fragment = client.get(
        url(clinic, "drill/no_show_rate/") + WEEK, headers={"HX-Request": "true"}
    ).content.decode()

    link = f'href="/kpis/{clinic.pk}/drill/no_show_rate/?week=2026-02-02"'
    assert link in board
    assert 'hx-target="#drilldown"' in board
    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<div class="panel kpi-drilldown"')
    assert "No-show rate, week of Mon 2 Feb 2026: 5.0 %" in fragment
    assert "Figure from 5 of 100." in fragment
    assert fragment.count("<tr><td>") == 2  # Monday and Tuesday


def test_drilldown_csv_has_every_record_safe_for_spreadsheets_and_is_audited(
    client: Client, manager: User, clinic: Clinic, source: Source, rolled: None
) -> None:
    source.put(clinic, MONDAY, "note", '=HYPERLINK("http://evil")')
    client.force_login(manager)

    response = client.get(url(clinic, "drill/no_show_rate/export.csv") + WEEK)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="no_show_rate-2026-02-02.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["Day", "No-shows", "Appointments", "Note"]
    assert rows[1] == ["2026-02-02", "3", "60", '\'=HYPERLINK("http://evil")']
    assert rows[2] == ["2026-02-03", "2", "40", ""]
    assert AuditEvent.objects.filter(object_type="kpis.drilldown", action="export").count() == 1


def test_weekly_csv_has_twelve_weeks_and_leaves_weeks_without_data_empty(
    client: Client, manager: User, clinic: Clinic, rolled: None
) -> None:
    client.force_login(manager)

    response = client.get(url(clinic, "weekly.csv") + WEEK)

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "Week of",
        "No-show rate (%)",
        "Clean claim rate (%)",
        "Door-to-provider (median) (minutes)",
        "Template utilization (%)",
    ]
    assert len(rows) == 13
    assert rows[-1] == ["2026-02-02", "5.00", "90.00", "45.00", ""]
    assert rows[-2][1:] == ["", "", "", ""]


# --- health-system view -------------------------------------------------------------------


def test_the_health_system_view_shows_each_of_the_users_clinics_side_by_side(
    client: Client,
    make_user: Callable[..., User],
    clinic: Clinic,
    other_clinic: Clinic,
    source: Source,
    rolled: None,
) -> None:
    third = ClinicFactory(name="Not Mine Clinic")
    regional = make_user(roles.MANAGER, clinics=[clinic, other_clinic])
    choose(other_clinic, regional, ["no_show_rate", "tnaa_days", "clean_claim_rate"])
    choose(
        third, StaffFactory(clinics=[third]).user, ["no_show_rate", "tnaa_days", "clean_claim_rate"]
    )
    source.put(other_clinic, MONDAY, "no_show_rate", (12, 100))
    roll(other_clinic, MONDAY, SUNDAY)
    client.force_login(regional)

    response = client.get("/kpis/system/" + WEEK)
    fragment = client.get("/kpis/system/" + WEEK, headers={"HX-Request": "true"})

    assert_layout(response)
    html = response.content.decode()
    assert clinic.name in html
    assert other_clinic.name in html
    assert "Not Mine Clinic" not in html
    headers = re.findall(r'<th scope="col">([^<]+)</th>', html)
    assert headers[0] == "Clinic"
    assert set(headers[1:]) == {
        "Clean claim rate",
        "Door-to-provider (median)",
        "No-show rate",
        "Template utilization",
        "Third next available appointment",
    }
    assert "12.0 %" in html
    assert "5.0 %" in html
    assert "not chosen" in html
    assert "<html" not in fragment.content.decode()
    assert 'href="/kpis/system/">All clinics</a>' in client.get(url(clinic) + WEEK).content.decode()


def test_each_tile_and_its_drilldown_disclose_the_definition_in_force(
    client: Client, manager: User, clinic: Clinic, source: Source
) -> None:
    """ "How this is computed" shows `Metric.definition` (not the short description), in a
    <details> disclosure a keyboard and a screen reader can open, on the tile and on the
    drill-down page; a metric without a definition falls back to its description."""
    from dataclasses import replace

    defined = "Counted <carefully>: no-shows over appointments not cancelled early."
    metrics = [
        replace(m, definition=defined) if m.key == "no_show_rate" else replace(m, definition="")
        for m in dashboard_catalogue(source)
    ]
    with registry.swapped(metrics):
        choose(clinic, manager, CHOSEN, door_to_provider_min=(20, 25))
        fill_week(source, clinic)
        roll(clinic, MONDAY - timedelta(weeks=1), SUNDAY)
        client.force_login(manager)
        html = client.get(url(clinic) + WEEK).content.decode()
        drill = client.get(url(clinic, "drill/no_show_rate/") + WEEK).content.decode()

    tile = html.split('id="tile-no_show_rate-title"')[1].split("</article>")[0]
    escaped = "Counted &lt;carefully&gt;: no-shows over appointments not cancelled early."
    disclosure = re.search(
        r"<details[^>]*>\s*<summary[^>]*>How this is computed.*?</details>", tile, re.S
    )
    assert disclosure is not None
    assert escaped in disclosure.group(0)
    assert re.search(r"<details[^>]*>\s*<summary[^>]*>How this is computed", drill)
    assert escaped in drill
