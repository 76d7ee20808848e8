"""A manager works an access review in a real browser (revokes a line; that user's open
session ends), and the compliance officer opens an anomaly hint; both pages axe clean.

Screenshots: artifacts/screenshots/access-review-*.png, hint-*.png.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import DEMO_PASSWORD, PatientFactory
from compliance import anomalies
from compliance.models import AccessReviewLine
from compliance.tests.test_anomalies import read

from .conftest import ConsoleLog, axe_violations

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_a_manager_revokes_a_user_and_their_open_session_ends(
    page: Page,
    browser: Browser,
    live_server: object,
    clinic: Clinic,
    make_user: Callable[..., User],
    console: ConsoleLog,
    screenshot: Callable[[Page, str], list[Path]],
) -> None:
    make_user(roles.MANAGER, username="manager")
    make_user(roles.BILLER, username="leaver", first_name="Lee", last_name="Vere")
    make_user(roles.NURSE, username="stayer")

    # The leaver is working in another browser.
    other = browser.new_context(base_url=live_server.url)  # type: ignore[attr-defined]
    leaver = other.new_page()
    log_in(leaver, "leaver")

    log_in(page, "manager")
    page.goto("/compliance/access-reviews/")
    page.get_by_role("button", name="Start a review now").click()
    expect(page.get_by_text("started: 3 active users")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "access-review")
    row = page.get_by_role("row").filter(has_text="leaver")
    row.get_by_label("Note on leaver").fill("Left the practice")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("leaver: revoked; 1 session(s) ended.")).to_be_visible()
    page.get_by_role("row").filter(has_text="stayer").get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("stayer: confirmed.")).to_be_visible()
    assert AccessReviewLine.objects.filter(decision="pending").count() == 1  # the manager
    screenshot(page, "access-review-decided")

    leaver.goto("/")
    expect(leaver.get_by_role("button", name="Log in")).to_be_visible()
    other.close()
    assert console.errors == []
    assert console.csp_violations == []


@pytest.mark.django_db(transaction=True)
def test_the_compliance_officer_opens_a_hint_and_sees_its_events(
    page: Page,
    clinic: Clinic,
    make_user: Callable[..., User],
    console: ConsoleLog,
    screenshot: Callable[[Page, str], list[Path]],
) -> None:
    make_user(roles.COMPLIANCE, username="officer")
    desk = make_user(roles.FRONT_DESK, username="desk", last_name="Quimby")
    patient = PatientFactory(clinic=clinic, last_name="Quimby")
    day = clinic.today() - dt.timedelta(days=1)
    read(desk, patient, dt.datetime.combine(day, dt.time(23, 10), tzinfo=clinic.tz))
    anomalies.compute_hints(clinic, day)

    log_in(page, "officer")
    page.goto("/compliance/hints/")
    assert axe_violations(page) == []
    screenshot(page, "hint-inbox")
    page.get_by_role("link", name="Patient shares the user's surname").click()
    expect(page.get_by_role("cell", name=patient.mrn, exact=False)).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "hint-detail")
    page.get_by_label("Status").select_option("explained")
    page.get_by_label("Note").fill("Her daughter; booked visit")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Explained, nothing wrong.")).to_be_visible()
    assert console.errors == []
    assert console.csp_violations == []
