"""The flow board reads its visits, the arrivals still expected and the free rooms in one
UNION ALL: each part keeps its own filter, scoping and order."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from clinicops.core.models import Clinic, Room, User
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, RoomFactory
from patientflow import selectors
from patientflow.models import Step
from patientflow.services import checkin, moves
from scheduling.models import Appointment
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def test_each_part_of_the_board_keeps_its_rows_and_order(
    flow_clinic: Clinic,
    front_desk: User,
    nurse: User,
    make_appointment: Callable[..., Appointment],
) -> None:
    # given rooms whose names sort differently by case, one inactive and one occupied
    names = ["exam 1", "Triage", "Exam 2", "exam 10"]  # not in name order
    rooms = {name: RoomFactory(clinic=flow_clinic, name=name) for name in names}
    RoomFactory(clinic=flow_clinic, name="Closed", is_active=False)
    RoomFactory(clinic=ClinicFactory(), name="Elsewhere")
    # appointments made out of order; one checked in and roomed, one cancelled
    late = make_appointment(minutes_from_now=60)
    early = make_appointment(minutes_from_now=-40)
    roomed = make_appointment(minutes_from_now=-20, room=rooms["Triage"])
    make_appointment(
        minutes_from_now=20, status=Appointment.Status.CANCELLED, cancel_reason="patient"
    )
    AppointmentFactory(clinic=ClinicFactory())  # another clinic's
    visit = checkin.check_in(actor=front_desk, appointment=roomed)
    moves.move_visit(
        actor=nurse,
        visit=visit,
        to_step=Step.ROOMED,
        expected_step=visit.step,
        room=rooms["exam 10"],
    )

    # when
    board = selectors.flow_board(user=front_desk, clinic=flow_clinic, now=timezone.now())

    # then the free rooms are the database's name order, without the occupied one
    expected_rooms = list(
        Room.objects.filter(clinic=flow_clinic, is_active=True)
        .exclude(pk=rooms["exam 10"].pk)
        .order_by("name")
        .values_list("pk", "name")
    )
    assert board.free_rooms == expected_rooms
    # the arrivals are the booked ones not checked in, earliest first
    assert [a.appointment_id for a in board.arrivals] == [early.pk, late.pk]
    assert board.arrivals[0].type_name == early.appointment_type.name
    assert board.arrivals[0].minutes_late >= 39
    # the visit is on the board with its room, its booked room and its provider
    [row] = [row for group in board.groups for row in group.rows]
    assert (row.visit_id, row.step, row.room) == (visit.pk, Step.ROOMED, "exam 10")
    assert row.booked_room_id == rooms["Triage"].pk
    assert row.provider == str(roomed.provider)
    assert row.name == f"{roomed.patient.last_name}, {roomed.patient.first_name}"
    assert set(board.patient_ids) == {roomed.patient_id, early.patient_id, late.patient_id}


def test_an_empty_day_reads_nothing_but_the_free_rooms(
    flow_clinic: Clinic, front_desk: User
) -> None:
    RoomFactory(clinic=flow_clinic, name="Exam 1")
    PatientFactory(clinic=flow_clinic)
    board = selectors.flow_board(user=front_desk, clinic=flow_clinic, now=timezone.now())
    assert (board.groups, board.arrivals, board.finished) == ([], [], [])
    assert [name for _, name in board.free_rooms] == ["Exam 1"]
