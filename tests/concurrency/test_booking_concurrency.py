"""Fifty desks book the same time at once: exactly one wins, every other gets SlotTaken.

Real threads, each with its own database connection, released together by a barrier each
round, against real Postgres; 20 rounds on fresh slots. What keeps the winner unique is the
exclusion constraint, not Python: the service never checks for a clash before it inserts.
"""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from clinicops.core import roles
from clinicops.core.models import Clinic, Room
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, RoomFactory, StaffFactory
from scheduling import services
from scheduling.models import Appointment
from scheduling.services import booking
from scheduling.tests.factories import (
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

THREADS = 50
ROUNDS = 20
NY = zoneinfo.ZoneInfo("America/New_York")
FIRST_MONDAY = dt.date(2027, 3, 1)
NOW = dt.datetime(2027, 2, 26, 9, 0, tzinfo=NY)
# Test users need no real password; hashing fifty with Argon2 only slows the set-up.
NO_PASSWORD = "!unusable"


def run_rounds(
    attempt: Callable[[int, int], object], *, threads: int = THREADS, rounds: int = ROUNDS
) -> list[tuple[Counter[str], set[str]]]:
    """Call attempt(thread_index, round_no) from `threads` threads, all released at once per
    round; return each round's outcome counts and refusal messages."""
    start = threading.Barrier(threads)
    results: list[tuple[Counter[str], set[str]]] = [(Counter(), set()) for _ in range(rounds)]
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            connection.ensure_connection()
            for round_no in range(rounds):
                start.wait(timeout=60)
                message = ""
                try:
                    attempt(index, round_no)
                    outcome = "booked"
                except services.SlotTaken as error:
                    outcome, message = "taken", error.message
                except services.SchedulingError as error:
                    outcome, message = type(error).__name__, error.message
                except Exception as error:  # the round's assertion shows it
                    outcome = f"error: {type(error).__name__}: {error}"
                with lock:
                    results[round_no][0][outcome] += 1
                    if message:
                        results[round_no][1].add(message)
        finally:
            connection.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=300)
    return results


def start_for(round_no: int, index: int) -> dt.datetime:
    """Round n is Monday n; half the desks aim at 08:00, half at 08:20 (40-minute visits)."""
    day = FIRST_MONDAY + dt.timedelta(weeks=round_no)
    return dt.datetime.combine(day, dt.time(8, 20 * (index % 2)), tzinfo=NY)


@pytest.fixture
def setting() -> dict[str, object]:
    # A transactional test's flush empties the role groups the migrations made; bring them back.
    roles.sync_roles()
    clinic: Clinic = ClinicFactory(name="Concurrency Clinic")
    desk = StaffFactory(roles=[roles.FRONT_DESK], clinics=[clinic], user__password=NO_PASSWORD).user
    patients = PatientFactory.create_batch(THREADS, clinic=clinic)
    return {"clinic": clinic, "desk": desk, "patients": patients}


def assert_one_winner_per_round(results: list[tuple[Counter[str], set[str]]]) -> None:
    for round_no, (outcomes, messages) in enumerate(results):
        assert outcomes == Counter({"booked": 1, "taken": THREADS - 1}), (round_no, outcomes)
        assert all("taken" in m or "free" in m for m in messages), messages


def test_fifty_threads_booking_one_provider_double_book_never(setting) -> None:
    clinic = setting["clinic"]
    provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic], user__password=NO_PASSWORD)
    visit = AppointmentTypeFactory(clinic=clinic, name="Long visit", duration_minutes=40)
    template = ScheduleTemplateFactory(clinic=clinic, provider=provider)
    TemplateBlockFactory(template=template, weekday=0, slot_minutes=20)

    def attempt(index: int, round_no: int) -> object:
        return booking.book_appointment(
            actor=setting["desk"],
            clinic=clinic,
            patient=setting["patients"][index],
            provider=provider,
            appointment_type=visit,
            start=start_for(round_no, index),
            now=NOW,
        )

    assert_one_winner_per_round(run_rounds(attempt))
    assert Appointment.objects.filter(provider=provider).count() == ROUNDS


