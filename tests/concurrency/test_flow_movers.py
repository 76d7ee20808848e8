"""Several people move the same patient at the same moment: one wins, the others see the new
state; two patients are never put in one room; one appointment never opens two visits.

Real threads, each with its own database connection, released together by a barrier each
round, against real Postgres; 20 rounds on fresh visits. What serialises the movers is the
visit's row lock and the step each mover expected, checked under that lock; what keeps a
room to one patient is a partial unique index.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from clinicops.core import roles
from clinicops.core.models import Clinic, Room, User
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, RoomFactory, StaffFactory
from patientflow import services
from patientflow.models import RoomTurn, Step, Visit, VisitEvent
from patientflow.services import checkin, housekeeping
from patientflow.services import moves as move_services
from patientflow.tests.clock import midday_zone
from scheduling.models import Appointment
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

THREADS = 6
ROUNDS = 20
NO_PASSWORD = "!unusable"


def run_rounds(
    attempt: Callable[[int, int], object], *, threads: int = THREADS, rounds: int = ROUNDS
) -> list[tuple[Counter[str], list[str], list[object]]]:
    """Call attempt(thread, round) from `threads` threads released together each round; return
    per round the outcome counts, the refusal messages and the refusals' visits."""
    start = threading.Barrier(threads)
    results: list[tuple[Counter[str], list[str], list[object]]] = [
        (Counter(), [], []) for _ in range(rounds)
    ]
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            connection.ensure_connection()
            for round_no in range(rounds):
                start.wait(timeout=60)
                message, seen = "", None
                try:
                    attempt(index, round_no)
                    outcome = "won"
                except (services.AlreadyMoved, services.AlreadyCheckedIn) as error:
                    outcome, message, seen = "already", error.message, error.visit
                except services.FlowError as error:
                    outcome, message = type(error).__name__, error.message
                except Exception as error:  # the round's assertion shows it
                    outcome = f"error: {type(error).__name__}: {error}"
                with lock:
                    results[round_no][0][outcome] += 1
                    if message:
                        results[round_no][1].append(message)
                    if seen is not None:
                        results[round_no][2].append(seen)
        finally:
            connection.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=300)
    return results


@pytest.fixture
def setting() -> dict[str, object]:
    # A transactional test's flush empties the role groups the migrations made; bring them back.
    roles.sync_roles()
    clinic: Clinic = ClinicFactory(name="Flow Concurrency Clinic", time_zone=midday_zone())
    desk = StaffFactory(roles=[roles.FRONT_DESK], clinics=[clinic], user__password=NO_PASSWORD).user
    nurses: list[User] = [
        StaffFactory(
            roles=[roles.NURSE],
            clinics=[clinic],
            user__username=f"nurse{i}",
            user__password=NO_PASSWORD,
        ).user
        for i in range(THREADS)
    ]
    provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic], user__password=NO_PASSWORD)
    kind = AppointmentTypeFactory(clinic=clinic, name="Visit", duration_minutes=20)
    # All rounds run before the checks, so each round gets rooms of its own.
    rooms: list[list[Room]] = [
        [RoomFactory(clinic=clinic, name=f"Exam {r + 1}.{i + 1}") for i in range(THREADS)]
        for r in range(ROUNDS)
    ]
    start = timezone.now().replace(second=0, microsecond=0)

    def appointment() -> Appointment:
        return AppointmentFactory(
            clinic=clinic,
            patient=PatientFactory(clinic=clinic),
            provider=provider,
            appointment_type=kind,
            start=start,
            is_overbook=True,
            overbook_reason="concurrency test",
        )

    def visits(count: int) -> list[Visit]:
        return [checkin.check_in(actor=desk, appointment=appointment()) for _ in range(count)]

    return {
        "clinic": clinic,
        "desk": desk,
        "nurses": nurses,
        "rooms": rooms,
        "appointment": appointment,
        "visits": visits,
    }


def test_movers_of_one_patient_one_wins_the_others_see_where_the_patient_went(setting) -> None:
    nurses, rooms = setting["nurses"], setting["rooms"]
    visits = setting["visits"](ROUNDS)

    def attempt(index: int, round_no: int) -> object:
        # Every nurse rooms the same patient, each into a different room.
        return move_services.move_visit(
            actor=nurses[index],
            visit=visits[round_no].pk,
            to_step=Step.ROOMED,
            expected_step=Step.CHECKED_IN,
            room=rooms[round_no][index],
        )

    results = run_rounds(attempt)

    for round_no, (outcomes, messages, seen) in enumerate(results):
        assert outcomes == Counter({"won": 1, "already": THREADS - 1}), (round_no, outcomes)
        visit = Visit.objects.select_related("room").get(pk=visits[round_no].pk)
        assert visit.step == Step.ROOMED
        # exactly one step recorded, one room taken: the winner's
        rooming = VisitEvent.objects.filter(visit=visit, to_step=Step.ROOMED).get()
        assert rooming.room == visit.room
        assert RoomTurn.objects.filter(visit=visit).count() == 1
        assert all(f"already moved to “Roomed” by {rooming.actor_label}" in m for m in messages)
        assert all(v.step == Step.ROOMED for v in seen)  # the loser is shown the new state


