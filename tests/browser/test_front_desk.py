"""The front desk's day in a real browser: find a patient, register one, and the audit trail."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, User
from clinicops.core.tests.factories import DEMO_PASSWORD, PatientFactory

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from .conftest import ConsoleLog

    Screenshot = Callable[[Page, str], list[Path]]

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(make_user: Callable[..., User], clinic: Clinic) -> User:
    return make_user(roles.FRONT_DESK, username="frontdesk", first_name="Maria", last_name="Lopez")


@pytest.fixture
def officer(make_user: Callable[..., User], clinic: Clinic) -> User:
    return make_user(roles.COMPLIANCE, username="compliance", first_name="Alan", last_name="Reyes")


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")


def test_the_login_page_renders_without_csp_violations(
    page: Page, console: ConsoleLog, screenshot: Screenshot
) -> None:
    page.goto("/login/")

    expect(page.get_by_role("heading", level=1)).to_contain_text("Log in")
    expect(page.get_by_label("Username")).to_be_visible()
    screenshot(page, "01-login")
    assert console.csp_violations == []
    assert console.errors == [], "\n".join(console.messages)


def test_front_desk_finds_and_registers_a_patient_and_compliance_sees_the_trail(
    page: Page,
    console: ConsoleLog,
    screenshot: Screenshot,
    desk: User,
    officer: User,
    clinic: Clinic,
) -> None:
    # given a patient already registered at the clinic
    PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")

    # when the front desk logs in and searches for her as they type
    log_in(page, "frontdesk")
    screenshot(page, "02-home-front-desk")
    main_nav(page).get_by_role("link", name="Patients").click()
    expect(page.get_by_label("Find a patient")).to_be_visible()
    screenshot(page, "03-patient-search")
    page.get_by_label("Find a patient").press_sequentially("quim", delay=40)

    # then the result appears without a page load
    expect(page.get_by_role("link", name=re.compile("Quimby, Harriet"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]q=quim"))
    screenshot(page, "04-patient-search-results")

    # when they search for someone new and register them from the empty result
    search = page.get_by_label("Find a patient")
    search.fill("")
    search.press_sequentially("Okafor", delay=40)
    page.get_by_role("link", name="Register a new patient").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Register")
    page.get_by_label("First name", exact=True).fill("Adaeze")
    page.get_by_label("Last name", exact=True).fill("Okafor")
    page.get_by_label("Date of birth", exact=True).fill("1984-03-07")
    page.get_by_label("Sex", exact=True).select_option(label="Female")
    page.get_by_label("Phone", exact=True).fill("717 555 0142")
    screenshot(page, "05-register-patient")
    page.get_by_role("button", name="Register patient").click()

    # then they land on the new patient's page, with the MRN the database gave her
    expect(page.get_by_role("heading", level=1)).to_have_text("Adaeze Okafor")
    patient = Patient.objects.get(first_name="Adaeze", last_name="Okafor")
    expect(page.locator(".mrn").first).to_have_text(patient.mrn)
    assert patient.clinic == clinic
    assert patient.phone_digits == "7175550142"
    screenshot(page, "06-patient-detail")

    # when they log out and the compliance officer opens the audit log
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Username")).to_be_visible()
    log_in(page, "compliance")
    main_nav(page).get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Audit")
    open_patient_trail(page, patient.mrn)

    # then the registration and the front desk's look at the record are both there
    rows = page.get_by_role("row").filter(has_text="frontdesk")
    expect(rows.filter(has_text=re.compile(r"\bcreate", re.IGNORECASE)).first).to_be_visible()
    expect(rows.filter(has_text=re.compile(r"\bview", re.IGNORECASE)).first).to_be_visible()
    screenshot(page, "07-audit-log")

    assert console.csp_violations == []
    assert console.errors == [], "\n".join(console.messages)


def open_patient_trail(page: Page, mrn: str) -> None:
    """Narrow the audit log to one patient by MRN."""
    # In <main>: the header's "Flag a problem" form has a patient MRN field too.
    page.get_by_role("main").get_by_label(re.compile("patient|MRN", re.IGNORECASE)).first.fill(mrn)
    page.get_by_role("button", name=re.compile("search|filter|apply", re.IGNORECASE)).click()
    expect(page.get_by_role("row").filter(has_text=mrn).first).to_be_visible()


def test_no_page_on_the_front_desk_journey_breaks_the_content_security_policy(
    page: Page, console: ConsoleLog, desk: User, officer: User, clinic: Clinic
) -> None:
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    pages = {
        "frontdesk": [
            "/",
            "/patients/",
            "/patients/?q=quim",
            "/patients/new/",
            f"/patients/{patient.pk}/",
            f"/patients/{patient.pk}/edit/",
        ],
        "compliance": ["/compliance/audit/", f"/compliance/audit/?patient={patient.mrn}"],
    }
    for username, paths in pages.items():
        log_in(page, username)
        for path in paths:
            response = page.goto(path)
            assert response is not None
            assert response.ok, f"{path} answered {response.status}"
            # htmx and app.js run after load; give them the chance to trip the policy.
            page.wait_for_load_state("networkidle")
            assert console.csp_violations == [], path
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_label("Username")).to_be_visible()
    assert console.errors == [], "\n".join(console.messages)


def test_the_console_listener_reports_a_csp_violation(page: Page, console: ConsoleLog) -> None:
    """The check above can fail: an inline script, which the policy forbids, is reported."""
    page.goto("/login/")

    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "document.title = 'inline';";
                document.head.append(script);
            }"""
        )

    expect(page).not_to_have_title("inline")
    assert len(console.csp_violations) == 1
    assert "script-src" in console.csp_violations[0]


def test_a_missing_chromium_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from . import conftest

    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="is missing"):
        conftest._require_chromium()

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="is missing"):
        conftest._require_chromium()