def test_fifty_threads_booking_one_room_double_book_never(setting) -> None:
    clinic = setting["clinic"]
    room = RoomFactory(clinic=clinic, name="Procedure 1", kind=Room.Kind.PROCEDURE)
    procedure = AppointmentTypeFactory(
        clinic=clinic, name="Procedure", duration_minutes=40, room_kind=Room.Kind.PROCEDURE
    )
    # Fifty providers, so that only the room can clash.
    providers = StaffFactory.create_batch(
        THREADS, roles=[roles.PROVIDER], clinics=[clinic], user__password=NO_PASSWORD
    )
    for provider in providers:
        template = ScheduleTemplateFactory(clinic=clinic, provider=provider)
        TemplateBlockFactory(template=template, weekday=0, slot_minutes=20)

    def attempt(index: int, round_no: int) -> object:
        return booking.book_appointment(
            actor=setting["desk"],
            clinic=clinic,
            patient=setting["patients"][index],
            provider=providers[index],
            appointment_type=procedure,
            start=start_for(round_no, index),
            now=NOW,
        )

    assert_one_winner_per_round(run_rounds(attempt))
    assert Appointment.objects.filter(room=room).count() == ROUNDS
    assert Appointment.objects.count() == ROUNDS


def test_overbooks_under_concurrency_stop_at_the_block_limit(setting) -> None:
    """The block row lock counts overbooks one at a time: 20 at once, limit 2, 2 get in."""
    clinic = setting["clinic"]
    provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic], user__password=NO_PASSWORD)
    visit = AppointmentTypeFactory(clinic=clinic, name="Visit", duration_minutes=20)
    template = ScheduleTemplateFactory(clinic=clinic, provider=provider)
    TemplateBlockFactory(template=template, weekday=0, slot_minutes=20, overbook_limit=2)
    threads, rounds = 20, 3

    def attempt(index: int, round_no: int) -> object:
        return booking.book_appointment(
            actor=setting["desk"],
            clinic=clinic,
            patient=setting["patients"][index],
            provider=provider,
            appointment_type=visit,
            start=start_for(round_no, 0) + dt.timedelta(minutes=20 * (index % 6)),
            overbook=True,
            overbook_reason="urgent add-on",
            now=NOW,
        )

    for outcomes, _ in run_rounds(attempt, threads=threads, rounds=rounds):
        assert outcomes == Counter({"booked": 2, "OverbookRefused": threads - 2}), outcomes
    assert Appointment.objects.filter(is_overbook=True).count() == 2 * rounds


def test_one_patient_booked_at_once_by_many_desks_when_the_clinic_refuses(setting) -> None:
    """The patient lock makes the double-booking refusal hold under concurrency."""
    from scheduling.models import SchedulingSettings

    clinic = setting["clinic"]
    SchedulingSettings.objects.create(clinic=clinic, refuse_patient_double_booking=True)
    threads, rounds = 10, 3
    visit = AppointmentTypeFactory(clinic=clinic, name="Visit", duration_minutes=20)
    providers = StaffFactory.create_batch(
        threads, roles=[roles.PROVIDER], clinics=[clinic], user__password=NO_PASSWORD
    )
    for provider in providers:
        template = ScheduleTemplateFactory(clinic=clinic, provider=provider)
        TemplateBlockFactory(template=template, weekday=0, slot_minutes=20)
    patient = setting["patients"][0]

    def attempt(index: int, round_no: int) -> object:
        return booking.book_appointment(
            actor=setting["desk"],
            clinic=clinic,
            patient=patient,
            provider=providers[index],
            appointment_type=visit,
            start=start_for(round_no, 0),
            now=NOW,
        )

    for outcomes, _ in run_rounds(attempt, threads=threads, rounds=rounds):
        assert outcomes == Counter({"booked": 1, "PatientDoubleBooked": threads - 1}), outcomes
    assert Appointment.objects.filter(patient=patient).count() == rounds
