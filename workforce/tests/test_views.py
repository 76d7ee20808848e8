"""The roster screens: roles, scoping, messages, and the pages rendering real data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.tests.factories import ClinicFactory, StaffFactory
from workforce.models import (
    Assignment,
    AutofillRun,
    CoverageRule,
    RosterWeek,
    ShiftTemplate,
    TimeOffRequest,
)
from workforce.services import weeks
from workforce.views.mine import ical_token

from .conftest import MONDAY

pytestmark = pytest.mark.django_db
WEEK = MONDAY.isoformat()


def client_for(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_manager_sees_the_grid_and_adds_a_shift(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    c = client_for(manager)
    page = c.get(f"/roster/?week={WEEK}")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Sam Adams" in text
    assert "Desk early" in text
    assert "no violations" in text
    answer = c.post(
        "/roster/assign/",
        {"staff": desk[0].pk, "template": early.pk, "day": WEEK, "week": WEEK},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="week-body",
    )
    assert answer.status_code == 200
    assert "Added Sam Adams on Desk early, Mon 01 Mar." in answer.content.decode()
    assert Assignment.objects.count() == 1
    printed = c.get(f"/roster/?week={WEEK}&print=1").content.decode()
    assert "Printed" in printed
    assert "Desk early 07:00" in printed
    assert "Add…" not in printed


def test_bad_assign_input_names_the_field_and_stores_nothing(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    c = client_for(manager)
    answer = c.post(
        "/roster/assign/",
        {"staff": desk[0].pk, "template": "abc", "day": WEEK, "week": WEEK},
        follow=True,
    )
    assert "Shift: Choose a shift. Nothing was added." in answer.content.decode()
    other = ShiftTemplate.objects.create(
        clinic=ClinicFactory(name="Elsewhere"),
        name="X",
        role="front_desk",
        start_time=dt.time(8),
        end_time=dt.time(9),
        weekdays=[0],
    )
    answer = c.post(
        "/roster/assign/", {"staff": desk[0].pk, "template": other.pk, "day": WEEK}, follow=True
    )
    assert "That shift is not at" in answer.content.decode()
    assert not Assignment.objects.exists()


def test_another_clinics_shift_is_a_404(
    clinic: Clinic, manager: User, early: ShiftTemplate
) -> None:
    elsewhere = ClinicFactory(name="Elsewhere")
    their_staff = StaffFactory(clinics=[elsewhere])
    template = ShiftTemplate.objects.create(
        clinic=elsewhere,
        name="X",
        role="front_desk",
        start_time=dt.time(8),
        end_time=dt.time(9),
        weekdays=[0],
    )
    a = Assignment.objects.create(
        week=weeks.week_for(elsewhere, MONDAY),
        staff=their_staff,
        template=template,
        role="front_desk",
        day=MONDAY,
        start=dt.datetime(2027, 3, 1, 13, tzinfo=dt.UTC),
        end=dt.datetime(2027, 3, 1, 14, tzinfo=dt.UTC),
    )
    assert client_for(manager).post(f"/roster/shifts/{a.pk}/remove/").status_code == 404
    assert Assignment.objects.filter(pk=a.pk).exists()


def test_front_desk_cannot_build_but_reads_own_shifts(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    week = weeks.week_for(clinic, MONDAY)
    weeks.add_assignment(actor=manager, week=week, staff=desk[0], template=early, day=MONDAY)
    c = client_for(desk[0].user)
    assert c.get("/roster/").status_code == 403
    assert c.post("/roster/publish/", {"week": WEEK}).status_code == 403
    page = c.get("/roster/mine/").content.decode()
    assert "No published shifts" in page  # a draft is not shown
    weeks.publish(actor=manager, week=week)
    token = ical_token(desk[0])
    feed = Client().get(f"/roster/ical/{token}/shifts.ics")
    assert feed.status_code == 200
    assert feed["Content-Type"].startswith("text/calendar")
    body = feed.content.decode()
    assert "BEGIN:VEVENT" in body
    assert "DTSTART:20270301T120000Z" in body
    assert Client().get(f"/roster/ical/{token[:-2]}xx/shifts.ics").status_code == 404


def test_publish_blocked_then_overridden_from_the_screen(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate, late: ShiftTemplate
) -> None:
    week = weeks.week_for(clinic, MONDAY)
    weeks.add_assignment(actor=manager, week=week, staff=desk[0], template=late, day=MONDAY)
    weeks.add_assignment(
        actor=manager, week=week, staff=desk[0], template=early, day=MONDAY + dt.timedelta(days=1)
    )
    c = client_for(manager)
    page = c.get(f"/roster/?week={WEEK}").content.decode()
    assert "1 violation" in page
    assert "only 9 h rest" in page
    assert "has-problem" in page
    answer = c.post("/roster/publish/", {"week": WEEK}, follow=True).content.decode()
    assert "1 rule violation block publishing" in answer
    assert RosterWeek.objects.get().status == "draft"
    answer = c.post(
        "/roster/publish/", {"week": WEEK, "override_reason": "Cover for flu"}, follow=True
    ).content.decode()
    assert "as version 1: 2 shifts over the rule violations (override recorded)" in answer
    assert AuditEvent.objects.filter(summary__contains="Cover for flu").exists()


def test_heat_map_shows_gaps_and_a_cell(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    CoverageRule.objects.create(
        clinic=clinic,
        role="front_desk",
        kind="fixed",
        weekdays=[0],
        start_time=dt.time(8),
        end_time=dt.time(10),
        count=2,
    )
    weeks.add_assignment(
        actor=manager,
        week=weeks.week_for(clinic, MONDAY),
        staff=desk[0],
        template=early,
        day=MONDAY,
    )
    c = client_for(manager)
    page = c.get(f"/roster/coverage/?week={WEEK}").content.decode()
    assert "Computed at" in page
    assert "Required slots filled: 2 of 4 (50.0 %)" in page
    assert "1 rostered of 2 required, short" in page
    cell = c.get(f"/roster/coverage/cell/?day={WEEK}&hour=8&role=front_desk").content.decode()
    assert "On (1)" in cell
    assert "Sam Adams" in cell
    assert "Could be (1)" in cell
    assert "Sam Baker" in cell
    assert (
        "Hour:"
        in c.get(f"/roster/coverage/cell/?day={WEEK}&hour=99&role=front_desk").content.decode()
    )


def test_autofill_from_the_screen_runs_and_applies(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    from workforce.services import autofill_runs

    CoverageRule.objects.create(
        clinic=clinic,
        role="front_desk",
        kind="fixed",
        weekdays=[0],
        start_time=dt.time(8),
        end_time=dt.time(10),
        count=2,
    )
    c = client_for(manager)
    answer = c.post("/roster/autofill/", {"week": WEEK, "time_limit": "5"})
    run = AutofillRun.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == f"/roster/autofill/{run.pk}/"
    page = c.get(f"/roster/autofill/{run.pk}/").content.decode()
    assert "Queued" in page
    assert 'hx-trigger="every 1s"' in page
    # The task enqueues on commit (never, inside a test's transaction): run it here.
    autofill_runs.execute(run.pk)
    page = c.get(f"/roster/autofill/{run.pk}/").content.decode()
    assert "proven optimal" in page
    assert "+ Sam" in page
    assert "Accept all" in page
    answer = c.post(f"/roster/autofill/{run.pk}/apply/", follow=True).content.decode()
    assert "Applied the proposal: 2 shifts added, 0 removed." in answer
    assert Assignment.objects.filter(source="autofill").count() == 2


def test_time_off_request_and_decision(clinic: Clinic, manager: User, desk: list[Staff]) -> None:
    c = client_for(desk[0].user)
    bad = c.post(
        "/roster/time-off/request/", {"first_day": "2027-03-05", "last_day": "2027-03-01"}
    ).content.decode()
    assert "The last day off is before the first day." in bad
    assert not TimeOffRequest.objects.exists()
    ok = c.post(
        "/roster/time-off/request/",
        {"first_day": "2027-03-01", "last_day": "2027-03-02", "reason": "Wedding"},
        follow=True,
    ).content.decode()
    assert "Asked for Mon 01 Mar to Tue 02 Mar off" in ok
    req = TimeOffRequest.objects.get()
    assert c.post(f"/roster/time-off/{req.pk}/decide/", {"decision": "approve"}).status_code == 403
    m = client_for(manager)
    assert "Wedding" in m.get("/roster/time-off/").content.decode()
    answer = m.post(
        f"/roster/time-off/{req.pk}/decide/", {"decision": "approve"}, follow=True
    ).content.decode()
    assert "Approved: Sam Adams off" in answer
    req.refresh_from_db()
    assert req.status == "approved"


def test_nav_has_roster_for_managers_and_my_shifts_for_everyone(
    clinic: Clinic, manager: User, make_user
) -> None:
    assert "Roster" in client_for(manager).get("/").content.decode()
    nurse = make_user(roles.NURSE, username="nurse1")
    home = client_for(nurse).get("/").content.decode()
    assert "My shifts" in home
    assert ">Roster<" not in home


def test_a_change_after_publishing_is_shown_to_the_person_it_affects_only(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    # given a published week: Adams works Monday, Baker Tuesday
    adams, baker = desk
    week = weeks.week_for(clinic, MONDAY)
    monday = weeks.add_assignment(actor=manager, week=week, staff=adams, template=early, day=MONDAY)
    weeks.add_assignment(
        actor=manager, week=week, staff=baker, template=early, day=MONDAY + dt.timedelta(days=1)
    )
    weeks.publish(actor=manager, week=week)
    assert (
        "Changed after publishing"
        not in client_for(adams.user).get("/roster/mine/").content.decode()
    )
    # when the manager moves Adams from Monday to Wednesday on the grid
    m = client_for(manager)
    assert m.post(f"/roster/shifts/{monday.pk}/remove/", {"week": WEEK}).status_code in (200, 302)
    added = m.post(
        "/roster/assign/",
        {"staff": adams.pk, "template": early.pk, "day": "2027-03-03", "week": WEEK},
    )
    assert added.status_code in (200, 302)
    assert Assignment.objects.filter(staff=adams, day=dt.date(2027, 3, 3)).exists()
    # then Adams's My shifts says what changed, on the page and in its htmx fragment
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        mine = client_for(adams.user).get("/roster/mine/", **headers).content.decode()
        assert "Changed after publishing" in mine
        assert "Removed: Sam Adams: Desk early Mon 01 Mar 07:00-15:00" in mine
        assert "Added: Desk early Wed 03 Mar 07:00-15:00" in mine
    # and Baker, whose shift did not change, sees no callout
    theirs = client_for(baker.user).get("/roster/mine/").content.decode()
    assert "Changed after publishing" not in theirs
    assert "Desk early Mon 01 Mar" not in theirs
