"""A compliance officer works an incident from report to closed, in a real browser (axe clean).

Screenshots: artifacts/screenshots/incident-*.png (the report form, the incident being
investigated, the actions, the closed incident, the list and the monthly counts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import DEMO_PASSWORD, PatientFactory
from compliance.models import CorrectiveAction, Flag, Incident

from .conftest import ConsoleLog, axe_violations

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
def test_a_compliance_officer_works_an_incident_from_report_to_closed(
    page: Page,
    clinic: Clinic,
    make_user: Callable[..., User],
    console: ConsoleLog,
    screenshot: Callable[[Page, str], list[Path]],
) -> None:
    make_user(roles.COMPLIANCE, username="compliance", first_name="Olu", last_name="Adeyemi")
    make_user(roles.MANAGER, username="manager", first_name="Mara", last_name="Lind")
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    flag = Flag.objects.create(
        clinic=clinic,
        description="Wet floor in corridor B, no sign; a patient nearly fell",
        created_at=timezone.now(),
        page="/",
    )

    log_in(page, "compliance")
    main = page.locator("#main")  # the header's "Flag a problem" form has labels too
    # from the flag in the inbox: turn it into an incident
    page.goto(f"/compliance/flags/{flag.pk}/")
    page.get_by_role("link", name="Turn into an incident").click()
    expect(page.get_by_role("heading", name="Report an incident or near miss")).to_be_visible()
    when = timezone.localtime(timezone.now() - timedelta(hours=2), clinic.tz)
    main.get_by_label("Short title").fill("Patient slipped in corridor B")
    main.get_by_label("When").fill(when.strftime("%Y-%m-%dT%H:%M"))
    main.get_by_label("Where").fill("Corridor B")
    main.get_by_label("Category").select_option("fall")
    main.get_by_label("Harm (AHRQ harm scale)").select_option("mild")
    main.get_by_label("Patient MRN").fill(patient.mrn)
    main.get_by_label("Witnesses").fill("Front desk (Sam)")
    assert axe_violations(page) == []
    screenshot(page, "incident-report")
    page.get_by_role("button", name="Report").click()

    incident = Incident.objects.get()
    expect(
        page.get_by_text(f"Incident {incident.pk} reported: “Patient slipped in corridor B”")
    ).to_be_visible()
    assert list(incident.flags.all()) == [flag]

    # triage
    main.get_by_label("Priority").select_option("high")
    main.get_by_label("Lead investigator").select_option(label="Olu Adeyemi")
    page.get_by_role("button", name="Triage").click()
    expect(page.get_by_text(f"Incident {incident.pk} triaged: high priority")).to_be_visible()

    # investigate: the five whys, a fishbone factor, the root cause
    page.get_by_role("button", name="Start the investigation").click()
    expect(page.get_by_text("is now investigating")).to_be_visible()
    main.get_by_label("Why 1").fill("The floor was wet")
    main.get_by_label("Why 2").fill("It was mopped during opening hours")
    main.get_by_label("Environment").fill("No wet-floor sign in the corridor cupboard")
    main.get_by_label("Root cause").fill("The cleaning rota puts mopping in opening hours")
    page.get_by_role("button", name="Save the analysis").click()
    expect(page.get_by_text("2 why(s), 1 fishbone category, root cause written")).to_be_visible()

    # a corrective action owned by the manager
    page.get_by_text("Add an action", exact=True).click()
    main.get_by_label("Action", exact=True).fill("Move mopping to after closing; stock signs")
    main.get_by_label("Owner").select_option(label="Mara Lind")
    main.get_by_label("Due date").fill((clinic.today() + timedelta(days=7)).isoformat())
    page.get_by_role("button", name="Add the action").click()
    action = CorrectiveAction.objects.get()
    expect(
        page.get_by_text(f"Action {action.pk} added: corrective, owned by Mara Lind")
    ).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "incident-investigating")
    page.get_by_role("button", name="Analysis done: carry out the actions").click()
    expect(page.get_by_text("is now actions under way")).to_be_visible()

    # its due date moves, with why; the message says what was stored
    later = clinic.today() + timedelta(days=10)
    row = page.locator(f"#action-{action.pk}")
    row.get_by_text("Change owner or due date").click()
    row.get_by_label("Due date").fill(later.isoformat())
    row.get_by_label("Why", exact=True).fill("The signs arrive next week")
    assert axe_violations(page) == []
    screenshot(page, "incident-reassign")
    row.get_by_role("button", name="Save the change").click()
    expect(
        page.get_by_text(f"Action {action.pk} is owned by Mara Lind, due {later:%a %d %b %Y}.")
    ).to_be_visible()

    # the action is done, and the officer verifies it worked
    row = page.locator(f"#action-{action.pk}")
    row.get_by_text("Mark done").click()
    row.get_by_label("What was done").fill("Rota changed, signs in every cupboard")
    row.get_by_role("button", name="Save as done").click()
    expect(page.get_by_text(f"Action {action.pk} is done, awaiting verification.")).to_be_visible()
    row = page.locator(f"#action-{action.pk}")
    row.get_by_text("Verify", exact=True).click()
    row.get_by_label("Yes: verified effective").check()
    row.get_by_label("Evidence").fill("Two weeks of rounds: no wet floor in opening hours")
    assert axe_violations(page) == []
    screenshot(page, "incident-actions")
    row.get_by_role("button", name="Record the verification").click()
    expect(page.get_by_text(f"Action {action.pk} is verified effective.")).to_be_visible()

    # every action verified: it closes without a reason
    page.get_by_role("button", name="Close the incident").click()
    expect(
        page.get_by_text(f"Incident {incident.pk} closed: every action verified effective.")
    ).to_be_visible()
    incident.refresh_from_db()
    assert incident.status == "closed"
    assert incident.close_reason == ""
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "incident-closed")

    page.goto("/compliance/incidents/?status=all")
    expect(page.get_by_role("link", name=f"#{incident.pk} Patient slipped")).to_be_visible()
    page.get_by_role("link", name="Mine: I lead it or own an action").click()
    expect(page.get_by_role("link", name=f"#{incident.pk} Patient slipped")).to_be_visible()
    assert "mine=1" in page.url
    assert axe_violations(page) == []
    screenshot(page, "incident-list")
    page.goto("/compliance/incidents/monthly/")
    expect(page.get_by_role("heading", name="By category")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "incident-monthly")
    assert console.errors == []
    assert console.csp_violations == []