def test_different_moves_at_once_never_leave_two_steps(setting) -> None:
    nurses, rooms = setting["nurses"], setting["rooms"]
    visits = setting["visits"](ROUNDS)
    moves = [
        (Step.ROOMED, ""),
        (Step.LEFT_WITHOUT_BEING_SEEN, ""),
        (Step.SENT_ELSEWHERE, "Radiology"),
    ]

    def attempt(index: int, round_no: int) -> object:
        to, reason = moves[index % len(moves)]
        room = rooms[round_no][index] if to == Step.ROOMED else None
        return move_services.move_visit(
            actor=nurses[index],
            visit=visits[round_no].pk,
            to_step=to,
            expected_step=Step.CHECKED_IN,
            room=room,
            reason=reason,
        )

    results = run_rounds(attempt)

    for round_no, (outcomes, _, _) in enumerate(results):
        assert outcomes == Counter({"won": 1, "already": THREADS - 1}), (round_no, outcomes)
        visit = Visit.objects.get(pk=visits[round_no].pk)
        events = list(VisitEvent.objects.filter(visit=visit).order_by("at", "pk"))
        assert next(e.to_step for e in events) == Step.CHECKED_IN
        assert len(events) == 2
        assert events[-1].to_step == visit.step
        turns = RoomTurn.objects.filter(visit=visit).count()
        assert turns == (1 if visit.step == Step.ROOMED else 0)


def test_two_patients_are_never_roomed_into_one_room(setting) -> None:
    nurses, rooms = setting["nurses"], setting["rooms"]
    per_round = [setting["visits"](THREADS) for _ in range(ROUNDS)]

    def attempt(index: int, round_no: int) -> object:
        # Every nurse rooms a different patient, all into the round's first room.
        return move_services.move_visit(
            actor=nurses[index],
            visit=per_round[round_no][index].pk,
            to_step=Step.ROOMED,
            expected_step=Step.CHECKED_IN,
            room=rooms[round_no][0],
        )

    results = run_rounds(attempt)

    for round_no, (outcomes, messages, _) in enumerate(results):
        assert outcomes == Counter({"won": 1, "RoomUnavailable": THREADS - 1}), (round_no, outcomes)
        room = rooms[round_no][0]
        assert all(f"{room.name} is occupied" in m for m in messages), messages
        assert Visit.objects.filter(room=room).count() == 1
        assert RoomTurn.objects.filter(room=room).count() == 1
    assert Visit.objects.filter(step=Step.ROOMED).count() == ROUNDS


def test_two_desks_checking_in_one_appointment_open_one_visit(setting) -> None:
    desks = [
        StaffFactory(
            roles=[roles.FRONT_DESK],
            clinics=[setting["clinic"]],
            user__username=f"desk{i}",
            user__password=NO_PASSWORD,
        ).user
        for i in range(THREADS)
    ]
    appointments = [setting["appointment"]() for _ in range(ROUNDS)]

    def attempt(index: int, round_no: int) -> object:
        return checkin.check_in(actor=desks[index], appointment=appointments[round_no].pk)

    results = run_rounds(attempt)

    for round_no, (outcomes, messages, _) in enumerate(results):
        assert outcomes == Counter({"won": 1, "already": THREADS - 1}), (round_no, outcomes)
        assert all("already checked in" in m for m in messages)
        assert Visit.objects.filter(appointment=appointments[round_no]).count() == 1
    events = VisitEvent.objects.filter(visit__appointment__in=appointments)
    assert events.count() == ROUNDS


def test_undo_and_advance_at_once_keep_one_consistent_step(setting) -> None:
    nurses, rooms = setting["nurses"], setting["rooms"]
    visits = []
    for round_no, visit in enumerate(setting["visits"](ROUNDS)):
        room = rooms[round_no][0]
        visit = move_services.move_visit(
            actor=nurses[0], visit=visit, to_step="roomed", expected_step="checked_in", room=room
        )
        visits.append(visit)
        move_services.move_visit(
            actor=nurses[0], visit=visit, to_step="left_without_being_seen", expected_step="roomed"
        )
        housekeeping.mark_room_clean(actor=nurses[0], room=room)

    # each visit is now finished; bring each back (undo) while others try the same
    def attempt(index: int, round_no: int) -> object:
        return move_services.undo_last_step(
            actor=nurses[index],
            visit=visits[round_no].pk,
            expected_step=Step.LEFT_WITHOUT_BEING_SEEN,
            reason="came back",
        )

    results = run_rounds(attempt)
    for round_no, (outcomes, _, _) in enumerate(results):
        # the room was cleaned, nobody took it: the first undo puts the patient back in it
        assert outcomes["won"] == 1, (round_no, outcomes)
        assert outcomes["already"] == THREADS - 1, (round_no, outcomes)
        visit = Visit.objects.get(pk=visits[round_no].pk)
        assert (visit.step, visit.room) == (Step.ROOMED, rooms[round_no][0])
        assert VisitEvent.objects.filter(visit=visit, kind="undo").count() == 1
