"""The visit's own times equal what its event log says, after every transition.

`Visit.with_provider_at` is kept by the database from the append-only event log (migration
0003); `checked_in_at` and `checked_out_at` are written by the services with their events. The
KPI medians read these columns instead of the events, so they must never disagree: checked
here after each move, undo, room change, checkout and walk-in made through the services, over
random walks, and for writers that bypass the services.
"""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from patientflow import kpis
from patientflow.models import (
    ACTIVE_STEPS,
    FORWARD,
    IN_ROOM_STEPS,
    NEXT_STEPS,
    Step,
    Visit,
    VisitEvent,
)
from patientflow.services import checkin, checkout, moves
from patientflow.services.common import FlowError

pytestmark = pytest.mark.django_db

fill = importlib.import_module("patientflow.migrations.0003_visit_with_provider_at")


def event_log_times(visit: Visit) -> tuple[dt.datetime | None, ...]:
    """(checked in, first effective "with provider", checked out) as the event log says."""
    events = list(VisitEvent.objects.filter(visit=visit).order_by("at", "pk"))
    steps = kpis.effective_steps(events)
    first = {}
    for step, at in steps:
        first.setdefault(step, at)
    return first.get(Step.CHECKED_IN), first.get(Step.WITH_PROVIDER), first.get(Step.CHECKED_OUT)


def assert_times_match(visit: Visit) -> None:
    stored = Visit.objects.get(pk=visit.pk)
    assert (stored.checked_in_at, stored.with_provider_at, stored.checked_out_at) == (
        event_log_times(visit)
    )
    # the service hands back what is stored
    assert visit.with_provider_at == stored.with_provider_at


def test_undo_and_redo_of_with_provider(visit_factory, nurse, provider, front_desk, rooms):
    base = timezone.now() - dt.timedelta(hours=3)
    visit = visit_factory(base)
    assert visit.with_provider_at is None
    visit = moves.move_visit(
        actor=nurse,
        visit=visit,
        to_step=Step.ROOMED,
        expected_step=Step.CHECKED_IN,
        room=rooms[0],
        now=base + dt.timedelta(minutes=5),
    )
    mistaken = base + dt.timedelta(minutes=9)
    visit = moves.move_visit(
        actor=nurse,
        visit=visit,
        to_step=Step.WITH_PROVIDER,
        expected_step=Step.ROOMED,
        now=mistaken,
    )
    assert visit.with_provider_at == mistaken
    visit = moves.undo_last_step(
        actor=nurse,
        visit=visit,
        expected_step=Step.WITH_PROVIDER,
        reason="too early",
        now=base + dt.timedelta(minutes=10),
    )
    assert visit.with_provider_at is None
    assert_times_match(visit)
    seen = base + dt.timedelta(minutes=25)
    visit = moves.move_visit(
        actor=provider.user,
        visit=visit,
        to_step=Step.WITH_PROVIDER,
        expected_step=Step.ROOMED,
        now=seen,
    )
    visit = moves.move_visit(
        actor=provider.user,
        visit=visit,
        to_step=Step.READY_FOR_CHECKOUT,
        expected_step=Step.WITH_PROVIDER,
        now=base + dt.timedelta(minutes=40),
    )
    # undoing "ready for checkout" goes back to the provider: the provider time stays
    visit = moves.undo_last_step(
        actor=nurse,
        visit=visit,
        expected_step=Step.READY_FOR_CHECKOUT,
        reason="not done",
        now=base + dt.timedelta(minutes=41),
    )
    assert visit.with_provider_at == seen
    assert_times_match(visit)
    visit = moves.move_visit(
        actor=provider.user,
        visit=visit,
        to_step=Step.READY_FOR_CHECKOUT,
        expected_step=Step.WITH_PROVIDER,
        now=base + dt.timedelta(minutes=50),
    )
    visit = checkout.check_out(actor=front_desk, visit=visit, now=base + dt.timedelta(minutes=55))
    assert (visit.with_provider_at, visit.checked_out_at) == (seen, base + dt.timedelta(minutes=55))
    assert_times_match(visit)


