"""Weeks, publishing, overrides, time off, demand and auto-fill against real Postgres."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.tests.factories import ClinicFactory, PatientFactory
from scheduling.models import Appointment, ProviderTimeOff
from scheduling.tests.factories import (
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)
from workforce import coverage, rules
from workforce.models import (
    Assignment,
    AssignmentChange,
    CoverageRule,
    RosterRole,
    RosterWeek,
    ShiftTemplate,
)
from workforce.services import autofill_runs, timeoff, weeks
from workforce.services.weeks import RosterError

from .conftest import MONDAY, person

pytestmark = pytest.mark.django_db


def test_an_assignment_is_stored_in_utc_from_the_template(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    week = weeks.week_for(clinic, MONDAY + dt.timedelta(days=2))
    assert week.week_start == MONDAY
    a = weeks.add_assignment(actor=manager, week=week, staff=desk[0], template=early, day=MONDAY)
    assert a.start == dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC)  # 07:00 EST
    assert a.paid_minutes == 7 * 60 + 30
    assert (
        AuditEvent.objects.filter(object_type="workforce.assignment", action="create").count() == 1
    )


def test_overlap_across_clinics_is_refused_by_the_database(
    clinic: Clinic, manager: User, early: ShiftTemplate, late: ShiftTemplate
) -> None:
    other = ClinicFactory(name="Hillcrest Clinic")
    both = person(clinic, "Evans", RosterRole.FRONT_DESK, clinics=[clinic, other])
    there = ShiftTemplate.objects.create(
        clinic=other,
        name="Desk mid",
        role=RosterRole.FRONT_DESK,
        start_time=dt.time(10),
        end_time=dt.time(18),
        weekdays=list(range(7)),
    )
    manager.staff.clinics.add(other)
    weeks.add_assignment(
        actor=manager, week=weeks.week_for(other, MONDAY), staff=both, template=there, day=MONDAY
    )
    with pytest.raises(RosterError, match="already works a shift overlapping Desk early"):
        weeks.add_assignment(
            actor=manager,
            week=weeks.week_for(clinic, MONDAY),
            staff=both,
            template=early,
            day=MONDAY,
        )
    assert Assignment.objects.count() == 1


def test_bad_assignments_say_why_and_store_nothing(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate, ma_day: ShiftTemplate
) -> None:
    week = weeks.week_for(clinic, MONDAY)
    with pytest.raises(RosterError, match="not in the week"):
        weeks.add_assignment(
            actor=manager,
            week=week,
            staff=desk[0],
            template=early,
            day=MONDAY + dt.timedelta(days=7),
        )
    with pytest.raises(RosterError, match="does not run on Saturdays"):
        weeks.add_assignment(
            actor=manager,
            week=week,
            staff=desk[0],
            template=ma_day,
            day=MONDAY + dt.timedelta(days=5),
        )
    stranger = person(ClinicFactory(name="Elsewhere"), "Ford", RosterRole.FRONT_DESK)
    with pytest.raises(RosterError, match="does not work at"):
        weeks.add_assignment(actor=manager, week=week, staff=stranger, template=early, day=MONDAY)
    assert not Assignment.objects.exists()


def test_publish_is_blocked_by_a_violation_and_an_override_is_audited(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate, late: ShiftTemplate
) -> None:
    week = weeks.week_for(clinic, MONDAY)
    weeks.add_assignment(actor=manager, week=week, staff=desk[0], template=late, day=MONDAY)
    weeks.add_assignment(
        actor=manager, week=week, staff=desk[0], template=early, day=MONDAY + dt.timedelta(days=1)
    )
    found = weeks.violations(week)
    assert [v.rule for v in found] == ["rest"]
    assert "only 9 h rest" in found[0].message
    with pytest.raises(RosterError, match="1 rule violation block publishing"):
        weeks.publish(actor=manager, week=week)
    week.refresh_from_db()
    assert week.status == RosterWeek.Status.DRAFT
    assert not week.versions.exists()

    version = weeks.publish(actor=manager, week=week, override_reason="Agreed with Adams")
    week.refresh_from_db()
    assert week.status == RosterWeek.Status.PUBLISHED
    assert version.number == 1
    assert version.override_reason == "Agreed with Adams"
    assert len(version.violations) == 1
    assert len(version.assignments) == 2
    event = AuditEvent.objects.filter(object_type="workforce.rosterweek").get()
    assert "overriding 1 rule violations: Agreed with Adams" in event.summary
    assert event.changes["override_reason"] == "Agreed with Adams"


def test_changes_after_publishing_are_tracked_for_the_people_affected(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    week = weeks.week_for(clinic, MONDAY)
    a = weeks.add_assignment(actor=manager, week=week, staff=desk[0], template=early, day=MONDAY)
    weeks.publish(actor=manager, week=week)
    weeks.remove_assignment(actor=manager, assignment=a)
    weeks.add_assignment(actor=manager, week=week, staff=desk[1], template=early, day=MONDAY)
    week.refresh_from_db()
    assert week.changed_since_publish
    changes = {(c.staff_id, c.kind) for c in AssignmentChange.objects.all()}
    assert changes == {(desk[0].pk, "removed"), (desk[1].pk, "added")}
    version = weeks.publish(actor=manager, week=week)
    assert version.number == 2
    assert [x["staff_id"] for x in version.assignments] == [desk[1].pk]


def test_a_providers_approved_time_off_goes_to_scheduling(
    clinic: Clinic, manager: User, early: ShiftTemplate
) -> None:
    doc = person(clinic, "Grey", RosterRole.PROVIDER)
    req = timeoff.request_time_off(
        actor=doc.user,
        staff=doc,
        clinic=clinic,
        first_day=MONDAY,
        last_day=MONDAY + dt.timedelta(days=1),
    )
    timeoff.decide(actor=manager, request=req, approve=True)
    off = ProviderTimeOff.objects.get()
    assert off.provider == doc
    assert off.start == dt.datetime(2027, 3, 1, 5, tzinfo=dt.UTC)
    req.refresh_from_db()
    assert req.provider_time_off_id == off.pk
    with pytest.raises(RosterError, match="already approved"):
        timeoff.decide(actor=manager, request=req, approve=False)


def test_approved_time_off_is_a_violation(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    req = timeoff.request_time_off(
        actor=desk[0].user, staff=desk[0], clinic=clinic, first_day=MONDAY, last_day=MONDAY
    )
    week = weeks.week_for(clinic, MONDAY)
    weeks.add_assignment(actor=manager, week=week, staff=desk[0], template=early, day=MONDAY)
    assert weeks.violations(week) == []  # pending is not yet time off
    timeoff.decide(actor=manager, request=req, approve=True)
    found = weeks.violations(week)
    assert [v.rule for v in found] == ["absence"]
    assert "approved time off" in found[0].message


def test_demand_from_a_hand_made_day_of_bookings(clinic: Clinic) -> None:
    """Tuesday 2 March 2027: two providers' morning sessions (one has 10-11 off), seven
    patients booked 09:00-10:00 and two 10:00-11:00, one cancelled."""
    tue = MONDAY + dt.timedelta(days=1)
    tz = clinic.tz
    docs = [
        person(clinic, "Hart", RosterRole.PROVIDER),
        person(clinic, "Ivey", RosterRole.PROVIDER),
    ]
    for doc in docs:
        template = ScheduleTemplateFactory(
            clinic=clinic, provider=doc, effective_from=dt.date(2027, 1, 1)
        )
        TemplateBlockFactory(
            template=template, weekday=1, start_time=dt.time(8), end_time=dt.time(12)
        )
    ProviderTimeOff.objects.create(
        provider=docs[1],
        start=dt.datetime.combine(tue, dt.time(10), tzinfo=tz),
        end=dt.datetime.combine(tue, dt.time(11), tzinfo=tz),
    )
    CoverageRule.objects.create(
        clinic=clinic,
        role="front_desk",
        kind="fixed",
        weekdays=[1],
        start_time=dt.time(8),
        end_time=dt.time(12),
        count=1,
    )
    CoverageRule.objects.create(
        clinic=clinic,
        role="front_desk",
        kind="per_patients",
        weekdays=[1],
        start_time=dt.time(8),
        end_time=dt.time(12),
        patients_per_person=3,
    )
    CoverageRule.objects.create(
        clinic=clinic,
        role="ma",
        kind="per_provider",
        weekdays=[1],
        start_time=dt.time(8),
        end_time=dt.time(12),
        count=1,
    )
    visit = AppointmentTypeFactory(clinic=clinic, name="Visit", duration_minutes=10)
    patient = PatientFactory(clinic=clinic)
    slots = [(9, m) for m in (0, 5, 10, 15, 20, 25, 30)] + [(10, 0), (10, 10)]
    for i, (h, m) in enumerate(slots):
        start = dt.datetime.combine(tue, dt.time(h, m), tzinfo=tz)
        Appointment.objects.create(
            clinic=clinic,
            patient=patient,
            provider=docs[i % 2],
            appointment_type=visit,
            start=start,
            end=start + dt.timedelta(minutes=5),
        )
    start = dt.datetime.combine(tue, dt.time(10, 30), tzinfo=tz)
    Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        provider=docs[0],
        appointment_type=visit,
        start=start,
        end=start + dt.timedelta(minutes=5),
        status="cancelled",
        cancel_reason="patient",
    )

    bands, need = coverage.load_demand(clinic.pk, [tue], tz)
    by_hour = {(role, b.local_start.hour): n for (role, b), n in need.items()}
    assert by_hour == {
        ("front_desk", 8): 1,
        ("front_desk", 9): 3,
        ("front_desk", 10): 1,
        ("front_desk", 11): 1,
        ("ma", 8): 2,
        ("ma", 9): 2,
        ("ma", 10): 1,
        ("ma", 11): 2,
    }
    assert len(bands) == 24


def test_demand_bands_follow_the_clock_on_dst_days(clinic: Clinic) -> None:
    sunday = dt.date(2027, 3, 14)
    assert len(coverage.bands_for([sunday], clinic.tz)) == 23
    assert len(coverage.bands_for([dt.date(2027, 11, 7)], clinic.tz, 15)) == 25 * 4


def test_autofill_run_fills_applies_a_day_then_the_rest(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate, late: ShiftTemplate
) -> None:
    CoverageRule.objects.create(
        clinic=clinic,
        role="front_desk",
        kind="fixed",
        weekdays=[0, 1],
        start_time=dt.time(8),
        end_time=dt.time(20),
        count=1,
    )
    week = weeks.week_for(clinic, MONDAY)
    run = autofill_runs.execute(autofill_runs.start(actor=manager, week=week, time_limit=5).pk)
    assert run.status == "done"
    assert run.result["optimal"]
    assert run.result["filled_after"] == [24, 24]
    assert run.result["violations"] == []
    assert {a["day"] for a in run.result["add"]} == {"2027-03-01", "2027-03-02"}
    added, removed = autofill_runs.apply(actor=manager, run=run, days=[MONDAY])
    assert (added, removed) == (2, 0)
    run.refresh_from_db()
    assert run.status == "done"
    assert {a["day"] for a in run.result["add"]} == {"2027-03-02"}
    autofill_runs.apply(actor=manager, run=run)
    run.refresh_from_db()
    assert run.status == "applied"
    assert Assignment.objects.filter(source="autofill").count() == 4
    assert weeks.violations(week) == []


def test_autofill_with_no_staff_says_so(
    clinic: Clinic, manager: User, early: ShiftTemplate
) -> None:
    week = weeks.week_for(clinic, MONDAY)
    run = autofill_runs.execute(autofill_runs.start(actor=manager, week=week).pk)
    assert run.status == "failed"
    assert "No staff" in run.error


def test_autofill_command_prints_fill_violations_and_objective(
    clinic: Clinic, desk: list[Staff], early: ShiftTemplate, late: ShiftTemplate
) -> None:
    CoverageRule.objects.create(
        clinic=clinic,
        role="front_desk",
        kind="fixed",
        weekdays=[0, 1, 2, 3, 4],
        start_time=dt.time(8),
        end_time=dt.time(20),
        count=2,
    )
    out = io.StringIO()
    call_command(
        "autofill_roster", clinic=clinic.short_name, week="2027-03-03", time_limit=5, stdout=out
    )
    text = out.getvalue()
    assert "rule violations: 0" in text
    assert "coverage filled:" in text
    assert "objective: uncovered demand" in text
    assert "short: Mon 01 Mar" in text  # two people cannot hold two places 08-20 all week


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_two_managers_editing_one_week_lose_no_assignment(
    clinic: Clinic, manager: User, early: ShiftTemplate, late: ShiftTemplate, round_: int
) -> None:
    people = [person(clinic, f"P{i}", RosterRole.FRONT_DESK) for i in range(6)]
    second = User.objects.get(pk=manager.pk)
    week = weeks.week_for(clinic, MONDAY)
    weeks.publish(actor=manager, week=week)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(actor: User, template: ShiftTemplate, publish: bool) -> None:
        barrier.wait()
        for i, staff in enumerate(people):
            try:
                weeks.add_assignment(
                    actor=actor,
                    week=week,
                    staff=staff,
                    template=template,
                    day=MONDAY + dt.timedelta(days=i % 3 * 2),
                )
                if publish and i == 2:
                    weeks.publish(actor=actor, week=week, override_reason="race")
            except BaseException as exc:
                errors.append(exc)
        connection.close()

    threads = [
        threading.Thread(target=work, args=(manager, early, True)),
        threading.Thread(target=work, args=(second, late, False)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The early and late shifts of one person on one day overlap (07-15, 14-22): exactly one
    # of each pair is refused, never both stored, never both lost.
    refused = [e for e in errors if isinstance(e, RosterError)]
    assert len(errors) == len(refused)
    assert Assignment.objects.count() + len(refused) == 12
    assert Assignment.objects.count() == 6
    # Every stored assignment is in the latest version or recorded as a change after it.
    week.refresh_from_db()
    latest = week.versions.order_by("-number").first()
    assert latest is not None
    in_version = {a["id"] for a in latest.assignments}
    later = AssignmentChange.objects.filter(week=week, changed_at__gt=latest.published_at).count()
    assert len(in_version) + later == 6


def test_shift_fill_rate_counts_qualified_people_in_published_weeks(
    clinic: Clinic, manager: User, desk: list[Staff], mas: list[Staff], early: ShiftTemplate
) -> None:
    from workforce.kpis import shift_fill_rate_parts

    CoverageRule.objects.create(
        clinic=clinic,
        role="front_desk",
        kind="fixed",
        weekdays=[0],
        start_time=dt.time(8),
        end_time=dt.time(12),
        count=2,
    )
    assert shift_fill_rate_parts(clinic, MONDAY) == (0, 8)  # no roster yet
    week = weeks.week_for(clinic, MONDAY)
    weeks.add_assignment(actor=manager, week=week, staff=desk[0], template=early, day=MONDAY)
    # A medical assistant on a front-desk shift is not qualified for it.
    weeks.add_assignment(actor=manager, week=week, staff=mas[0], template=early, day=MONDAY)
    assert shift_fill_rate_parts(clinic, MONDAY) == (0, 8)  # a draft does not count
    weeks.publish(actor=manager, week=week, override_reason="test")
    assert shift_fill_rate_parts(clinic, MONDAY) == (4, 8)
    from workforce.kpis import shift_fill_rate_drilldown

    drill = shift_fill_rate_drilldown(clinic, MONDAY, MONDAY + dt.timedelta(days=6))
    assert drill.columns == ("Day", "Hour", "Role", "Required", "Filled", "Short")
    assert [row[1:] for row in drill.rows] == [
        (f"{h:02d}:00", "Front desk", 2, 1, 1) for h in (8, 9, 10, 11)
    ]
    assert shift_fill_rate_parts(clinic, MONDAY + dt.timedelta(days=1)) == (0, 0)


def test_seed_roster_is_idempotent_and_leaves_next_week_with_gaps(clinic: Clinic) -> None:
    from clinicops.core.tests.factories import StaffFactory as Factory

    Factory(roles=["Front desk"], clinics=[clinic])
    out = io.StringIO()
    call_command("seed_roster", time_limit=1, stdout=out)
    weeks_made = RosterWeek.objects.filter(clinic=clinic).order_by("week_start")
    assert [w.status for w in weeks_made] == ["published", "published", "published", "draft"]
    draft = weeks_made.last()
    assert draft is not None
    bands, need = coverage.load_demand(clinic.pk, draft.days, clinic.tz)
    shifts = rules.load_week(draft).shifts
    filled, total = coverage.fill(need, coverage.rostered(shifts, bands))
    assert filled < total  # gaps to fill
    count = Assignment.objects.count()
    call_command("seed_roster", time_limit=1, stdout=io.StringIO())
    assert Assignment.objects.count() == count


def test_template_bad_input_is_named(clinic: Clinic, early: ShiftTemplate) -> None:
    from django.core.exceptions import ValidationError

    backwards = ShiftTemplate(
        clinic=clinic,
        name="B",
        role="front_desk",
        start_time=dt.time(15),
        end_time=dt.time(7),
        weekdays=[0],
    )
    with pytest.raises(ValidationError, match="ends before it starts"):
        backwards.full_clean()
    backwards.overnight = True
    backwards.full_clean()  # an overnight shift may end at 07:00
    twin = ShiftTemplate(
        clinic=clinic,
        name="Twin",
        role="front_desk",
        start_time=dt.time(7),
        end_time=dt.time(15),
        weekdays=[2, 6],
    )
    with pytest.raises(ValidationError, match="Desk early already runs these hours"):
        twin.full_clean()
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ShiftTemplate.objects.create(
            clinic=clinic,
            name="C",
            role="front_desk",
            start_time=dt.time(15),
            end_time=dt.time(7),
            weekdays=[0],
        )


def test_the_celery_task_solves_and_records_progress(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    from workforce.tasks import autofill_week

    CoverageRule.objects.create(
        clinic=clinic,
        role="front_desk",
        kind="fixed",
        weekdays=[0, 1, 2],
        start_time=dt.time(8),
        end_time=dt.time(12),
        count=1,
    )
    run = autofill_runs.start(actor=manager, week=weeks.week_for(clinic, MONDAY), time_limit=5)
    assert autofill_week.apply(args=(run.pk,)).get() == "done"
    run.refresh_from_db()
    assert run.progress["objective"] in {
        "uncovered demand",
        "minutes over contract",
        "unfairness",
        "changes",
    }
    assert run.result["optimal"]
    assert run.finished_at is not None
