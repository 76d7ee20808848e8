"""The demo's flow board (`manage.py seed_flow`): today's patients, each in a step of the visit."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, User
from patientflow import selectors
from patientflow.management.commands.seed_flow import FlowSeeder
from patientflow.models import ACTIVE_STEPS, IN_ROOM_STEPS, RoomTurn, Step, Visit, VisitEvent
from scheduling.management.commands.seed_scheduling import ClinicSeeder, us_holidays
from scheduling.models import Appointment

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic() -> Clinic:
    """The first demo clinic, with its schedule seeded as of a weekday morning (10:35)."""
    call_command("seed_demo", patients=200, core_only=True, verbosity=0, stdout=StringIO())
    return Clinic.objects.order_by("pk").first()


def weekday_at(clinic: Clinic, at: time) -> datetime:
    day = clinic.today() + timedelta(days=1)
    while day.weekday() >= 5 or us_holidays(day, day):
        day += timedelta(days=1)
    return datetime.combine(day, at, tzinfo=clinic.tz)


def test_the_morning_patients_are_spread_over_the_steps(clinic: Clinic) -> None:
    # given the schedule of a weekday, as the clock stands at 10:35
    now = weekday_at(clinic, time(10, 35))
    ClinicSeeder(clinic, random.Random(1), now=now).run()

    # when the flow is seeded
    FlowSeeder(clinic, random.Random(2), now=now).run()

    # then some patients have left, some are still in the clinic
    visits = list(Visit.objects.filter(clinic=clinic).select_related("appointment"))
    steps = Counter(visit.step for visit in visits)
    assert steps[Step.CHECKED_OUT] >= 1
    assert sum(steps[step] for step in ACTIVE_STEPS) >= 2
    for visit in visits:
        # each appointment agrees with its visit
        expected = "completed" if visit.step == Step.CHECKED_OUT else "arrived"
        assert visit.appointment.status == expected
        assert (visit.room_id is not None) == (visit.step in IN_ROOM_STEPS)
        events = list(visit.events.order_by("at", "pk"))
        assert events[-1].to_step == visit.step
        assert all(event.at <= now for event in events)
        assert [e.at for e in events] == sorted(e.at for e in events)
    # and no room ever held two patients at once
    turns = list(RoomTurn.objects.filter(room__clinic=clinic).order_by("room", "occupied_at"))
    for before, after in itertools.pairwise(turns):
        if before.room_id == after.room_id:
            assert before.cleaned_at is not None
            assert before.cleaned_at <= after.occupied_at
    # and the boards show them
    desk = User.objects.get(username="frontdesk")
    board = selectors.flow_board(user=desk, clinic=clinic, now=now)
    assert {c.step: c.count for c in board.counts if c.count} == dict(steps)
    states = {room.state for room in selectors.room_board(user=desk, clinic=clinic, now=now)}
    assert "free" in states
    assert states & {"occupied", "cleaning"}


def test_a_second_run_the_same_day_adds_nothing(clinic: Clinic) -> None:
    now = weekday_at(clinic, time(10, 35))
    ClinicSeeder(clinic, random.Random(1), now=now).run()
    FlowSeeder(clinic, random.Random(2), now=now).run()
    counts = (Visit.objects.count(), VisitEvent.objects.count(), AuditEvent.objects.count())

    summary = FlowSeeder(clinic, random.Random(2), now=now + timedelta(minutes=30)).run()

    assert "seeded before" in summary
    assert (Visit.objects.count(), VisitEvent.objects.count(), AuditEvent.objects.count()) == counts


def test_before_the_first_appointment_nobody_is_checked_in(clinic: Clinic) -> None:
    now = weekday_at(clinic, time(7, 0))
    ClinicSeeder(clinic, random.Random(1), now=now).run()

    FlowSeeder(clinic, random.Random(2), now=now).run()

    assert not Visit.objects.exists()
    assert Appointment.objects.filter(clinic=clinic, status="booked").exists()


def test_the_command_runs_on_the_real_clock_once_a_day(clinic: Clinic) -> None:
    call_command("seed_scheduling", stdout=StringIO())
    out = StringIO()

    call_command("seed_flow", stdout=out)
    visits = Visit.objects.count()
    call_command("seed_flow", stdout=out)

    assert Visit.objects.count() == visits
    assert clinic.name in out.getvalue()