@pytest.mark.parametrize("seed", range(6))
def test_random_walks_keep_the_times_equal_to_the_event_log(
    seed, visit_factory, nurse, front_desk, rooms
):
    """Random legal transitions (moves, undos, room changes, leaving, checkout), checked
    after every one of them."""
    rng = random.Random(seed)
    now = timezone.now() - dt.timedelta(hours=6)
    visit = visit_factory(now)
    assert_times_match(visit)
    transitions = 0
    while visit.step in ACTIVE_STEPS and transitions < 40:
        now += dt.timedelta(minutes=rng.randint(1, 9), seconds=rng.randint(0, 59))
        choice = rng.random()
        try:
            if choice < 0.3 and visit.step != Step.CHECKED_IN:
                visit = moves.undo_last_step(
                    actor=nurse, visit=visit, expected_step=visit.step, reason="oops", now=now
                )
            elif choice < 0.4 and visit.step in IN_ROOM_STEPS:
                other = next(r for r in rooms if r.pk != visit.room_id)
                visit = moves.change_room(
                    actor=nurse, visit=visit, room=other, expected_step=visit.step, now=now
                )
            elif choice < 0.45:
                leave = [s for s in NEXT_STEPS[visit.step] if s not in ACTIVE_STEPS]
                visit = moves.move_visit(
                    actor=nurse,
                    visit=visit,
                    to_step=rng.choice(leave),
                    expected_step=visit.step,
                    reason="sent to imaging",
                    now=now,
                )
            elif visit.step == Step.READY_FOR_CHECKOUT:
                visit = checkout.check_out(actor=front_desk, visit=visit, now=now)
            else:
                room = rng.choice(rooms) if FORWARD[visit.step] == Step.ROOMED else None
                visit = moves.move_visit(
                    actor=nurse,
                    visit=visit,
                    to_step=FORWARD[visit.step],
                    expected_step=visit.step,
                    room=room,
                    now=now,
                )
        except FlowError:
            # a refused move (e.g. a room taken, which needs cleaning) changes nothing
            visit = Visit.objects.get(pk=visit.pk)
        transitions += 1
        assert_times_match(visit)


def test_a_walk_in_starts_with_no_provider_time(
    flow_clinic, front_desk, provider, visit_type, schedule, patient
):
    visit = checkin.walk_in(
        actor=front_desk,
        clinic=flow_clinic,
        patient=patient,
        provider=provider,
        appointment_type=visit_type,
    )
    assert visit.with_provider_at is None
    assert_times_match(visit)


def test_events_written_around_the_services_keep_the_time_too(visit_factory, nurse, rooms):
    """A correction inserted straight into the log (a data fix, a COPY) still moves the time:
    the trigger is on the events, not in the services."""
    base = timezone.now() - dt.timedelta(hours=2)
    visit = visit_factory(base)
    seen = base + dt.timedelta(minutes=12)
    VisitEvent.objects.bulk_create(
        [
            VisitEvent(
                visit=visit,
                from_step="checked_in",
                to_step="roomed",
                at=base + dt.timedelta(minutes=3),
                actor_label="psql",
            ),
            VisitEvent(
                visit=visit,
                from_step="roomed",
                to_step="with_provider",
                at=seen,
                actor_label="psql",
            ),
        ]
    )
    assert Visit.objects.get(pk=visit.pk).with_provider_at == seen
    wrong = VisitEvent.objects.get(visit=visit, to_step="with_provider")
    VisitEvent.objects.create(
        visit=visit,
        kind="undo",
        undoes=wrong,
        from_step="with_provider",
        to_step="roomed",
        at=seen + dt.timedelta(hours=5),
        actor_label="manager",
        reason="Wrong visit",
    )
    assert Visit.objects.get(pk=visit.pk).with_provider_at is None
    assert_times_match(Visit.objects.get(pk=visit.pk))


def test_only_the_event_log_writes_the_provider_time(visit_factory, nurse, rooms):
    base = timezone.now() - dt.timedelta(hours=2)
    visit = visit_factory(base)
    stale = Visit.objects.get(pk=visit.pk)
    moves.move_visit(
        actor=nurse,
        visit=visit,
        to_step=Step.ROOMED,
        expected_step=Step.CHECKED_IN,
        room=rooms[0],
        now=base,
    )
    seen = base + dt.timedelta(minutes=7)
    moves.move_visit(
        actor=nurse, visit=visit, to_step=Step.WITH_PROVIDER, expected_step=Step.ROOMED, now=seen
    )

    # a full save of an instance read before (with_provider_at None) keeps the stored time
    stale.notes = "edited"
    stale.step, stale.room = Step.WITH_PROVIDER, rooms[0]
    stale.save()
    # and so does a direct update
    Visit.objects.filter(pk=visit.pk).update(with_provider_at=base)
    assert Visit.objects.get(pk=visit.pk).with_provider_at == seen
    assert Visit.objects.get(pk=visit.pk).notes == "edited"


