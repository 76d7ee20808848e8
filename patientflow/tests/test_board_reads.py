"""The flow board reads its visits, the arrivals still expected and the free rooms in one
UNION ALL: each part keeps its own filter, scoping and order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from clinicops.core import roles
from clinicops.core.models import Clinic, Room, User
from clinicops.core.tests.factories import (
    ClinicFactory,
    PatientFactory,
    RoomFactory,
    UserFactory,
)
from patientflow import selectors
from patientflow.models import Step, Visit
from patientflow.services import checkin, moves
from scheduling import availability
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


def _parts(user: User | AnonymousUser, clinic: Clinic) -> tuple[set[int], set[int], list[int]]:
    visits, arrivals, rooms = selectors._board_reads(user=user, clinic=clinic, day=clinic.today())
    return {r.pk for r in visits}, {r.pk for r in arrivals}, [pk for pk, _ in rooms]


def test_each_part_reads_what_the_models_scoped_querysets_read(
    flow_clinic: Clinic,
    front_desk: User,
    nurse: User,
    make_appointment: Callable[..., Appointment],
) -> None:
    # given today's visits (one walked in), yesterday's, another clinic's, and appointments
    # in every status
    rooms = [RoomFactory(clinic=flow_clinic, name=f"Exam {n}") for n in (1, 2)]
    RoomFactory(clinic=flow_clinic, name="Closed", is_active=False)
    elsewhere = ClinicFactory()
    busy_elsewhere = RoomFactory(clinic=elsewhere, name="Exam 1")
    for n, status in enumerate(Appointment.Status.values):
        fields = {"cancel_reason": "patient"} if status == Appointment.Status.CANCELLED else {}
        make_appointment(minutes_from_now=40 + 20 * n, status=status, **fields)
    seen = checkin.check_in(actor=front_desk, appointment=make_appointment(minutes_from_now=-30))
    moves.move_visit(
        actor=nurse, visit=seen, to_step=Step.ROOMED, expected_step=seen.step, room=rooms[0]
    )
    walked_in = make_appointment(minutes_from_now=-10)
    checkin.check_in(actor=front_desk, appointment=walked_in)
    Visit.objects.filter(appointment=walked_in).update(is_walk_in=True)
    day_before = timezone.now() - dt.timedelta(days=1)
    yesterday = make_appointment(start=day_before)
    Visit.objects.create(
        clinic=flow_clinic,
        appointment=yesterday,
        patient=yesterday.patient,
        step=Step.CHECKED_IN,
        step_since=day_before,
        checked_in_at=day_before,
    )
    other = AppointmentFactory(clinic=elsewhere, start=timezone.now())
    Visit.objects.create(
        clinic=elsewhere,
        appointment=other,
        patient=other.patient,
        step=Step.ROOMED,
        step_since=timezone.now(),
        room=busy_elsewhere,
        checked_in_at=timezone.now(),
    )
    start, end = availability.day_bounds_utc(flow_clinic.today(), flow_clinic.tz)

    # when
    visits, arrivals, free = _parts(front_desk, flow_clinic)

    # then each part is what the models' querysets give
    assert visits == set(
        Visit.objects.for_user(front_desk)
        .filter(clinic=flow_clinic, checked_in_at__gte=start, checked_in_at__lt=end)
        .values_list("pk", flat=True)
    )
    assert len(visits) == 2
    assert arrivals == set(
        Appointment.objects.for_user(front_desk)
        .filter(
            clinic=flow_clinic,
            start__gte=start,
            start__lt=end,
            status__in=(Appointment.Status.BOOKED, Appointment.Status.CONFIRMED),
        )
        .values_list("pk", flat=True)
    )
    assert len(arrivals) == 2
    assert free == [room.pk for room in selectors.free_rooms(clinic=flow_clinic)]
    assert free == [rooms[1].pk]


def test_the_board_reads_only_the_patients_of_the_users_clinics(
    flow_clinic: Clinic,
    front_desk: User,
    make_appointment: Callable[..., Appointment],
    make_user: Callable[..., User],
) -> None:
    # given a visit and an expected appointment today
    checkin.check_in(actor=front_desk, appointment=make_appointment(minutes_from_now=-10))
    make_appointment(minutes_from_now=30)
    room = RoomFactory(clinic=flow_clinic, name="Exam 1")
    outsider = make_user(roles.FRONT_DESK, clinics=[ClinicFactory()])
    superuser = UserFactory(is_superuser=True)

    # then someone of another clinic reads neither, nor does an anonymous user, as for_user
    # scopes them (the rooms are the clinic's); a superuser reads both
    assert _parts(outsider, flow_clinic) == (set(), set(), [room.pk])
    assert _parts(AnonymousUser(), flow_clinic) == (set(), set(), [room.pk])
    visits, arrivals, _ = _parts(superuser, flow_clinic)
    assert (len(visits), len(arrivals)) == (1, 1)
    assert _parts(front_desk, flow_clinic) == (visits, arrivals, [room.pk])
