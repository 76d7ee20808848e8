"""A nurse flags a problem from the supply screen, in a real browser; a manager sees it.

Screenshots: artifacts/screenshots/flag-*.png (the open form on the supply screen, My flags, the
manager's inbox and a flag's page).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import DEMO_PASSWORD, PatientFactory
from compliance.models import Flag
from supplies.tests.factories import StockLocationFactory

from .conftest import ConsoleLog

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()


@pytest.mark.django_db(transaction=True)
def test_a_nurse_flags_a_problem_from_the_supply_screen(
    page: Page,
    clinic: Clinic,
    make_user: Callable[..., User],
    console: ConsoleLog,
    screenshot: Callable[[Page, str], list[Path]],
) -> None:
    nurse = make_user(roles.NURSE, username="nurse", first_name="Grace", last_name="Kim")
    make_user(roles.MANAGER, username="manager")
    StockLocationFactory(clinic=clinic, name="Exam 2 cart")
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")

    # the nurse on the supply screen opens "Flag a problem" and sends one about a patient
    log_in(page, "nurse")
    page.goto("/supplies/")
    supply_url = page.url
    page.get_by_text("Flag a problem", exact=True).first.click()
    form = page.get_by_role("group", name="Flag a problem")
    expect(form).to_be_visible()
    form.get_by_label("What is wrong?").fill("Saline flushes in Exam 2 cart are past expiry")
    form.get_by_label("High: today").check()
    form.get_by_label("Patient MRN").fill(patient.mrn)
    screenshot(page, "flag-form-on-supplies")
    form.get_by_role("button", name="Send flag").click()

    # back on the supply screen, told what was stored
    expect(page.get_by_text("sent to Riverside Family Clinic's compliance inbox")).to_be_visible()
    assert page.url == supply_url
    flag = Flag.objects.get()
    assert (flag.reporter, flag.patient, flag.urgency, flag.page) == (
        nurse,
        patient,
        "high",
        urlsplit(supply_url).path,
    )
    assert flag.page.startswith("/supplies/")

    # she follows it under My flags
    page.goto("/compliance/flags/mine/")
    expect(page.get_by_role("cell", name="New", exact=True)).to_be_visible()
    screenshot(page, "flag-my-flags")
    log_out(page)

    # the manager sees it in the clinic's inbox and acknowledges it
    log_in(page, "manager")
    page.goto("/compliance/flags/")
    page.get_by_role("link", name=f"#{flag.pk} Saline flushes").click()
    expect(page.get_by_text("Harriet")).to_be_visible()
    screenshot(page, "flag-detail")
    page.get_by_label("Status").select_option("acknowledged")
    page.get_by_label("Reply to the reporter").fill("Pulled them; new stock ordered.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(f"Flag {flag.pk} is now Acknowledged.")).to_be_visible()
    page.goto("/compliance/flags/")
    screenshot(page, "flag-inbox")
    log_out(page)

    log_in(page, "nurse")
    page.goto("/compliance/flags/mine/")
    expect(page.get_by_text("Pulled them; new stock ordered.")).to_be_visible()
    assert console.errors == []
    assert console.csp_violations == []