def test_the_data_migration_fills_existing_visits_from_their_events(
    visit_factory, nurse, provider, rooms
):
    base = timezone.now() - dt.timedelta(hours=2)
    visit = visit_factory(base)
    moves.move_visit(
        actor=nurse,
        visit=visit,
        to_step=Step.ROOMED,
        expected_step=Step.CHECKED_IN,
        room=rooms[0],
        now=base,
    )
    seen = base + dt.timedelta(minutes=4)
    moves.move_visit(
        actor=provider.user,
        visit=visit,
        to_step=Step.WITH_PROVIDER,
        expected_step=Step.ROOMED,
        now=seen,
    )
    undone = visit_factory(base)
    moves.move_visit(
        actor=nurse,
        visit=undone,
        to_step=Step.ROOMED,
        expected_step=Step.CHECKED_IN,
        room=rooms[1],
        now=base,
    )
    moves.move_visit(
        actor=nurse, visit=undone, to_step=Step.WITH_PROVIDER, expected_step=Step.ROOMED, now=seen
    )
    moves.undo_last_step(
        actor=nurse,
        visit=undone,
        expected_step=Step.WITH_PROVIDER,
        reason="wrong patient",
        now=seen,
    )
    with connection.cursor() as cursor:  # the rows as they stood before the migration
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks: ALTER may run
        cursor.execute("ALTER TABLE patientflow_visit DISABLE TRIGGER visit_times_from_events_only")
        cursor.execute("UPDATE patientflow_visit SET with_provider_at = NULL")
        cursor.execute("ALTER TABLE patientflow_visit ENABLE TRIGGER visit_times_from_events_only")
        assert Visit.objects.get(pk=visit.pk).with_provider_at is None
        cursor.execute("ALTER TABLE patientflow_visit DISABLE TRIGGER visit_times_from_events_only")
        cursor.execute(fill.FILL)
        cursor.execute("ALTER TABLE patientflow_visit ENABLE TRIGGER visit_times_from_events_only")
    assert Visit.objects.get(pk=visit.pk).with_provider_at == seen
    assert Visit.objects.get(pk=undone.pk).with_provider_at is None


@pytest.fixture
def visit_factory(make_appointment, front_desk):
    """A visit checked in at `at` through the service (each in its own slot from now on)."""

    slots = itertools.count()

    def make(at: dt.datetime) -> Visit:
        appointment = make_appointment(minutes_from_now=20 * next(slots))
        return checkin.check_in(actor=front_desk, appointment=appointment, now=at)

    return make


def test_the_range_functions_round_like_the_per_day_ones(visit_factory, nurse, rooms):
    """The range SQL rounds to the hundredth of a minute as `minutes_between` does (ties to
    even): 1.5 s is 0.025 min, shown 0.02; 4.5 s is 0.075 min, shown 0.08."""
    base = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    for n, seconds in enumerate((1.5, 4.5)):
        visit = visit_factory(base + dt.timedelta(minutes=n))
        moves.move_visit(
            actor=nurse,
            visit=visit,
            to_step=Step.ROOMED,
            expected_step=Step.CHECKED_IN,
            room=rooms[n],
            now=base + dt.timedelta(minutes=n, seconds=0.5),
        )
        moves.move_visit(
            actor=nurse,
            visit=visit,
            to_step=Step.WITH_PROVIDER,
            expected_step=Step.ROOMED,
            now=base + dt.timedelta(minutes=n, seconds=seconds),
        )
    clinic = visit.clinic
    day = base.astimezone(clinic.tz).date()
    expected = [Decimal("0.02"), Decimal("0.08")]
    assert kpis.door_to_provider_minutes(clinic, day) == expected
    assert {d: sorted(v) for d, v in kpis.door_to_provider_range(clinic, day, day).items()} == {
        day: [float(m) for m in expected]
    }
