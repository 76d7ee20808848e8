"""Choose metrics in a real browser: targets read as typed ("80", never "8E+1"), each input's
label sits on one line and the inputs of a metric line up (issue 11.7)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.kpis import services

from .test_dashboard import log_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

    Screenshot = Callable[[Page, str], list[Path]]

pytestmark = pytest.mark.browser


@pytest.fixture
def manager(make_user: Callable[..., User], clinic: Clinic) -> User:
    return make_user(roles.MANAGER, username="manager", first_name="Grace", last_name="Hopper")


@pytest.mark.parametrize("width", [1280, 768])
def test_choose_metrics_shows_round_targets_and_one_line_labels(
    page: Page, screenshot: Screenshot, manager: User, clinic: Clinic, width: int
) -> None:
    services.choose_metrics(
        actor=manager,
        clinic=clinic,
        choices=[
            services.MetricChoiceInput(
                key="no_show_rate", target=7, alert_threshold=10, owner=manager.staff
            ),
            services.MetricChoiceInput(
                key="template_utilization",
                target=80,
                target_high=90,
                alert_threshold=10,
                owner=manager.staff,
            ),
            services.MetricChoiceInput(
                key="supply_cost_per_visit", target=80, alert_threshold=100, owner=manager.staff
            ),
        ],
    )
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, "manager")
    page.goto(f"/kpis/{clinic.pk}/metrics/")

    values = page.eval_on_selector_all("input[type=number]", "els => els.map(e => e.value)")
    assert values
    assert not [v for v in values if "E" in v.upper()], values
    assert page.get_by_label("Supply cost per visit: target ($)").input_value() == "80"
    assert page.get_by_label("Template utilization: target band to (%)").input_value() == "90"

    rows = page.eval_on_selector_all(
        ".kpi-choice__inputs",
        """grids => grids.map(grid => [...grid.querySelectorAll('.field')].map(field => {
            const label = field.querySelector('label').getBoundingClientRect();
            const box = field.getBoundingClientRect();
            const input = field.querySelector('input, select').getBoundingClientRect();
            const line = parseFloat(getComputedStyle(field.querySelector('label')).lineHeight);
            return {
                label: label.height, line, labelTop: Math.round(label.top),
                inputTop: Math.round(input.top),
                overflow: label.right - box.right,
            };
        }))""",
    )
    assert rows
    for fields in rows:
        for field in fields:
            assert field["label"] <= field["line"] * 1.5, fields  # one line, not three
            assert field["overflow"] <= 1, fields  # and within its own column
        # the inputs of fields that share a row of the grid line up with each other
        for row_top in {f["labelTop"] for f in fields}:
            tops = [f["inputTop"] for f in fields if f["labelTop"] == row_top]
            assert max(tops) - min(tops) <= 2, fields
    screenshot(page, f"kpis-choose-metrics-{width}")
