"""The biller's day with remittances, in a real browser: post an 835, see the postings, open
the denial queue, work one item to an appeal (and open its letter), see the Pareto chart move."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import DEMO_PASSWORD
from revenue.models import BillingProfile, Claim, DenialItem
from revenue.services import charges
from revenue.tests.factories import (
    BillingProfileFactory,
    PayerBillingSettingsFactory,
    billable_patient,
    checked_out_visit,
    coverage_for,
    provider_staff,
    standard_fees,
)
from revenue.tests.remits import remit, remit_claim, submit
from revenue.x12.writer_835 import Cas, RemitLine

from .conftest import ConsoleLog, axe_violations, htmx_settled

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture
def setup(clinic: Clinic, make_user: Callable[..., User]) -> tuple[User, Claim, BillingProfile]:
    from clinicops.core.tests.factories import PayerFactory

    billing = BillingProfileFactory(clinic=clinic)
    standard_fees(clinic)
    payer = PayerFactory(name="Blue Valley Health Plan", payer_id="BVHP1")
    PayerBillingSettingsFactory(payer=payer)
    patient = billable_patient(clinic, first_name="Harriet", last_name="Quimby")
    visit = checked_out_visit(
        clinic, provider=provider_staff(clinic), patient=patient,
        coverage=coverage_for(patient, payer),
    )  # fmt: skip
    biller = make_user(roles.BILLER, username="biller", first_name="Tom", last_name="Becker")
    encounter = charges.start_encounter(actor=biller, visit=visit)
    charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=["I10"])
    charges.add_line(actor=biller, encounter=encounter, code="99213", pointers=[1])
    charges.add_line(actor=biller, encounter=encounter, code="36415", pointers=[1])
    claim = submit(charges.mark_ready(actor=biller, encounter=encounter))
    return biller, claim, billing


def test_biller_posts_an_835_and_works_a_denial_to_an_appeal(
    page: Page,
    setup: tuple[User, Claim, BillingProfile],
    console: ConsoleLog,
    screenshot: Callable[[Page, str], list[Path]],
    tmp_path: Path,
) -> None:
    _biller, claim, billing = setup
    first, second = claim.lines.all()
    lines = (
        RemitLine(first.procedure_code, first.charge, Decimal("100.00"),
                  (Cas("CO", "45", Decimal("20.00")), Cas("PR", "2", Decimal("5.00"))),
                  line_id=first.line_id),
        RemitLine(second.procedure_code, second.charge, Decimal("0"),
                  (Cas("CO", "197", second.charge),), line_id=second.line_id, remarks=("N54",)),
    )  # fmt: skip
    path = tmp_path / "remit-0001.835"
    path.write_text(remit([remit_claim(claim, lines)], billing=billing, trace="DAY0001"))

    page.goto("/login/")
    page.get_by_label("Username").fill("biller")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/billing/denials/pareto/")
    expect(page.get_by_text("No denials in this period")).to_be_visible()

    page.get_by_role("link", name="Remittances").click()
    expect(page.get_by_role("heading", name="Remittances (835)")).to_be_visible()
    page.get_by_label("835 remittance file").set_input_files(str(path))
    page.get_by_role("button", name="Validate and post").click()
    expect(
        page.get_by_text("Posted trace DAY0001: 1 claim, 2 lines, 1 denial opened").first
    ).to_be_visible(timeout=60_000)  # pyx12 runs in the request (its 835 map loads once)
    expect(page.get_by_role("heading", name="Remittance DAY0001")).to_be_visible()
    expect(page.get_by_role("cell", name="CO-197")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "remittance-postings")

    page.get_by_role("link", name="Denials", exact=True).click()
    expect(page.get_by_text("1 work item.")).to_be_visible()
    htmx_settled(page)
    assert axe_violations(page) == []
    screenshot(page, "denial-queue")
    item = DenialItem.objects.get()
    page.get_by_role("link", name=f"#{item.pk}").click()
    expect(page.get_by_role("heading", name=f"Denial {item.pk}: $15.00")).to_be_visible()
    expect(
        page.get_by_text("Precertification/notification/authorization/pre-treatment absent.")
    ).to_be_visible()
    page.get_by_label("Note").fill("Authorization AUTH77 was on file; appealing.")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_text("Note saved; the item is working.").first).to_be_visible()
    page.get_by_role("button", name="Appeal", exact=True).click()
    expect(page.get_by_text(f"claim {claim.control_number} is appealed").first).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "denial-item")
    with page.context.expect_page() as letter_page:
        page.get_by_role("link", name="Appeal letter (print)").click()
    letter = letter_page.value
    expect(letter.get_by_text("Request for reconsideration")).to_be_visible()
    screenshot(letter, "appeal-letter")
    letter.close()

    page.get_by_role("link", name="Denial Pareto").click()
    expect(
        page.get_by_role("heading", name="Denial dollars by root cause: $15 in all")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Authorization / referral").first).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "denial-pareto")
    page.get_by_role("link", name="Authorization / referral").last.click()
    expect(page.get_by_text("1 work item.")).to_be_visible()

    page.get_by_role("link", name="A/R aging").click()
    expect(page.get_by_role("heading", name="Outstanding: $15.00")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "ar-aging")
    assert console.errors == []
    assert console.csp_violations == []
