"""A nurse breaks the glass from the patient search for another clinic's patient, in a real
browser: the banner follows her from page to page (axe clean); the compliance officer of the
patient's clinic reviews the use.

Screenshots: artifacts/screenshots/break-glass-*.png.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import DEMO_PASSWORD, PatientFactory
from compliance.models import BreakGlassAccess

from .conftest import ConsoleLog, axe_violations, htmx_settled

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_a_nurse_breaks_the_glass_from_the_patient_search(
    page: Page,
    clinic: Clinic,
    other_clinic: Clinic,
    make_user: Callable[..., User],
    console: ConsoleLog,
    screenshot: Callable[[Page, str], list[Path]],
) -> None:
    nurse = make_user(roles.NURSE, username="nurse", first_name="Grace", last_name="Kim")
    make_user(roles.COMPLIANCE, username="officer", clinics=[other_clinic])
    patient = PatientFactory(clinic=other_clinic, first_name="Harriet", last_name="Quimby")

    log_in(page, "nurse")
    # The record is not hers to open: a 404, as for any other clinic's patient.
    assert page.goto(f"/patients/{patient.pk}/").status == 404  # type: ignore[union-attr]

    page.goto("/patients/")
    page.get_by_label("Find a patient").fill(patient.mrn)
    htmx_settled(page)
    link = page.get_by_role("link", name="Emergency access (break-glass)")
    expect(link).to_be_visible()
    screenshot(page, "break-glass-search")
    link.click()

    expect(page.get_by_role("heading", name="Emergency access (break-glass)")).to_be_visible()
    expect(page.get_by_label("Patient's MRN")).to_have_value(patient.mrn)
    page.get_by_label("Reason").select_option("emergency")
    page.get_by_label("Why you need this record now").fill("Collapsed in our waiting room")
    assert axe_violations(page) == []
    screenshot(page, "break-glass-form")
    page.get_by_role("button", name="Break the glass and open the record").click()

    # The patient's page, with the banner and what was stored.
    access = BreakGlassAccess.objects.get()
    expect(page.locator("h1")).to_contain_text("Quimby")
    banner = page.get_by_role("region", name="Emergency access in use")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(patient.mrn)
    # The flash says what was stored; the banner (not repeated by the flash) says until when.
    flash = page.get_by_role("status").filter(has_text="recorded")
    expect(flash).to_contain_text(f"Break-glass use {access.pk} recorded (medical emergency)")
    expect(page.get_by_text("Emergency access to")).to_have_count(0)
    assert axe_violations(page) == []
    screenshot(page, "break-glass-patient")
    page.goto("/")
    expect(page.get_by_role("region", name="Emergency access in use")).to_be_visible()
    assert axe_violations(page) == []

    reads = AuditEvent.objects.filter(actor=nurse, patient_id=patient.pk, action="view")
    assert reads.exists()
    assert all(e.changes.get("break_glass") == access.pk for e in reads)
    page.get_by_role("button", name="Log out").click()

    # The compliance officer of the patient's clinic approves it.
    log_in(page, "officer")
    page.goto("/compliance/break-glass/reviews/")
    page.get_by_role("link", name=f"#{access.pk}").click()
    expect(page.get_by_text("Collapsed in our waiting room")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "break-glass-review")
    page.get_by_label("Approve: the access was justified").check()
    page.get_by_label("Note").fill("Ambulance log matches")
    page.get_by_role("button", name="Save review").click()
    expect(page.get_by_text(f"Break-glass use {access.pk}: Approved.")).to_be_visible()
    assert BreakGlassAccess.objects.get().review == "approved"
    # The one error is the deliberate 404 at the start.
    assert [e for e in console.errors if f"/patients/{patient.pk}/" not in e] == []
    assert len(console.errors) == 1
    assert console.csp_violations == []
