"""A manager's Monday in a real browser: choose the metrics, read the week, drill into a figure."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import DEMO_PASSWORD, PatientFactory, StaffFactory
from clinicops.kpis import registry, services
from clinicops.kpis.dashboard import last_complete_week

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .conftest import ConsoleLog

    Screenshot = Callable[[Page, str], list[Path]]

pytestmark = pytest.mark.browser

WEEKS = 13


@pytest.fixture
def manager(make_user: Callable[..., User], clinic: Clinic) -> User:
    return make_user(roles.MANAGER, username="manager", first_name="Grace", last_name="Hopper")


def at(clinic: Clinic, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=clinic.tz).astimezone(UTC)


def seed_weeks(clinic: Clinic) -> date:
    """Thirteen weeks of supply use and refills, completed visits and stockouts (for
    the drill-down; the stockout rate reads the ledger), rolled up;
    returns the Monday of the week the dashboard opens on."""
    from scheduling.models import Appointment, AppointmentType
    from supplies.models import (
        LocationItem,
        StockLocation,
        StockMovement,
        SupplyItem,
    )

    rng = random.Random(6)
    week = last_complete_week(clinic)
    first = week - timedelta(weeks=WEEKS - 1)
    provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
    kind = AppointmentType.objects.create(clinic=clinic, name="Follow-up", duration_minutes=20)
    patients = [PatientFactory(clinic=clinic) for _ in range(5)]
    cart = StockLocation.objects.create(clinic=clinic, name="Exam 2 cart")
    items = [
        LocationItem.objects.create(
            location=cart,
            item=SupplyItem.objects.create(
                sku=f"DASH-{n}", name=name, unit_cost=Decimal(cost), is_critical=n == 0
            ),
            par=10,
            reorder_point=3,
            max_quantity=20,
        )
        for n, (name, cost) in enumerate(
            [("Suture kit", "6.40"), ("Gauze 4x4", "0.12"), ("Saline flush", "0.45")]
        )
    ]
    days = [first + timedelta(days=i) for i in range(WEEKS * 7)]
    level = dict.fromkeys(items, 0)
    for day in days:
        if day.weekday() >= 5:
            continue
        for item in items:
            if rng.random() < 0.88 and level[item] < 40:  # the morning refill, mostly done
                StockMovement.objects.create(
                    location_item=item,
                    kind="receive",
                    quantity=40 - level[item],
                    unit_cost=item.item.unit_cost,
                    occurred_at=at(clinic, day, 7),
                )
                level[item] = 40
        for slot in range(rng.randint(6, 12)):
            start = at(clinic, day, 8) + timedelta(minutes=20 * slot)
            Appointment.objects.create(
                clinic=clinic,
                patient=rng.choice(patients),
                provider=provider,
                appointment_type=kind,
                start=start,
                end=start + timedelta(minutes=20),
                status=rng.choices(["completed", "no_show"], weights=[9, 1])[0],
            )
        for _ in range(rng.randint(5, 15)):
            item = rng.choice(items)
            used = min(rng.randint(1, 4), level[item])
            if not used:
                continue
            level[item] -= used
            StockMovement.objects.create(
                location_item=item,
                kind="use",
                quantity=-used,
                unit_cost=item.item.unit_cost,
                occurred_at=at(clinic, day, rng.randint(8, 16), rng.randint(0, 59)),
                patient=rng.choice(patients),
            )
        for n, item in enumerate(items):  # some end the day empty (every Wednesday, one)
            if level[item] and (rng.random() < 0.12 or (n == 2 and day.weekday() == 2)):
                StockMovement.objects.create(
                    location_item=item,
                    kind="count_adjust",
                    reason="lost",
                    quantity=-level[item],
                    unit_cost=item.item.unit_cost,
                    occurred_at=at(clinic, day, 17),
                )
                level[item] = 0
    services.rollup_clinic_days(clinic=clinic, days=days)
    return week


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def pick(page: Page, label: str, *, owner: str, target: str | None = None) -> None:
    page.get_by_label(f"Show {label} on the dashboard").check()
    if target is not None:
        page.get_by_label(re.compile(f"^{re.escape(label)}: target")).fill(target)
    page.get_by_label(f"{label}: owner").select_option(label=owner)


def test_a_manager_picks_metrics_reads_the_week_and_drills_into_a_figure(
    page: Page,
    console: ConsoleLog,
    screenshot: Screenshot,
    manager: User,
    clinic: Clinic,
) -> None:
    assert {"supply_cost_per_visit", "stockout_rate", "no_show_rate", "template_utilization"} <= {
        m.key for m in registry.all_metrics()
    }, "the journey needs supplies' and scheduling's metrics registered"
    week = seed_weeks(clinic)

    # given a manager with no metrics chosen yet
    log_in(page, "manager")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text("No metrics chosen yet")).to_be_visible()
    page.get_by_role("link", name="Choose metrics").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose dashboard metrics")

    # when they pick only two, the rule is explained and nothing is saved
    pick(page, "Supply cost per visit", owner="Grace Hopper", target="4.50")
    pick(page, "Stockout rate", owner="Grace Hopper")
    page.get_by_role("button", name="Save dashboard metrics").click()
    expect(page.locator(".error-summary")).to_contain_text(
        "Choose at least 3 metrics (you chose 2)."
    )
    screenshot(page, "kpis-01-choose-metrics-refused")

    # when they add a third and save
    page.get_by_label(re.compile(r"^Supply cost per visit: alert threshold")).fill("6")
    pick(page, "No-show rate", owner="Grace Hopper")
    pick(page, "Template utilization", owner="Grace Hopper")  # no templates: no data
    page.get_by_role("button", name="Save dashboard metrics").click()

    # then the dashboard shows a tile and a trend per metric, for the week that was
    expect(page.get_by_text("dashboard now shows 4 metrics")).to_be_visible()
    expect(page.get_by_role("heading", level=2, name=re.compile("Week of"))).to_contain_text(
        f"{week.day} {week:%B %Y}"
    )
    tiles = page.locator("article.kpi-tile")
    expect(tiles).to_have_count(4)
    for label in ("Supply cost per visit", "Stockout rate", "No-show rate"):
        expect(page.get_by_role("heading", level=3, name=label)).to_be_visible()
        expect(page.get_by_role("img", name=f"{label}: 12-week trend")).to_be_visible()
    utilization = tiles.filter(has=page.get_by_role("heading", name="Template utilization"))
    expect(utilization.locator(".kpi-tile__value")).to_have_text("no data")
    expect(utilization.locator(".kpi-chart__band")).to_be_attached()
    expect(page.locator(".kpi-chart__target").first).to_be_attached()
    expect(page.locator(".kpi-chart__point").first).to_be_attached()
    expect(page.get_by_text(re.compile(r"Rolled up at \d\d:\d\d"))).to_be_visible()

    # when they step a week back and forth with the picker's links, only the week swaps
    page.get_by_role("link", name="Previous week").click()
    previous = week - timedelta(weeks=1)
    expect(page.get_by_role("heading", level=2, name=re.compile("Week of"))).to_contain_text(
        f"{previous.day} {previous:%B %Y}"
    )
    expect(page).to_have_url(re.compile(rf"\?week={previous:%Y-%m-%d}"))
    page.get_by_role("link", name="Next week").click()
    expect(page).to_have_url(re.compile(rf"\?week={week:%Y-%m-%d}"))
    expect(page.locator("article.kpi-tile")).to_have_count(4)
    # (screenshots come after the swaps: Playwright's caret hiding leaves an empty style
    # attribute on inputs, which an htmx settle would then copy, tripping the CSP)
    screenshot(page, "kpis-02-dashboard")

    # when they click the stockout figure
    page.get_by_role("link", name=re.compile("show the records behind the Stockout rate")).click()

    # then the records behind it load below the tiles, and the URL can be shared
    drill = page.locator("#drilldown")
    expect(drill.get_by_role("heading", level=2)).to_contain_text("Stockout rate, week of")
    expect(drill.get_by_role("columnheader", name="Item")).to_be_visible()
    expect(drill.get_by_role("row").nth(1)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/kpis/{clinic.pk}/drill/stockout_rate/\?week="))
    expect(drill.get_by_role("link", name="Download these records (CSV)")).to_be_visible()
    drill.scroll_into_view_if_needed()
    screenshot(page, "kpis-03-drilldown")
    assert AuditEvent.objects.filter(object_type="kpis.drilldown", object_id="stockout_rate")

    # when they use the browser's back button, the dashboard comes back whole
    page.go_back()
    expect(page.locator("article.kpi-tile")).to_have_count(4)
    expect(page).to_have_url(re.compile(rf"/kpis/{clinic.pk}/\?week={week:%Y-%m-%d}"))

    assert console.csp_violations == []
    assert console.errors == [], "\n".join(console.messages)
