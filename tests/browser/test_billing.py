"""A biller codes a checked-out visit (diagnosis and procedure picked from the code search as
they type, by keyboard) and exports the claim in an 837P batch, in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import DEMO_PASSWORD
from revenue.models import Claim, ClaimStatus, ExportBatch
from revenue.tasks import check_export_batch
from revenue.tests.factories import (
    BillingProfileFactory,
    PayerBillingSettingsFactory,
    billable_patient,
    checked_out_visit,
    coverage_for,
    provider_staff,
    standard_fees,
)
from revenue.x12.validate import validate_x12

from .conftest import ConsoleLog, axe_violations, htmx_settled

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture
def biller(clinic: Clinic, make_user: Callable[..., User]) -> User:
    from clinicops.core.tests.factories import PayerFactory

    BillingProfileFactory(clinic=clinic)
    standard_fees(clinic)
    payer = PayerFactory(name="Blue Valley Health Plan", payer_id="BVHP1")
    PayerBillingSettingsFactory(payer=payer)
    patient = billable_patient(clinic, first_name="Harriet", last_name="Quimby")
    checked_out_visit(
        clinic,
        provider=provider_staff(clinic),
        patient=patient,
        coverage=coverage_for(patient, payer),
    )
    return make_user(roles.BILLER, username="biller", first_name="Tom", last_name="Becker")


def test_biller_codes_a_visit_and_exports_a_batch(
    page: Page, biller: User, console: ConsoleLog, screenshot: Callable[[Page, str], list[Path]]
) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill("biller")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Billing").first.click()
    expect(page.get_by_role("heading", name="Coding queue")).to_be_visible()
    screenshot(page, "billing-queue")
    page.get_by_role("button", name="Code visit").click()
    expect(page.get_by_role("heading", name="Coding: Quimby, Harriet")).to_be_visible()

    # Diagnoses: type words, pick the result with the keyboard.
    diagnoses = page.get_by_label("Diagnoses (ICD-10-CM)")
    diagnoses.fill("hypertens")
    pick = page.locator("#dx-results [data-pick-code='I10']")
    # The first search of a process loads the ICD-10-CM list (seconds on a busy machine).
    expect(pick).to_be_visible(timeout=60_000)
    pick.focus()
    page.keyboard.press("Enter")
    expect(diagnoses).to_have_value("I10 ")
    page.get_by_role("button", name="Save diagnoses").click()
    expect(page.get_by_text("Saved 1 diagnoses: I10.")).to_be_visible()
    htmx_settled(page)

    # A service line: the procedure picked from the imported codes as it is typed.
    code = page.get_by_label("Procedure (CPT/HCPCS)")
    code.fill("9921")
    expect(page.locator("#cpt-results [data-pick-code='99213']")).to_be_visible()
    page.locator("#cpt-results [data-pick-code='99213']").click()
    expect(code).to_have_value("99213")
    page.get_by_label("Modifiers").fill("25")
    page.get_by_role("button", name="Add line").click()
    expect(page.get_by_text("Added line 1: 99213 x1, 125.00.")).to_be_visible()
    htmx_settled(page)
    screenshot(page, "billing-charge-entry")

    page.get_by_role("button", name="Ready to bill").click()
    claim = Claim.objects.get()
    expect(page.get_by_role("heading", name=f"Claim {claim.control_number}")).to_be_visible()
    expect(page.get_by_text("passed every edit")).to_be_visible()
    expect(page.get_by_text(f"CLM*{claim.control_number}*125")).to_be_visible()
    screenshot(page, "billing-claim")

    page.get_by_role("link", name="Batch export").click()
    expect(page.get_by_role("heading", name="Waiting: 1 scrubbed claim")).to_be_visible()
    page.get_by_role("button", name="Export 837P batch").click()
    expect(page.get_by_text("1 claim, 1 line.")).to_be_visible()
    screenshot(page, "billing-batches")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED
    batch = ExportBatch.objects.get()
    # pyx12's check runs in a Celery task (no worker here: run it in-process); until it has
    # run, the file cannot be downloaded. The list polls while it waits, then shows the verdict
    # and the download, and so does the batch page.
    expect(page.get_by_text("Being checked…")).to_be_visible()
    expect(page.get_by_text("Download once checked")).to_be_visible()
    expect(page.get_by_role("link", name="Download")).to_have_count(0)
    assert check_export_batch(batch.pk) == "valid"
    expect(page.get_by_text("Checked by pyx12: no findings")).to_be_visible(timeout=15_000)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    saved = Path(download.value.path())
    assert saved.read_bytes() == bytes(batch.content)
    assert validate_x12(saved.read_text()) == []
    page.get_by_role("link", name=f"{batch.interchange_control_number:09d}").click()
    expect(page.get_by_role("heading", name="pyx12 check")).to_be_visible()
    expect(page.get_by_text("Checked by pyx12: no findings")).to_be_visible()
    screenshot(page, "billing-batch")
    assert axe_violations(page) == []
    assert console.errors == []
    assert console.csp_violations == []


def test_every_billing_tab_is_in_sight_on_a_laptop_and_a_tablet(
    page: Page, clinic: Clinic, make_user: Callable[..., User]
) -> None:
    """The billing screens have eight tabs; at 1280 px beside the sidebar they used to scroll
    sideways, with "Fee schedules & codes" out of sight. They wrap onto a second row instead."""
    make_user(roles.BILLER, username="boss")
    page.goto("/login/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/billing/claims/")
    tabs = page.get_by_role("navigation", name="Billing")
    expect(tabs.get_by_role("link")).not_to_have_count(0)
    for size in ({"width": 1280, "height": 800}, {"width": 768, "height": 1024}):
        page.set_viewport_size(size)
        nav = tabs.bounding_box()
        assert nav is not None
        for link in tabs.get_by_role("link").all():
            box = link.bounding_box()
            assert box is not None
            where = f"{link.inner_text()} at {size['width']} px"
            assert box["x"] >= nav["x"] - 1, where
            assert box["x"] + box["width"] <= nav["x"] + nav["width"] + 1, where
        assert tabs.locator("ul").evaluate("list => list.scrollWidth <= list.clientWidth")
