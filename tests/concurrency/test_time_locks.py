"""Whatever makes an appointment hold a provider's or a room's time waits for whoever is taking
that time already, and then meets the winner's row as a refusal, never a deadlock.

The exclusion constraints alone refuse the later of two clashing writes, except when both write at
the same moment: each then waits for the other's uncommitted row, and Postgres ends it with
"deadlock detected", a 500 at the desk (CI met it once in the undo race). That window is too narrow
to hit on demand, so these tests take it apart: a second connection holds the time lock (as a
booking half-way through does) and the desk's write must wait for it, not slip past.
Decision 0041.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction

from clinicops.core import roles
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, RoomFactory, StaffFactory
from scheduling import services
from scheduling.services import booking, common, transitions
from scheduling.tests.factories import (
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

from .test_booking_concurrency import FIRST_MONDAY, NO_PASSWORD, NOW, NY

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

START = dt.datetime.combine(FIRST_MONDAY, dt.time(8), tzinfo=NY)
WAIT = 1.0  # seconds the desk's write must still be waiting while the lock is held


@pytest.fixture
def setting() -> dict:
    roles.sync_roles()
    clinic = ClinicFactory(name="Lock Clinic")
    desk = StaffFactory(roles=[roles.FRONT_DESK], clinics=[clinic], user__password=NO_PASSWORD).user
    provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic], user__password=NO_PASSWORD)
    template = ScheduleTemplateFactory(clinic=clinic, provider=provider)
    TemplateBlockFactory(template=template, weekday=0, slot_minutes=20)
    return {
        "clinic": clinic,
        "desk": desk,
        "provider": provider,
        "visit": AppointmentTypeFactory(clinic=clinic, name="Visit", duration_minutes=20),
        "patients": PatientFactory.create_batch(2, clinic=clinic),
    }


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as error:
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _hold_time_then(
    provider_id: int,
    room_id: int | None,
    call: Callable[[], object],
    meanwhile: Callable[[Any], None] | None = None,
) -> object:
    """Hold the time lock on another connection, start `call` in a thread and check that it
    waits; then run `meanwhile` on the holder's cursor and commit (or, without it, roll back),
    and return call's outcome."""
    holder = connections.create_connection("default")
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [common.PROVIDER_LOCK_NAMESPACE, provider_id],
            )
            if room_id is not None:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [common.ROOM_LOCK_NAMESPACE, room_id]
                )
        thread, outcome = _in_thread(call)
        thread.join(timeout=WAIT)
        assert thread.is_alive(), f"the write did not wait for the time lock: {outcome}"
        if meanwhile is None:
            holder.rollback()
        else:
            with holder.cursor() as cursor:
                meanwhile(cursor)
            holder.commit()
        thread.join(timeout=30)
        assert not thread.is_alive()
        return outcome[0]
    finally:
        holder.close()


def test_a_booking_waits_for_the_provider_time_lock(setting: dict) -> None:
    def book() -> object:
        return booking.book_appointment(
            actor=setting["desk"],
            clinic=setting["clinic"],
            patient=setting["patients"][0],
            provider=setting["provider"],
            appointment_type=setting["visit"],
            start=START,
            now=NOW,
        )

    result = _hold_time_then(setting["provider"].pk, None, book)
    assert isinstance(result, booking.BookingResult), result


def test_a_booking_into_a_room_waits_for_the_room_time_lock(setting: dict) -> None:
    room = RoomFactory(clinic=setting["clinic"])
    other = StaffFactory(roles=[roles.PROVIDER], clinics=[setting["clinic"]])
    template = ScheduleTemplateFactory(clinic=setting["clinic"], provider=other)
    TemplateBlockFactory(template=template, weekday=0, slot_minutes=20)

    def book() -> object:
        return booking.book_appointment(
            actor=setting["desk"],
            clinic=setting["clinic"],
            patient=setting["patients"][0],
            provider=setting["provider"],
            appointment_type=setting["visit"],
            start=START,
            room=room,
            now=NOW,
        )

    # Another provider's booking holds the room (not this provider's time).
    result = _hold_time_then(other.pk, room.pk, book)
    assert isinstance(result, booking.BookingResult), result


def test_an_undo_waits_for_the_time_lock_and_then_meets_the_winner_as_slot_taken(
    setting: dict,
) -> None:
    desk, provider = setting["desk"], setting["provider"]
    appt = booking.book_appointment(
        actor=desk,
        clinic=setting["clinic"],
        patient=setting["patients"][0],
        provider=provider,
        appointment_type=setting["visit"],
        start=START,
        now=NOW,
    ).appointment
    transitions.cancel_appointment(actor=desk, appointment=appt, reason="patient", now=NOW)

    def book_the_freed_slot(cursor: Any) -> None:
        """Meanwhile the lock holder's desk books the freed slot."""
        cursor.execute(
            """
            INSERT INTO scheduling_appointment
                (clinic_id, patient_id, provider_id, appointment_type_id, start, "end", status,
                 notes, is_overbook, overbook_reason, cancel_reason, cancel_note, late_cancel,
                 submission_key, created_at, updated_at)
            SELECT clinic_id, %s, provider_id, appointment_type_id, start, "end", 'booked',
                   '', false, '', '', '', false, '', now(), now()
            FROM scheduling_appointment WHERE id = %s
            """,
            [setting["patients"][1].pk, appt.pk],
        )

    outcome = _hold_time_then(
        provider.pk,
        None,
        lambda: transitions.undo_cancellation(
            actor=desk, appointment=appt.pk, now=NOW + dt.timedelta(seconds=3)
        ),
        book_the_freed_slot,
    )
    assert isinstance(outcome, services.SlotTaken), outcome
    with transaction.atomic():
        appt.refresh_from_db()
    assert appt.status == "cancelled"
