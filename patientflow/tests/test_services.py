"""The rules of patient flow: check-in, the step machine, undo, rooms, checkout, walk-ins."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.tests.factories import ClinicFactory, CoverageFactory, PatientFactory
from patientflow import selectors, services
from patientflow.models import RoomTurn, Step, StepThreshold, Visit, VisitEvent, VisitPayment
from patientflow.services import checkin, checkout, housekeeping, moves
from patientflow.services.common import PaymentInput
from scheduling.models import Appointment
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

CASH_25 = PaymentInput(Decimal("25.00"), "cash", "R-1001")


def walk(visit: Visit, actor, *steps: str, room=None) -> Visit:
    """Move a visit through `steps` in order, each expecting the step before it."""
    for to in steps:
        visit = moves.move_visit(
            actor=actor,
            visit=visit,
            to_step=to,
            expected_step=visit.step,
            room=room if to == Step.ROOMED else None,
        )
    return visit


@pytest.fixture
def visit(appointment, front_desk) -> Visit:
    return checkin.check_in(actor=front_desk, appointment=appointment)


# --- check-in -----------------------------------------------------------------------------


def test_check_in_opens_the_visit_marks_arrived_and_takes_the_copay(
    appointment, front_desk, patient
) -> None:
    coverage = CoverageFactory(patient=patient, effective_from=dt.date(2000, 1, 1))

    visit = checkin.check_in(
        actor=front_desk,
        appointment=appointment,
        copay=CASH_25,
        forms_signed=["privacy", "consent"],
        insurance_confirmed=True,
    )

    assert visit.step == Step.CHECKED_IN
    assert visit.coverage == coverage
    assert visit.forms_signed == ["consent", "privacy"]
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.ARRIVED
    event = visit.events.get()
    assert (event.from_step, event.to_step, event.actor) == ("", Step.CHECKED_IN, front_desk)
    payment = VisitPayment.objects.get(visit=visit)
    assert (payment.kind, payment.amount, payment.receipt_number) == (
        "copay",
        Decimal("25.00"),
        "R-1001",
    )
    entry = AuditEvent.objects.filter(object_type="patientflow.visit").get()
    assert entry.action == AuditEvent.Action.CREATE
    assert entry.patient_id == patient.pk
    assert "copay 25.00 by cash" in entry.summary


def test_early_and_late_arrivals_are_measured_against_the_scheduled_start(
    make_appointment, front_desk
) -> None:
    early = make_appointment(minutes_from_now=60)
    visit = checkin.check_in(actor=front_desk, appointment=early)
    assert visit.arrival_minutes < -30
    late = make_appointment(minutes_from_now=-60)
    visit = checkin.check_in(actor=front_desk, appointment=late)
    assert visit.arrival_minutes > 30


def test_checking_in_twice_is_refused(appointment, front_desk) -> None:
    first = checkin.check_in(actor=front_desk, appointment=appointment)
    with pytest.raises(services.AlreadyCheckedIn, match="already checked in") as caught:
        checkin.check_in(actor=front_desk, appointment=appointment)
    assert caught.value.visit == first
    assert Visit.objects.count() == 1


def test_a_cancelled_appointment_cannot_be_checked_in(make_appointment, front_desk) -> None:
    appt = make_appointment(status=Appointment.Status.CANCELLED, cancel_reason="patient")
    with pytest.raises(services.FlowError, match="cancelled"):
        checkin.check_in(actor=front_desk, appointment=appt)
    assert not Visit.objects.exists()


def test_an_appointment_on_another_day_cannot_be_checked_in(make_appointment, front_desk) -> None:
    appt = make_appointment(minutes_from_now=3 * 24 * 60)
    with pytest.raises(services.FlowError, match="day of the appointment"):
        checkin.check_in(actor=front_desk, appointment=appt)
    assert not Visit.objects.exists()


def test_a_desk_of_another_clinic_cannot_check_in(appointment, make_user) -> None:
    elsewhere = make_user(roles.FRONT_DESK, clinics=[ClinicFactory(name="Elsewhere")])
    with pytest.raises(services.FlowError, match="do not work at this clinic"):
        checkin.check_in(actor=elsewhere, appointment=appointment)
    assert not Visit.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Decimal("-5"), "more than zero"),
        (Decimal("0"), "more than zero"),
        (Decimal("12.345"), "two decimal places"),
        (Decimal("NaN"), "dollars and cents"),
        (Decimal("Infinity"), "dollars and cents"),
        (Decimal("100000"), "cannot be more than"),
    ],
)
def test_copay_must_be_real_money(appointment, front_desk, amount, message) -> None:
    with pytest.raises(services.FlowError, match=message) as caught:
        checkin.check_in(
            actor=front_desk, appointment=appointment, copay=PaymentInput(amount, "cash", "R1")
        )
    assert caught.value.field == "copay_amount"
    assert not Visit.objects.exists()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_copay_needs_a_method_and_a_receipt(appointment, front_desk) -> None:
    with pytest.raises(services.FlowError) as caught:
        checkin.check_in(
            actor=front_desk, appointment=appointment, copay=PaymentInput(Decimal(5), "", "R1")
        )
    assert caught.value.field == "copay_method"
    with pytest.raises(services.FlowError) as caught:
        checkin.check_in(
            actor=front_desk, appointment=appointment, copay=PaymentInput(Decimal(5), "card", " ")
        )
    assert caught.value.field == "copay_receipt"
    assert not Visit.objects.exists()


def test_expired_coverage_is_not_billed(appointment, front_desk, patient) -> None:
    CoverageFactory(
        patient=patient, effective_from=dt.date(2000, 1, 1), effective_to=dt.date(2001, 1, 1)
    )
    visit = checkin.check_in(actor=front_desk, appointment=appointment)
    assert visit.coverage is None


# --- the step machine ---------------------------------------------------------------------


def test_a_visit_goes_through_every_step_to_checkout(visit, nurse, provider, front_desk, rooms):
    visit = walk(visit, nurse, Step.ROOMED, room=rooms[0])
    assert (visit.step, visit.room) == (Step.ROOMED, rooms[0])
    visit = walk(visit, provider.user, Step.WITH_PROVIDER, Step.READY_FOR_CHECKOUT)
    assert visit.room is None  # the patient left the exam room
    turn = RoomTurn.objects.get(visit=visit)
    assert turn.vacated_at is not None
    assert turn.cleaned_at is None

    visit = checkout.check_out(
        actor=front_desk, visit=visit, balance=PaymentInput(Decimal("40"), "card", "R-7")
    )

    assert visit.step == Step.CHECKED_OUT
    assert visit.checked_out_at is not None
    assert visit.appointment.__class__.objects.get(pk=visit.appointment_id).status == "completed"
    steps = list(visit.events.order_by("at", "pk").values_list("to_step", flat=True))
    assert steps == [
        Step.CHECKED_IN,
        Step.ROOMED,
        Step.WITH_PROVIDER,
        Step.READY_FOR_CHECKOUT,
        Step.CHECKED_OUT,
    ]
    assert visit.events.get(to_step=Step.ROOMED).room == rooms[0]
    assert visit.events.get(to_step=Step.ROOMED).actor == nurse
    assert VisitPayment.objects.get(visit=visit, kind="balance").amount == Decimal("40.00")
    updates = AuditEvent.objects.filter(object_type="patientflow.visit", action="update")
    assert updates.count() == 4
    assert all(e.patient_id == visit.patient_id for e in updates)


def test_checkout_before_the_patient_is_ready_is_refused(visit, front_desk) -> None:
    with pytest.raises(services.IllegalStep, match="cannot be checked out"):
        checkout.check_out(actor=front_desk, visit=visit, expected_step=Step.CHECKED_IN)
    visit.refresh_from_db()
    assert visit.step == Step.CHECKED_IN
    assert visit.appointment.status == Appointment.Status.ARRIVED


@pytest.mark.parametrize(
    "to_step", [Step.WITH_PROVIDER, Step.READY_FOR_CHECKOUT, Step.CHECKED_OUT, Step.CHECKED_IN]
)
def test_skipping_steps_is_refused(visit, nurse, to_step) -> None:
    with pytest.raises(services.IllegalStep):
        moves.move_visit(actor=nurse, visit=visit, to_step=to_step, expected_step=Step.CHECKED_IN)
    assert visit.events.count() == 1


def test_rooming_needs_a_room(visit, nurse) -> None:
    with pytest.raises(services.FlowError, match="Choose the room") as caught:
        moves.move_visit(
            actor=nurse, visit=visit, to_step=Step.ROOMED, expected_step=Step.CHECKED_IN
        )
    assert caught.value.field == "room"


def test_a_finished_visit_cannot_move(visit, nurse) -> None:
    visit = walk(visit, nurse, Step.LEFT_WITHOUT_BEING_SEEN)
    with pytest.raises(services.IllegalStep, match="over"):
        moves.move_visit(actor=nurse, visit=visit, to_step=Step.ROOMED, expected_step=visit.step)


def test_moving_from_a_step_the_visit_has_left_says_where_it_is(visit, nurse, rooms) -> None:
    walk(visit, nurse, Step.ROOMED, room=rooms[0])
    with pytest.raises(services.AlreadyMoved, match="already moved to “Roomed” by nurse"):
        moves.move_visit(
            actor=nurse,
            visit=visit,
            to_step=Step.ROOMED,
            expected_step=Step.CHECKED_IN,
            room=rooms[1],
        )
    assert RoomTurn.objects.count() == 1


def test_sent_elsewhere_needs_to_say_where(visit, nurse) -> None:
    with pytest.raises(services.FlowError, match="where the patient was sent"):
        moves.move_visit(
            actor=nurse, visit=visit, to_step=Step.SENT_ELSEWHERE, expected_step=Step.CHECKED_IN
        )
    visit = moves.move_visit(
        actor=nurse,
        visit=visit,
        to_step=Step.SENT_ELSEWHERE,
        expected_step=Step.CHECKED_IN,
        reason="Emergency department",
    )
    assert visit.events.last().reason == "Emergency department"


def test_leaving_without_being_seen_frees_the_room_for_cleaning(visit, nurse, rooms) -> None:
    visit = walk(visit, nurse, Step.ROOMED, Step.LEFT_WITHOUT_BEING_SEEN, room=rooms[0])
    assert visit.room is None
    states = {
        s.room_id: s.state
        for s in selectors.room_board(user=nurse, clinic=visit.clinic, now=timezone.now())
    }
    assert states[rooms[0].pk] == "cleaning"


# --- rooms --------------------------------------------------------------------------------


def test_two_patients_cannot_share_a_room(make_appointment, front_desk, nurse, rooms) -> None:
    first = checkin.check_in(actor=front_desk, appointment=make_appointment())
    second = checkin.check_in(actor=front_desk, appointment=make_appointment(minutes_from_now=20))
    walk(first, nurse, Step.ROOMED, room=rooms[0])

    with pytest.raises(services.RoomUnavailable, match="Exam 1 is occupied"):
        walk(second, nurse, Step.ROOMED, room=rooms[0])

    second.refresh_from_db()
    assert (second.step, second.room) == (Step.CHECKED_IN, None)


def test_a_room_is_cleaned_before_the_next_patient(make_appointment, front_desk, nurse, rooms):
    first = checkin.check_in(actor=front_desk, appointment=make_appointment())
    second = checkin.check_in(actor=front_desk, appointment=make_appointment(minutes_from_now=20))
    walk(first, nurse, Step.ROOMED, Step.WITH_PROVIDER, Step.READY_FOR_CHECKOUT, room=rooms[0])

    with pytest.raises(services.RoomUnavailable, match="needs cleaning"):
        walk(second, nurse, Step.ROOMED, room=rooms[0])
    turn = housekeeping.mark_room_clean(actor=nurse, room=rooms[0])
    assert turn is not None
    assert turn.cleaned_by == nurse
    second = walk(second, nurse, Step.ROOMED, room=rooms[0])

    assert second.room == rooms[0]
    assert housekeeping.mark_room_clean(actor=nurse, room=rooms[1]) is None  # already clean
    with pytest.raises(services.RoomUnavailable, match="still has a patient"):
        housekeeping.mark_room_clean(actor=nurse, room=rooms[0])


def test_a_roomed_patient_can_change_rooms(visit, nurse, rooms) -> None:
    visit = walk(visit, nurse, Step.ROOMED, room=rooms[0])
    visit = moves.change_room(actor=nurse, visit=visit, room=rooms[1], expected_step=Step.ROOMED)
    assert visit.room == rooms[1]
    states = {
        s.room_id: s.state
        for s in selectors.room_board(user=nurse, clinic=visit.clinic, now=timezone.now())
    }
    assert states[rooms[0].pk] == "cleaning"
    assert states[rooms[1].pk] == "occupied"
    assert visit.events.last().kind == VisitEvent.Kind.ROOM_CHANGE


def test_turnover_is_the_time_between_one_patient_leaving_and_the_next_entering(
    make_appointment, front_desk, nurse, rooms
) -> None:
    now = timezone.now()
    first = checkin.check_in(actor=front_desk, appointment=make_appointment(), now=now)
    second = checkin.check_in(
        actor=front_desk, appointment=make_appointment(minutes_from_now=20), now=now
    )
    room = rooms[0]
    moves.move_visit(
        actor=nurse, visit=first, to_step="roomed", expected_step="checked_in", room=room, now=now
    )
    moves.move_visit(
        actor=nurse,
        visit=first,
        to_step="left_without_being_seen",
        expected_step="roomed",
        now=now + dt.timedelta(minutes=5),
    )
    housekeeping.mark_room_clean(actor=nurse, room=room, now=now + dt.timedelta(minutes=9))
    moves.move_visit(
        actor=nurse,
        visit=second,
        to_step="roomed",
        expected_step="checked_in",
        room=room,
        now=now + dt.timedelta(minutes=17),
    )

    state = next(
        s
        for s in selectors.room_board(
            user=nurse, clinic=room.clinic, now=now + dt.timedelta(minutes=20)
        )
        if s.room_id == room.pk
    )
    assert state.state == "occupied"
    assert state.visit_id == second.pk
    assert state.turnovers == [12]
    assert state.minutes == 3


# --- undo ---------------------------------------------------------------------------------


def test_undo_adds_an_event_and_keeps_the_mistake_on_record(visit, nurse, rooms) -> None:
    visit = walk(visit, nurse, Step.ROOMED, Step.WITH_PROVIDER, room=rooms[0])
    mistake = visit.events.get(to_step=Step.WITH_PROVIDER)

    visit = moves.undo_last_step(
        actor=nurse, visit=visit, expected_step=Step.WITH_PROVIDER, reason="clicked too early"
    )

    assert (visit.step, visit.room) == (Step.ROOMED, rooms[0])
    undo = visit.events.last()
    assert (undo.kind, undo.undoes, undo.reason) == ("undo", mistake, "clicked too early")
    assert VisitEvent.objects.filter(pk=mistake.pk).exists()
    # a second undo goes one more step back: the rooming, which frees the room at once
    visit = moves.undo_last_step(
        actor=nurse, visit=visit, expected_step=Step.ROOMED, reason="wrong patient"
    )
    assert (visit.step, visit.room) == (Step.CHECKED_IN, None)
    assert selectors.free_rooms(clinic=visit.clinic) == rooms
    assert RoomTurn.objects.get().undone


def test_undo_needs_a_reason_and_a_step_to_undo(visit, nurse) -> None:
    with pytest.raises(services.FlowError, match="reason"):
        moves.undo_last_step(actor=nurse, visit=visit, expected_step=Step.CHECKED_IN, reason="  ")
    with pytest.raises(services.IllegalStep, match="no step to undo"):
        moves.undo_last_step(actor=nurse, visit=visit, expected_step=Step.CHECKED_IN, reason="oops")


def test_undo_of_ready_for_checkout_puts_the_patient_back_in_their_room(visit, nurse, rooms):
    visit = walk(
        visit, nurse, Step.ROOMED, Step.WITH_PROVIDER, Step.READY_FOR_CHECKOUT, room=rooms[0]
    )
    visit = moves.undo_last_step(
        actor=nurse, visit=visit, expected_step=Step.READY_FOR_CHECKOUT, reason="not done yet"
    )
    assert (visit.step, visit.room) == (Step.WITH_PROVIDER, rooms[0])
    assert RoomTurn.objects.get().vacated_at is None


def test_undo_cannot_put_a_patient_into_a_room_taken_since(
    make_appointment, front_desk, nurse, rooms
) -> None:
    first = checkin.check_in(actor=front_desk, appointment=make_appointment())
    second = checkin.check_in(actor=front_desk, appointment=make_appointment(minutes_from_now=20))
    first = walk(first, nurse, Step.ROOMED, Step.LEFT_WITHOUT_BEING_SEEN, room=rooms[0])
    housekeeping.mark_room_clean(actor=nurse, room=rooms[0])
    walk(second, nurse, Step.ROOMED, room=rooms[0])

    with pytest.raises(services.RoomUnavailable, match="turned over since"):
        moves.undo_last_step(actor=nurse, visit=first, expected_step=first.step, reason="came back")
    first.refresh_from_db()
    assert first.step == Step.LEFT_WITHOUT_BEING_SEEN


def test_a_checked_out_visit_cannot_be_undone(visit, nurse, front_desk, rooms) -> None:
    visit = walk(
        visit, nurse, Step.ROOMED, Step.WITH_PROVIDER, Step.READY_FOR_CHECKOUT, room=rooms[0]
    )
    visit = checkout.check_out(actor=front_desk, visit=visit)
    with pytest.raises(services.IllegalStep, match="checked-out"):
        moves.undo_last_step(
            actor=nurse, visit=visit, expected_step=Step.CHECKED_OUT, reason="oops"
        )


# --- the history is append-only -----------------------------------------------------------


def test_visit_history_cannot_be_edited_or_deleted(visit) -> None:
    event = visit.events.get()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        VisitEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        VisitEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.reason == ""


def test_payments_cannot_be_edited_or_deleted(appointment, front_desk) -> None:
    visit = checkin.check_in(actor=front_desk, appointment=appointment, copay=CASH_25)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        VisitPayment.objects.filter(visit=visit).update(amount=Decimal(1))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        VisitPayment.objects.filter(visit=visit).delete()
    assert VisitPayment.objects.get(visit=visit).amount == Decimal("25.00")


# --- thresholds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "level"),
    [(0, ""), (14, ""), (15, "amber"), (29, "amber"), (30, "red"), (90, "red")],
)
def test_alert_levels_follow_the_thresholds(minutes, level) -> None:
    assert selectors.alert_level(Step.CHECKED_IN, minutes, {Step.CHECKED_IN: (15, 30)}) == level


def test_the_board_colours_rows_by_the_clinics_own_thresholds(
    make_appointment, front_desk, nurse, manager, rooms
) -> None:
    now = timezone.now()
    waiting = checkin.check_in(
        actor=front_desk, appointment=make_appointment(), now=now - dt.timedelta(minutes=12)
    )
    roomed = checkin.check_in(
        actor=front_desk,
        appointment=make_appointment(minutes_from_now=20),
        now=now - dt.timedelta(minutes=50),
    )
    moves.move_visit(
        actor=nurse,
        visit=roomed,
        to_step="roomed",
        expected_step="checked_in",
        room=rooms[0],
        now=now - dt.timedelta(minutes=25),
    )
    board = selectors.flow_board(user=front_desk, clinic=waiting.clinic, now=now)
    levels = {row.visit_id: row.level for g in board.groups for row in g.rows}
    assert levels == {waiting.pk: "", roomed.pk: "amber"}  # defaults: 15/30 and 20/40

    housekeeping.set_thresholds(
        actor=manager, clinic=waiting.clinic, thresholds={"checked_in": (5, 10), "roomed": (30, 45)}
    )
    board = selectors.flow_board(user=front_desk, clinic=waiting.clinic, now=now)
    levels = {row.visit_id: row.level for g in board.groups for row in g.rows}
    assert levels == {waiting.pk: "red", roomed.pk: ""}
    counts = {c.step: (c.count, c.alerts) for c in board.counts}
    assert counts["checked_in"] == (1, 1)
    assert counts["roomed"] == (1, 0)


def test_thresholds_must_go_amber_then_red(manager, flow_clinic) -> None:
    with pytest.raises(services.FlowError, match="red must come after amber"):
        housekeeping.set_thresholds(
            actor=manager, clinic=flow_clinic, thresholds={"roomed": (20, 20)}
        )
    with pytest.raises(services.FlowError):
        housekeeping.set_thresholds(
            actor=manager, clinic=flow_clinic, thresholds={"roomed": (0, 5)}
        )
    assert not StepThreshold.objects.exists()


# --- walk-ins -----------------------------------------------------------------------------


def test_a_walk_in_is_booked_into_the_slot_running_now_and_checked_in(
    flow_clinic, front_desk, provider, visit_type, schedule, patient
) -> None:
    now = timezone.now()
    visit = checkin.walk_in(
        actor=front_desk,
        clinic=flow_clinic,
        patient=patient,
        provider=provider,
        appointment_type=visit_type,
        copay=CASH_25,
        now=now,
    )

    appt = visit.appointment
    assert visit.is_walk_in
    assert visit.step == Step.CHECKED_IN
    assert appt.status == Appointment.Status.ARRIVED
    assert appt.start <= now < appt.end
    assert appt.notes == "Walk-in"
    summaries = list(AuditEvent.objects.order_by("id").values_list("object_type", "summary"))
    assert summaries[0][0] == "scheduling.appointment"  # booked through scheduling
    assert summaries[-1] == ("patientflow.visit", summaries[-1][1])
    assert "(walk-in)" in summaries[-1][1]


def test_a_walk_in_takes_the_next_open_slot_when_this_one_is_booked(
    flow_clinic, front_desk, provider, visit_type, schedule, patient, make_appointment
) -> None:
    now = timezone.now()
    taken = make_appointment()  # the slot running now
    visit = checkin.walk_in(
        actor=front_desk,
        clinic=flow_clinic,
        patient=patient,
        provider=provider,
        appointment_type=visit_type,
        now=now,
    )
    assert visit.appointment.start == taken.end


def test_a_walk_in_with_no_slot_left_needs_an_overbook_reason(
    flow_clinic, front_desk, provider, visit_type, schedule, patient
) -> None:
    # given every slot of the rest of the day is booked
    tz = flow_clinic.tz
    day = timezone.now().astimezone(tz).date()
    start = dt.datetime.combine(day, dt.time(8), tzinfo=tz)
    while start < dt.datetime.combine(day, dt.time(18), tzinfo=tz):
        AppointmentFactory(
            clinic=flow_clinic,
            patient=PatientFactory(clinic=flow_clinic),
            provider=provider,
            appointment_type=visit_type,
            start=start,
        )
        start += dt.timedelta(minutes=20)

    with pytest.raises(services.FlowError, match="no open slot left today") as caught:
        checkin.walk_in(
            actor=front_desk,
            clinic=flow_clinic,
            patient=patient,
            provider=provider,
            appointment_type=visit_type,
        )
    assert caught.value.field == "provider"
    assert not Visit.objects.exists()

    visit = checkin.walk_in(
        actor=front_desk,
        clinic=flow_clinic,
        patient=patient,
        provider=provider,
        appointment_type=visit_type,
        overbook_reason="Acute pain",
    )
    assert visit.appointment.is_overbook
    assert visit.appointment.overbook_reason == "Acute pain"


def test_a_walk_in_must_be_registered_at_the_clinic(
    flow_clinic, front_desk, provider, visit_type, schedule
) -> None:
    stranger = PatientFactory(clinic=ClinicFactory(name="Elsewhere"))
    with pytest.raises(services.FlowError, match="not registered at this clinic"):
        checkin.walk_in(
            actor=front_desk,
            clinic=flow_clinic,
            patient=stranger,
            provider=provider,
            appointment_type=visit_type,
        )


# --- follow-up ----------------------------------------------------------------------------


def test_the_follow_up_is_booked_through_scheduling_and_kept_on_the_visit(
    visit, front_desk, provider, visit_type
) -> None:
    from scheduling import availability

    slot = availability.find_slots(
        clinic=visit.clinic,
        appointment_type=visit_type,
        provider=provider,
        start_date=visit.clinic.today() + dt.timedelta(days=14),
    )[0]
    result = checkout.book_follow_up(
        actor=front_desk,
        visit=visit,
        provider=provider,
        appointment_type=visit_type,
        start=slot.start,
    )
    visit.refresh_from_db()
    assert visit.follow_up == result.appointment
    assert result.appointment.patient == visit.patient
    with pytest.raises(services.FlowError, match="already booked"):
        checkout.book_follow_up(
            actor=front_desk,
            visit=visit,
            provider=provider,
            appointment_type=visit_type,
            start=slot.start + dt.timedelta(minutes=20),
        )
