"""The time clock: kiosk and own punches, PIN lockout, linking to the roster, flags, bad input,
corrections, timesheet confirm/approve/lock and the payroll CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from datetime import UTC, timedelta

import pytest
from django.db import DatabaseError, transaction
from django.test import Client
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.tests.factories import StaffFactory
from workforce import timesheets
from workforce.models import Punch, RosterRole, ShiftTemplate, TimesheetWeek
from workforce.services import timeclock, timesheet_weeks, weeks
from workforce.services.timeclock import PunchError

from .conftest import person

pytestmark = pytest.mark.django_db
NY = UTC


def client_for(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def nurse(clinic: Clinic) -> Staff:
    staff = person(clinic, "Nolan", RosterRole.NURSE, first="Nia", username="nia")
    timeclock.set_pin(actor=None, staff=staff, pin="4321", badge_code="B-0042")
    return staff


@pytest.fixture
def rn_day(clinic: Clinic) -> ShiftTemplate:
    return ShiftTemplate.objects.create(
        clinic=clinic,
        name="RN day",
        role=RosterRole.NURSE,
        start_time=dt.time(8),
        end_time=dt.time(16, 30),
        break_minutes=30,
        weekdays=list(range(7)),
    )


def rostered_now(clinic: Clinic, staff: Staff, template: ShiftTemplate, offset_min: int) -> None:
    """Put `staff` on a shift that started `offset_min` minutes ago (built around now)."""
    now = timezone.now().astimezone(clinic.tz)
    start = now - timedelta(minutes=offset_min)
    template.start_time = start.time().replace(second=0, microsecond=0)
    end = start + timedelta(hours=8)
    template.end_time = end.time().replace(second=0, microsecond=0)
    template.overnight = end.date() != start.date()
    template.save()
    week = weeks.week_for(clinic, start.date())
    weeks.add_assignment(actor=None, week=week, staff=staff, template=template, day=start.date())


def kiosk_post(c: Client, staff: Staff, pin: str, kind: str = "in", key: str | None = None):
    return c.post(
        "/roster/kiosk/punch/",
        {"staff": staff.pk, "pin": pin, "kind": kind, "request_key": key or str(uuid.uuid4())},
    )


def test_kiosk_lists_people_with_a_pin_and_a_badge_scan_finds_them(
    clinic: Clinic, manager: User, nurse: Staff
) -> None:
    c = client_for(manager)
    page = c.get("/roster/kiosk/")
    assert page.status_code == 200
    assert "Nia Nolan" in page.content.decode()
    found = c.get("/roster/kiosk/?badge=B-0042")
    assert found.status_code == 302
    assert found["Location"] == f"/roster/kiosk/{nurse.pk}/"
    unknown = c.get("/roster/kiosk/?badge=NOPE")
    assert "That badge is not known at this clinic" in unknown.content.decode()


def test_kiosk_clock_in_links_the_rostered_shift_and_flags_late(
    clinic: Clinic, manager: User, nurse: Staff, rn_day: ShiftTemplate
) -> None:
    rostered_now(clinic, nurse, rn_day, offset_min=20)
    c = client_for(manager)
    answer = kiosk_post(c, nurse, "4321")
    assert answer.status_code == 200
    punch = Punch.objects.get()
    assert punch.kind == "in"
    assert punch.source == "kiosk"
    assert punch.assignment is not None
    assert punch.flag == "late"
    assert "Clock in at" in answer.content.decode()
    assert "late" in answer.content.decode()
    assert AuditEvent.objects.filter(object_type="workforce.punch", action="create").count() == 1


def test_on_time_and_unrostered_flags(clinic: Clinic, nurse: Staff, rn_day: ShiftTemplate) -> None:
    row, _ = timeclock.punch(
        actor=None, staff=nurse, clinic=clinic, kind="in", request_key=uuid.uuid4(), source="self"
    )
    assert row.flag == "unrostered"
    assert row.assignment is None


def test_wrong_pin_five_times_locks_the_pin_like_the_login(
    clinic: Clinic, manager: User, nurse: Staff
) -> None:
    c = client_for(manager)
    for _ in range(4):
        answer = kiosk_post(c, nurse, "0000")
        assert answer.status_code == 400
        assert "that PIN is wrong" in answer.content.decode()
    fifth = kiosk_post(c, nurse, "0000")
    assert fifth.status_code == 403
    assert "Too many wrong PINs for Nia Nolan" in fifth.content.decode()
    right = kiosk_post(c, nurse, "4321")
    assert right.status_code == 403
    assert Punch.objects.count() == 0
    # The login of the same person is not locked by the PIN's failures.
    assert Client().post("/login/", {"username": "nia", "password": "x"}).status_code != 403
    assert AuditEvent.objects.filter(action="login_failed").count() >= 5


def test_right_pin_resets_the_count(clinic: Clinic, manager: User, nurse: Staff) -> None:
    c = client_for(manager)
    for _ in range(4):
        kiosk_post(c, nurse, "0000")
    assert kiosk_post(c, nurse, "4321").status_code == 200
    for _ in range(4):
        assert kiosk_post(c, nurse, "0000", kind="out").status_code == 400
    assert kiosk_post(c, nurse, "4321", kind="out").status_code == 200
    assert list(Punch.objects.values_list("kind", flat=True)) == ["in", "out"]


def test_someone_not_on_staff_here_is_refused(
    clinic: Clinic, other_clinic: Clinic, manager: User
) -> None:
    elsewhere = person(other_clinic, "Far", RosterRole.NURSE, clinics=[other_clinic])
    timeclock.set_pin(actor=None, staff=elsewhere, pin="1111")
    c = client_for(manager)
    answer = kiosk_post(c, elsewhere, "1111")
    assert answer.status_code == 400
    assert f"not on staff at {clinic}" in answer.content.decode()
    assert c.get(f"/roster/kiosk/{elsewhere.pk}/").status_code == 404
    with pytest.raises(PunchError, match="not on staff"):
        timeclock.punch(
            actor=None,
            staff=elsewhere,
            clinic=clinic,
            kind="in",
            request_key=uuid.uuid4(),
            source="self",
        )
    assert Punch.objects.count() == 0


def test_bad_kiosk_input_answers_with_the_field(
    clinic: Clinic, manager: User, nurse: Staff
) -> None:
    c = client_for(manager)
    answer = c.post("/roster/kiosk/punch/", {"staff": nurse.pk, "pin": "12", "kind": "in"})
    assert answer.status_code == 400
    assert "PIN: A PIN is 4 to 6 digits." in answer.content.decode()
    answer = c.post("/roster/kiosk/punch/", {"staff": "abc", "pin": "4321", "kind": "in"})
    assert answer.status_code == 400
    answer = kiosk_post(c, nurse, "4321", kind="sideways")
    assert "Action:" in answer.content.decode()
    assert Punch.objects.count() == 0


def test_own_session_clock_out_before_clock_in_is_refused(clinic: Clinic, nurse: Staff) -> None:
    c = client_for(nurse.user)
    answer = c.post("/roster/clock/punch/", {"kind": "out", "request_key": str(uuid.uuid4())})
    assert answer.status_code == 302
    page = c.get("/roster/clock/").content.decode()
    assert "is not clocked in; clock in first" in page
    assert Punch.objects.count() == 0
    c.post("/roster/clock/punch/", {"kind": "in", "request_key": str(uuid.uuid4())})
    c.post("/roster/clock/punch/", {"kind": "break_start", "request_key": str(uuid.uuid4())})
    answer = c.post("/roster/clock/punch/", {"kind": "in", "request_key": str(uuid.uuid4())})
    assert "already clocked in" in c.get("/roster/clock/").content.decode()
    c.post("/roster/clock/punch/", {"kind": "out", "request_key": str(uuid.uuid4())})
    assert list(Punch.objects.values_list("kind", flat=True)) == ["in", "break_start", "out"]


def test_the_same_request_sent_twice_records_one_punch(
    clinic: Clinic, manager: User, nurse: Staff
) -> None:
    c = client_for(manager)
    key = str(uuid.uuid4())
    first = kiosk_post(c, nurse, "4321", key=key)
    second = kiosk_post(c, nurse, "4321", key=key)
    assert first.status_code == second.status_code == 200
    assert Punch.objects.count() == 1
    # The answer to the resend reports the stored punch, as the first did.
    assert "Clock in at" in second.content.decode()
    own = client_for(nurse.user)
    key = str(uuid.uuid4())
    own.post("/roster/clock/punch/", {"kind": "out", "request_key": key})
    own.post("/roster/clock/punch/", {"kind": "out", "request_key": key})
    assert list(Punch.objects.values_list("kind", flat=True)) == ["in", "out"]


def test_punches_are_append_only_in_the_database(clinic: Clinic, nurse: Staff) -> None:
    row, _ = timeclock.punch(
        actor=None, staff=nurse, clinic=clinic, kind="in", request_key=uuid.uuid4(), source="self"
    )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Punch.objects.filter(pk=row.pk).update(at=row.at - timedelta(hours=1))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Punch.objects.filter(pk=row.pk).delete()


# ---------------------------------------------------------------------------------------------
# Corrections, timesheets, approval and export

LAST_WEEK_SUNDAY = None


def past_week(clinic: Clinic) -> dt.date:
    """The Sunday starting last full work week (default rule: Sunday 00:00)."""
    return timesheets.work_week_of(clinic, timezone.now() - timedelta(days=7))


def at(clinic: Clinic, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clinic.tz).astimezone(UTC)


def work(clinic: Clinic, staff: Staff, day: dt.date, start: int, end: int) -> None:
    for kind, hour in (("in", start), ("out", end)):
        timeclock.punch(
            actor=None,
            staff=staff,
            clinic=clinic,
            kind=kind,
            request_key=uuid.uuid4(),
            source="demo",
            at=at(clinic, day, hour),
        )


def test_correction_needs_a_reason_and_a_sane_order(
    clinic: Clinic, manager: User, nurse: Staff
) -> None:
    sunday = past_week(clinic)
    monday = sunday + timedelta(days=1)
    work(clinic, nurse, monday, 8, 16)
    c = client_for(manager)
    url = f"/roster/timesheets/{nurse.pk}/correct/"
    base = {"week": monday.isoformat(), "request_key": str(uuid.uuid4())}
    answer = c.post(url, {**base, "kind": "out", "day": monday.isoformat(), "time": "12:00"})
    assert answer.status_code == 302
    page = c.get(answer["Location"]).content.decode()
    assert "Reason: Say why the timesheet is corrected." in page
    # A clock-out before the clock-in (a new pair out of order).
    answer = c.post(
        url,
        {
            **base,
            "kind": "out",
            "day": monday.isoformat(),
            "time": "07:00",
            "reason": "forgot",
        },
    )
    page = c.get(answer["Location"]).content.decode()
    assert "before any clock-in" in page
    assert Punch.objects.filter(source="manager").count() == 0
    # Replacing the clock-out with 17:30: stored, audited, the timesheet reads 9.5 h.
    out = Punch.objects.get(kind="out")
    answer = c.post(
        url,
        {
            **base,
            "kind": "out",
            "replaces": out.pk,
            "day": monday.isoformat(),
            "time": "17:30",
            "reason": "Stayed for a late patient",
        },
    )
    page = c.get(answer["Location"]).content.decode()
    assert "Reason: Stayed for a late patient" in page
    sheet = timesheets.sheet_for(nurse, clinic, sunday)
    assert sheet.totals()["worked"] == "9.50"
    event = AuditEvent.objects.filter(summary__startswith="Timesheet correction").get()
    assert event.changes["reason"] == "Stayed for a late patient"
    # The same correction sent twice is stored once.
    c.post(
        url,
        {
            **base,
            "kind": "out",
            "replaces": out.pk,
            "day": monday.isoformat(),
            "time": "17:30",
            "reason": "Stayed for a late patient",
        },
    )
    assert Punch.objects.filter(source="manager").count() == 1


def test_void_cancels_a_punch(clinic: Clinic, manager: User, nurse: Staff) -> None:
    sunday = past_week(clinic)
    tuesday = sunday + timedelta(days=2)
    work(clinic, nurse, tuesday, 8, 12)
    stray = timeclock.punch(
        actor=None,
        staff=nurse,
        clinic=clinic,
        kind="in",
        request_key=uuid.uuid4(),
        source="demo",
        at=at(clinic, tuesday, 13),
    )[0]
    sheet = timesheets.sheet_for(
        nurse, clinic, sunday, now=at(clinic, tuesday, 13) + timedelta(days=2)
    )
    assert sheet.issues  # a clock-in without a clock-out
    timeclock.correct(
        actor=manager,
        staff=nurse,
        clinic=clinic,
        kind="void",
        at=None,
        reason="Tapped in by mistake",
        request_key=uuid.uuid4(),
        replaces=stray,
    )
    sheet = timesheets.sheet_for(nurse, clinic, sunday)
    assert not sheet.issues
    assert sheet.totals()["worked"] == "4.00"


def test_confirm_approve_lock_and_export(clinic: Clinic, manager: User, nurse: Staff) -> None:
    sunday = past_week(clinic)
    for d in range(1, 6):
        work(clinic, nurse, sunday + timedelta(days=d), 7, 17)  # 5 x 10 h = 50 h
    c = client_for(manager)
    week = sunday.isoformat()
    # Not confirmed yet: the manager cannot approve.
    answer = c.post(f"/roster/timesheets/{nurse.pk}/approve/", {"week": week})
    assert "has not confirmed this week yet" in c.get(answer["Location"]).content.decode()
    own = client_for(nurse.user)
    own.post("/roster/clock/confirm/", {"week": week})
    own.post("/roster/clock/confirm/", {"week": week})  # twice: one confirmation
    assert AuditEvent.objects.filter(summary__contains="confirmed the timesheet").count() == 1
    listing = c.get(f"/roster/timesheets/?week={week}").content.decode()
    assert "Nia Nolan" in listing
    assert "50.00" in listing
    assert "10.00" in listing
    answer = c.post(f"/roster/timesheets/{nurse.pk}/approve/", {"week": week})
    page = c.get(answer["Location"]).content.decode()
    assert "50.00 h worked, 10.00 h overtime, 0.00 h double time" in page
    row = TimesheetWeek.objects.get()
    assert row.status == "approved"
    assert row.totals["overtime"] == "10.00"
    # Approved twice: still one approval event.
    c.post(f"/roster/timesheets/{nurse.pk}/approve/", {"week": week})
    assert AuditEvent.objects.filter(summary__startswith="Approved Nia").count() == 1
    # Locked: corrections refused.
    with pytest.raises(PunchError, match="approved and locked"):
        timeclock.correct(
            actor=manager,
            staff=nurse,
            clinic=clinic,
            kind="in",
            at=at(clinic, sunday + timedelta(days=6), 9),
            reason="late entry",
            request_key=uuid.uuid4(),
        )
    with pytest.raises(PunchError, match="already approved"):
        timesheet_weeks.confirm(actor=nurse.user, staff=nurse, clinic=clinic, first_day=sunday)
    exported = c.get(f"/roster/timesheets/export.csv?week={week}")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert len(rows) == 1
    assert rows[0]["worked_hours"] == "50.00"
    assert rows[0]["overtime_hours"] == "10.00"
    assert rows[0]["regular_hours"] == "40.00"
    assert rows[0]["approved_by"] == "manager"


def test_a_week_not_over_cannot_be_approved(clinic: Clinic, manager: User, nurse: Staff) -> None:
    this_week = timesheets.work_week_of(clinic, timezone.now())
    timesheet_weeks.confirm(actor=nurse.user, staff=nurse, clinic=clinic, first_day=this_week)
    with pytest.raises(PunchError, match="not over yet"):
        timesheet_weeks.approve(actor=manager, staff=nurse, clinic=clinic, first_day=this_week)


def test_timesheets_are_scoped_to_the_clinic(
    clinic: Clinic, other_clinic: Clinic, manager: User
) -> None:
    far = StaffFactory(roles=[roles.NURSE], clinics=[other_clinic])
    c = client_for(manager)
    assert c.get(f"/roster/timesheets/{far.pk}/").status_code == 404
    assert c.post(f"/roster/timesheets/{far.pk}/approve/", {}).status_code == 404
    nurse_user = StaffFactory(roles=[roles.NURSE], clinics=[clinic]).user
    assert client_for(nurse_user).get("/roster/timesheets/").status_code == 403
    assert client_for(nurse_user).get("/roster/timesheets/export.csv").status_code == 403


def test_missed_shift_and_difference_against_the_roster(
    clinic: Clinic, nurse: Staff, rn_day: ShiftTemplate
) -> None:
    sunday = past_week(clinic)
    monday, tuesday = sunday + timedelta(days=1), sunday + timedelta(days=2)
    week = weeks.week_for(clinic, monday)
    for day in (monday, tuesday):
        weeks.add_assignment(actor=None, week=week, staff=nurse, template=rn_day, day=day)
    timeclock.punch(
        actor=None,
        staff=nurse,
        clinic=clinic,
        kind="in",
        request_key=uuid.uuid4(),
        source="demo",
        at=at(clinic, monday, 8, 20),
    )
    timeclock.punch(
        actor=None,
        staff=nurse,
        clinic=clinic,
        kind="out",
        request_key=uuid.uuid4(),
        source="demo",
        at=at(clinic, monday, 16, 30),
    )
    sheet = timesheets.sheet_for(nurse, clinic, sunday)
    mon, tue = sheet.lines[1], sheet.lines[2]
    assert any(f.startswith("Late clock-in at 08:20") for f in mon.flags)
    assert mon.rostered == 8 * 3600
    assert str(mon.difference) == "0.17"  # 8 h 10 min worked against 8 h rostered
    assert any(f.startswith("Missed: no clock-in for RN day") for f in tue.flags)
    assert sheet.totals()["rostered"] == "16.00"


def test_two_clinics_share_one_overtime_week(
    clinic: Clinic, other_clinic: Clinic, nurse: Staff
) -> None:
    nurse.clinics.add(other_clinic)
    sunday = past_week(clinic)
    for d in range(1, 5):
        work(clinic, nurse, sunday + timedelta(days=d), 7, 17)  # 40 h here
    work(other_clinic, nurse, sunday + timedelta(days=5), 8, 14)  # 6 h there
    here = timesheets.sheet_for(nurse, clinic, sunday)
    there = timesheets.sheet_for(nurse, other_clinic, sunday)
    assert here.totals()["overtime"] == "0.00"
    assert there.totals()["overtime"] == "6.00"
    assert there.totals()["worked"] == "6.00"


def test_an_overnight_punch_pair_across_fall_back_is_nine_hours_over_two_workdays(
    clinic: Clinic, nurse: Staff
) -> None:
    # Clocked in Saturday 31 October 2026 22:00, out Sunday 1 November 06:00 (New York).
    tz = clinic.tz
    for kind, moment_ in (
        ("in", dt.datetime(2026, 10, 31, 22, tzinfo=tz)),
        ("out", dt.datetime(2026, 11, 1, 6, tzinfo=tz)),
    ):
        timeclock.punch(
            actor=None,
            staff=nurse,
            clinic=clinic,
            kind=kind,
            request_key=uuid.uuid4(),
            source="demo",
            at=moment_,
        )
    before = timesheets.sheet_for(nurse, clinic, dt.date(2026, 10, 25))
    after = timesheets.sheet_for(nurse, clinic, dt.date(2026, 11, 1))
    assert before.lines[6].day == dt.date(2026, 10, 31)
    assert before.totals()["worked"] == "2.00"  # 22:00-24:00 Saturday, the old work week
    assert after.lines[0].worked.worked == 7 * 3600  # 00:00-06:00 with 01:00 twice
    assert after.totals()["worked"] == "7.00"


def test_a_spring_forward_day_shift_is_its_real_length(clinic: Clinic, nurse: Staff) -> None:
    # Sunday 8 March 2026 00:30 to 08:30 local is 7 real hours (02:00-03:00 never happens).
    tz = clinic.tz
    for kind, moment_ in (
        ("in", dt.datetime(2026, 3, 8, 0, 30, tzinfo=tz)),
        ("out", dt.datetime(2026, 3, 8, 8, 30, tzinfo=tz)),
    ):
        timeclock.punch(
            actor=None,
            staff=nurse,
            clinic=clinic,
            kind=kind,
            request_key=uuid.uuid4(),
            source="demo",
            at=moment_,
        )
    sheet = timesheets.sheet_for(nurse, clinic, dt.date(2026, 3, 8))
    assert sheet.totals()["worked"] == "7.00"
