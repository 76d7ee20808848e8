"""The booking rules and the status machine, exhaustively."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import DatabaseError, transaction

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Room
from clinicops.core.tests.factories import PatientFactory, RoomFactory, StaffFactory
from scheduling import services
from scheduling.availability import find_slots
from scheduling.models import (
    Appointment,
    AppointmentEvent,
    SchedulingSettings,
    TemplateBlock,
    WaitlistEntry,
    WaitlistOffer,
)
from scheduling.services import booking, templates, transitions, waitlist
from scheduling.tests.conftest import MONDAY, local
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ClinicClosureFactory,
    ProviderTimeOffFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
    WaitlistEntryFactory,
)

pytestmark = pytest.mark.django_db

Status = Appointment.Status


@pytest.fixture
def book(clinic, provider, visit, patient, front_desk, monday_block, now):
    """book(**overrides) -> BookingResult, with a valid Monday 08:00 booking as the default."""

    def _book(**overrides):
        kwargs = {
            "actor": front_desk,
            "clinic": clinic,
            "patient": patient,
            "provider": provider,
            "appointment_type": visit,
            "start": local(MONDAY, 8),
            "now": now,
        }
        kwargs.update(overrides)
        return booking.book_appointment(**kwargs)

    return _book


# --- booking ------------------------------------------------------------------------------


def test_booking_creates_the_appointment_its_history_and_an_audit_entry(book, patient, front_desk):
    result = book(notes="knee pain")
    appt = result.appointment
    assert appt.status == Status.BOOKED
    assert appt.end - appt.start == dt.timedelta(minutes=20)
    assert appt.booked_by == front_desk
    assert result.warnings == []
    assert list(appt.events.values_list("from_status", "to_status")) == [("", "booked")]
    event = AuditEvent.objects.get(object_type="scheduling.appointment", object_id=str(appt.pk))
    assert event.action == AuditEvent.Action.CREATE
    assert event.patient_id == patient.pk
    assert event.actor == front_desk


def test_double_booking_is_refused_with_slot_taken(book, make_patient) -> None:
    book()
    with pytest.raises(services.SlotTaken, match="just taken"):
        book(patient=make_patient())
    assert Appointment.objects.count() == 1


def test_overlapping_start_is_refused(book, clinic, make_patient) -> None:
    long_visit = AppointmentTypeFactory(clinic=clinic, name="Long", duration_minutes=40)
    book(appointment_type=long_visit)
    with pytest.raises(services.SlotTaken):
        book(patient=make_patient(), start=local(MONDAY, 8, 20))
    # Back to back is fine: ranges are [start, end).
    book(patient=make_patient(), start=local(MONDAY, 8, 40))


def test_cancelled_slot_can_be_booked_again(book, front_desk, make_patient, now) -> None:
    first = book().appointment
    transitions.cancel_appointment(actor=front_desk, appointment=first, reason="patient", now=now)
    second = book(patient=make_patient()).appointment
    assert second.start == first.start


def test_the_database_refuses_overlaps_even_without_the_service(clinic, provider, visit) -> None:
    AppointmentFactory(clinic=clinic, provider=provider, appointment_type=visit)
    with pytest.raises(DatabaseError), transaction.atomic():
        AppointmentFactory(clinic=clinic, provider=provider, appointment_type=visit)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (local(MONDAY, 13), "outside the provider's schedule"),
        (local(MONDAY + dt.timedelta(days=1), 8), "outside the provider's schedule"),
        (local(MONDAY, 8, 10), "start every 20 minutes"),
        (local(MONDAY, 11, 50), "outside the provider's schedule"),
    ],
)
def test_slot_outside_the_template_is_refused(book, start, message) -> None:
    with pytest.raises(services.SchedulingError, match=message) as error:
        book(start=start)
    assert error.value.field == "start"
    assert Appointment.objects.count() == 0


def test_type_the_block_does_not_accept_is_refused(book, clinic, monday_block) -> None:
    other = AppointmentTypeFactory(clinic=clinic, name="New patient")
    monday_block.appointment_types.set([other])
    with pytest.raises(services.SchedulingError, match="does not accept"):
        book()


@pytest.mark.parametrize("kind", [TemplateBlock.Kind.ADMIN, TemplateBlock.Kind.BUFFER])
def test_admin_and_buffer_blocks_are_refused(book, monday_block, kind) -> None:
    monday_block.kind = kind
    monday_block.save()
    with pytest.raises(services.SchedulingError):
        book()


def test_buffer_is_bookable_as_an_explicit_act(book, monday_block) -> None:
    monday_block.kind = TemplateBlock.Kind.BUFFER
    monday_block.save()
    assert book(allow_buffer=True).appointment.pk


def test_patient_of_another_clinic_is_refused(book, other_clinic) -> None:
    with pytest.raises(services.SchedulingError, match="not registered") as error:
        book(patient=PatientFactory(clinic=other_clinic))
    assert error.value.field == "patient"


def test_type_and_provider_of_another_clinic_are_refused(book, other_clinic) -> None:
    with pytest.raises(services.SchedulingError) as error:
        book(appointment_type=AppointmentTypeFactory(clinic=other_clinic))
    assert error.value.field == "appointment_type"
    with pytest.raises(services.SchedulingError) as error:
        book(provider=StaffFactory(roles=[roles.PROVIDER], clinics=[other_clinic]))
    assert error.value.field == "provider"


def test_user_of_another_clinic_cannot_book_here(book, make_user, other_clinic) -> None:
    outsider = make_user(roles.FRONT_DESK, clinics=[other_clinic])
    with pytest.raises(services.SchedulingError, match="do not work at this clinic"):
        book(actor=outsider)


def test_end_before_start_is_refused(book) -> None:
    with pytest.raises(services.SchedulingError, match="end must be after") as error:
        book(end=local(MONDAY, 7, 40))
    assert error.value.field == "end"


def test_naive_start_is_refused(book) -> None:
    with pytest.raises(services.SchedulingError, match="time zone"):
        book(start=dt.datetime(2027, 3, 1, 8, 0))  # noqa: DTZ001


def test_a_time_already_past_is_refused(book) -> None:
    with pytest.raises(services.SchedulingError, match="already passed"):
        book(now=local(MONDAY, 12))


def test_closure_day_is_refused(book, clinic) -> None:
    ClinicClosureFactory(clinic=clinic, day=MONDAY)
    with pytest.raises(services.SchedulingError, match="closed"):
        book()


def test_time_off_is_refused(book, provider) -> None:
    ProviderTimeOffFactory(provider=provider, start=local(MONDAY, 7), end=local(MONDAY, 9))
    with pytest.raises(services.SchedulingError, match="time off"):
        book()


def test_same_day_hold_is_bookable_only_once_released(book, monday_block) -> None:
    monday_block.kind = TemplateBlock.Kind.SAME_DAY_HOLD
    monday_block.hold_release_hours = 4
    monday_block.save()
    with pytest.raises(services.SchedulingError, match="same-day access"):
        book(start=local(MONDAY, 11), now=local(MONDAY, 6, 59))
    assert book(start=local(MONDAY, 11), now=local(MONDAY, 7)).appointment.pk


def test_patient_booked_twice_at_once_gets_a_warning(book, clinic, provider, patient) -> None:
    other_provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
    template = ScheduleTemplateFactory(clinic=clinic, provider=other_provider)
    TemplateBlockFactory(template=template, weekday=0)
    book()
    result = book(provider=other_provider)
    assert len(result.warnings) == 1
    assert "already has an appointment" in result.warnings[0]


def test_patient_double_booking_is_refused_by_clinic_setting(book, clinic) -> None:
    SchedulingSettings.objects.create(clinic=clinic, refuse_patient_double_booking=True)
    other_provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
    template = ScheduleTemplateFactory(clinic=clinic, provider=other_provider)
    TemplateBlockFactory(template=template, weekday=0)
    book()
    with pytest.raises(services.PatientDoubleBooked):
        book(provider=other_provider)
    assert Appointment.objects.count() == 1


# --- overbooks ------------------------------------------------------------------------------


def test_overbook_needs_the_permission(book, make_patient, make_user, monday_block) -> None:
    monday_block.overbook_limit = 2
    monday_block.save()
    book()
    nurse = make_user(roles.NURSE)
    with pytest.raises(services.OverbookRefused, match="permission"):
        book(actor=nurse, patient=make_patient(), overbook=True, overbook_reason="urgent")


def test_overbook_needs_a_reason(book, make_patient, monday_block) -> None:
    monday_block.overbook_limit = 2
    monday_block.save()
    with pytest.raises(services.OverbookRefused, match="reason") as error:
        book(overbook=True, overbook_reason="  ")
    assert error.value.field == "overbook_reason"


def test_overbooks_stop_at_the_block_limit(book, make_patient, monday_block) -> None:
    monday_block.overbook_limit = 2
    monday_block.save()
    book()
    first = book(patient=make_patient(), overbook=True, overbook_reason="acute pain").appointment
    second = book(
        patient=make_patient(), start=local(MONDAY, 10), overbook=True, overbook_reason="post-op"
    ).appointment
    assert first.is_overbook
    assert second.is_overbook
    with pytest.raises(services.OverbookRefused, match="allows 2"):
        book(patient=make_patient(), overbook=True, overbook_reason="one more")
    assert Appointment.objects.filter(is_overbook=True).count() == 2


def test_overbook_limit_zero_means_none(book, make_patient) -> None:
    book()
    with pytest.raises(services.OverbookRefused):
        book(patient=make_patient(), overbook=True, overbook_reason="urgent")


# --- rooms --------------------------------------------------------------------------------


def test_visit_needing_a_room_gets_one_and_runs_out(book, clinic, make_patient) -> None:
    procedure = AppointmentTypeFactory(
        clinic=clinic, name="Procedure", room_kind=Room.Kind.PROCEDURE
    )
    room = RoomFactory(clinic=clinic, name="Proc 1", kind=Room.Kind.PROCEDURE)
    appt = book(appointment_type=procedure).appointment
    assert appt.room == room
    other_provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
    template = ScheduleTemplateFactory(clinic=clinic, provider=other_provider)
    TemplateBlockFactory(template=template, weekday=0)
    with pytest.raises(services.RoomTaken, match="No procedure room is free"):
        book(appointment_type=procedure, provider=other_provider, patient=make_patient())
    with pytest.raises(services.RoomTaken, match="room was just taken"):
        book(appointment_type=procedure, provider=other_provider, patient=make_patient(), room=room)


def test_room_of_the_wrong_kind_or_clinic_is_refused(book, clinic, other_clinic) -> None:
    procedure = AppointmentTypeFactory(
        clinic=clinic, name="Procedure", room_kind=Room.Kind.PROCEDURE
    )
    exam = RoomFactory(clinic=clinic, name="Exam 1", kind=Room.Kind.EXAM)
    with pytest.raises(services.SchedulingError, match="needs a room") as error:
        book(appointment_type=procedure, room=exam)
    assert error.value.field == "room"
    with pytest.raises(services.SchedulingError, match="not in use at this clinic"):
        book(room=RoomFactory(clinic=other_clinic, name="Far away"))


# --- the status machine -------------------------------------------------------------------


def _move(appt, to, actor):
    if to == Status.CONFIRMED:
        return transitions.confirm_appointment(actor=actor, appointment=appt)
    if to == Status.ARRIVED:
        return transitions.mark_arrived(actor=actor, appointment=appt, now=appt.start)
    if to == Status.COMPLETED:
        return transitions.complete_appointment(actor=actor, appointment=appt)
    if to == Status.CANCELLED:
        return transitions.cancel_appointment(
            actor=actor, appointment=appt, reason="patient", now=appt.start
        ).appointment
    if to == Status.NO_SHOW:
        return transitions.mark_no_show(
            actor=actor, appointment=appt, now=appt.start + dt.timedelta(hours=1)
        )
    raise AssertionError(to)


ALLOWED = {
    (Status.BOOKED, Status.CONFIRMED),
    (Status.BOOKED, Status.ARRIVED),
    (Status.BOOKED, Status.CANCELLED),
    (Status.BOOKED, Status.NO_SHOW),
    (Status.CONFIRMED, Status.ARRIVED),
    (Status.CONFIRMED, Status.CANCELLED),
    (Status.CONFIRMED, Status.NO_SHOW),
    (Status.ARRIVED, Status.COMPLETED),
}


@pytest.mark.parametrize(
    ("start_status", "to"),
    [
        (a, b)
        for a, b in itertools.product(Status.values, Status.values)
        if a != b and b != Status.BOOKED
    ],
)
def test_status_machine(clinic, provider, visit, front_desk, start_status, to) -> None:
    appt = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        status=start_status,
        cancel_reason="patient" if start_status == Status.CANCELLED else "",
    )
    if (start_status, to) in ALLOWED:
        moved = _move(appt, to, front_desk)
        assert moved.status == to
        event = moved.events.get()
        assert (event.from_status, event.to_status) == (start_status, to)
        assert AuditEvent.objects.filter(
            action=AuditEvent.Action.UPDATE, object_id=str(appt.pk)
        ).exists()
    else:
        with pytest.raises(services.IllegalTransition):
            _move(appt, to, front_desk)
        appt.refresh_from_db()
        assert appt.status == start_status
        assert not appt.events.exists()


def test_nothing_returns_to_booked() -> None:
    assert all(Status.BOOKED not in targets for targets in Appointment.TRANSITIONS.values())


def test_the_full_happy_path_leaves_its_history(book, front_desk) -> None:
    appt = book().appointment
    transitions.confirm_appointment(actor=front_desk, appointment=appt)
    transitions.mark_arrived(actor=front_desk, appointment=appt, now=local(MONDAY, 7, 50))
    transitions.complete_appointment(actor=front_desk, appointment=appt)
    assert list(appt.events.values_list("to_status", flat=True)) == [
        "booked",
        "confirmed",
        "arrived",
        "completed",
    ]


def test_confirming_twice_changes_nothing(book, front_desk) -> None:
    appt = book().appointment
    transitions.confirm_appointment(actor=front_desk, appointment=appt)
    transitions.confirm_appointment(actor=front_desk, appointment=appt)
    assert appt.events.filter(to_status="confirmed").count() == 1


def test_no_show_before_the_start_is_refused(book, front_desk) -> None:
    appt = book().appointment
    with pytest.raises(services.IllegalTransition, match="once the appointment has started"):
        transitions.mark_no_show(actor=front_desk, appointment=appt, now=local(MONDAY, 7, 59))


def test_arrival_on_another_day_is_refused(book, front_desk, now) -> None:
    appt = book().appointment
    with pytest.raises(services.IllegalTransition, match="day of the appointment"):
        transitions.mark_arrived(actor=front_desk, appointment=appt, now=now)


def test_history_is_append_only(book) -> None:
    appt = book().appointment
    event = appt.events.get()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AppointmentEvent.objects.filter(pk=event.pk).update(note="edited")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AppointmentEvent.objects.filter(pk=event.pk).delete()


# --- cancellations --------------------------------------------------------------------------


def test_cancel_inside_the_window_is_late(book, front_desk) -> None:
    appt = book().appointment
    result = transitions.cancel_appointment(
        actor=front_desk, appointment=appt, reason="patient_ill", note="flu", now=local(MONDAY, 6)
    )
    appt = result.appointment
    assert appt.status == Status.CANCELLED
    assert appt.late_cancel is True
    assert appt.cancel_reason == "patient_ill"
    assert appt.cancel_note == "flu"


def test_cancel_before_the_window_is_not_late(book, front_desk, now) -> None:
    appt = book().appointment
    result = transitions.cancel_appointment(
        actor=front_desk, appointment=appt, reason="patient", now=now
    )
    assert result.appointment.late_cancel is False


def test_late_cancel_window_is_a_clinic_setting(book, clinic, front_desk, now) -> None:
    SchedulingSettings.objects.create(clinic=clinic, late_cancel_hours=72)
    appt = book().appointment  # 71 hours after `now`
    result = transitions.cancel_appointment(
        actor=front_desk, appointment=appt, reason="patient", now=now
    )
    assert result.appointment.late_cancel is True


def test_cancel_without_a_valid_reason_is_refused(book, front_desk, now) -> None:
    appt = book().appointment
    with pytest.raises(services.SchedulingError, match="reason") as error:
        transitions.cancel_appointment(actor=front_desk, appointment=appt, reason="bored", now=now)
    assert error.value.field == "reason"
    appt.refresh_from_db()
    assert appt.status == Status.BOOKED


# --- rescheduling ---------------------------------------------------------------------------


def test_reschedule_cancels_and_links_the_old_appointment(book, front_desk, now) -> None:
    old = book().appointment
    result = transitions.reschedule_appointment(
        actor=front_desk, appointment=old, start=local(MONDAY + dt.timedelta(weeks=1), 9), now=now
    )
    new = result.appointment
    old.refresh_from_db()
    assert old.status == Status.CANCELLED
    assert old.cancel_reason == Appointment.CancelReason.RESCHEDULED
    assert new.rescheduled_from == old
    assert old.rescheduled_to == new
    assert new.patient_id == old.patient_id
    assert list(old.events.values_list("to_status", flat=True)) == ["booked", "cancelled"]


def test_reschedule_to_an_overlapping_time_does_not_collide_with_itself(book, front_desk, now):
    old = book().appointment
    new = transitions.reschedule_appointment(
        actor=front_desk, appointment=old, start=local(MONDAY, 8, 20), now=now
    ).appointment
    assert new.start == local(MONDAY, 8, 20)


def test_reschedule_into_a_taken_slot_leaves_the_old_one_alone(book, front_desk, make_patient, now):
    old = book().appointment
    book(patient=make_patient(), start=local(MONDAY, 9))
    with pytest.raises(services.SlotTaken):
        transitions.reschedule_appointment(
            actor=front_desk, appointment=old, start=local(MONDAY, 9), now=now
        )
    old.refresh_from_db()
    assert old.status == Status.BOOKED
    assert old.events.count() == 1


def test_only_open_appointments_can_be_rescheduled(book, front_desk, now) -> None:
    old = book().appointment
    transitions.cancel_appointment(actor=front_desk, appointment=old, reason="patient", now=now)
    with pytest.raises(services.IllegalTransition):
        transitions.reschedule_appointment(
            actor=front_desk, appointment=old, start=local(MONDAY, 9), now=now
        )


# --- waitlist -------------------------------------------------------------------------------


def test_cancel_offers_the_slot_to_matching_waitlist_entries(
    book, clinic, visit, provider, front_desk, now
) -> None:
    appt = book().appointment
    anyone = WaitlistEntryFactory(clinic=clinic, appointment_type=visit)
    with_provider = WaitlistEntryFactory(clinic=clinic, appointment_type=visit, provider=provider)
    mornings = WaitlistEntryFactory(clinic=clinic, appointment_type=visit, time_of_day="morning")
    WaitlistEntryFactory(clinic=clinic, appointment_type=visit, time_of_day="afternoon")
    WaitlistEntryFactory(
        clinic=clinic,
        appointment_type=visit,
        provider=StaffFactory(roles=[roles.PROVIDER], clinics=[clinic]),
    )
    WaitlistEntryFactory(clinic=clinic, appointment_type=visit, earliest=dt.date(2027, 3, 2))
    WaitlistEntryFactory(clinic=clinic)  # another type
    WaitlistEntryFactory(clinic=clinic, appointment_type=visit, status=WaitlistEntry.Status.REMOVED)
    result = transitions.cancel_appointment(
        actor=front_desk, appointment=appt, reason="patient", now=now
    )
    assert {o.entry_id for o in result.offers} == {anyone.pk, with_provider.pk, mornings.pk}
    assert all(o.start == appt.start and o.provider_id == provider.pk for o in result.offers)


def test_accepting_an_offer_books_it_and_closes_the_others(
    book, clinic, visit, front_desk, now
) -> None:
    appt = book().appointment
    first = WaitlistEntryFactory(clinic=clinic, appointment_type=visit)
    second = WaitlistEntryFactory(clinic=clinic, appointment_type=visit)
    offers = transitions.cancel_appointment(
        actor=front_desk, appointment=appt, reason="patient", now=now
    ).offers
    offer = next(o for o in offers if o.entry_id == first.pk)
    booked = waitlist.accept_waitlist_offer(actor=front_desk, offer=offer, now=now).appointment
    assert booked.patient_id == first.patient_id
    assert booked.start == appt.start
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.BOOKED
    statuses = dict(WaitlistOffer.objects.values_list("entry_id", "status"))
    assert statuses == {first.pk: "accepted", second.pk: "expired"}


def test_accepting_an_offer_twice_answers_with_the_first_booking(
    book, clinic, visit, front_desk, now
) -> None:
    appt = book().appointment
    WaitlistEntryFactory(clinic=clinic, appointment_type=visit)
    offer = transitions.cancel_appointment(
        actor=front_desk, appointment=appt, reason="patient", now=now
    ).offers[0]
    first = waitlist.accept_waitlist_offer(actor=front_desk, offer=offer, now=now)
    again = waitlist.accept_waitlist_offer(actor=front_desk, offer=offer, now=now)
    assert not first.replayed
    assert again.replayed
    assert again.appointment == first.appointment
    assert Appointment.objects.filter(patient=first.appointment.patient).count() == 1


def test_a_submission_key_books_once(book, front_desk, now) -> None:
    first = book(submission_key="k" * 32)
    again = book(submission_key="k" * 32)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.appointment == first.appointment
    assert Appointment.objects.count() == 1
    with pytest.raises(services.SchedulingError, match="out of date"):
        book(submission_key="x" * 65)


def test_offer_of_a_slot_taken_meanwhile_expires(
    book, clinic, visit, front_desk, make_patient, now
) -> None:
    appt = book().appointment
    WaitlistEntryFactory(clinic=clinic, appointment_type=visit)
    offer = transitions.cancel_appointment(
        actor=front_desk, appointment=appt, reason="patient", now=now
    ).offers[0]
    book(patient=make_patient())
    with pytest.raises(services.SlotTaken):
        waitlist.accept_waitlist_offer(actor=front_desk, offer=offer, now=now)
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.EXPIRED


def test_waitlist_entry_dates_are_checked(clinic, visit, patient, front_desk) -> None:
    with pytest.raises(services.SchedulingError, match="latest date") as error:
        waitlist.add_to_waitlist(
            actor=front_desk,
            clinic=clinic,
            patient=patient,
            appointment_type=visit,
            earliest=dt.date(2027, 5, 2),
            latest=dt.date(2027, 5, 1),
        )
    assert error.value.field == "latest"
    entry = waitlist.add_to_waitlist(
        actor=front_desk,
        clinic=clinic,
        patient=patient,
        appointment_type=visit,
        earliest=dt.date(2027, 5, 1),
        latest=dt.date(2027, 5, 31),
    )
    assert entry.status == WaitlistEntry.Status.WAITING
    assert AuditEvent.objects.filter(object_type="scheduling.waitlistentry").exists()


# --- time off, closures, templates ------------------------------------------------------------


def test_time_off_lists_the_appointments_to_move_and_hides_slots(
    book, provider, visit, clinic, front_desk, make_patient, manager, now
) -> None:
    at_eight = book().appointment
    at_nine = book(patient=make_patient(), start=local(MONDAY, 9)).appointment
    cancelled = book(patient=make_patient(), start=local(MONDAY, 10)).appointment
    transitions.cancel_appointment(
        actor=front_desk, appointment=cancelled, reason="patient", now=now
    )
    result = templates.add_time_off(
        actor=manager,
        provider=provider,
        start=local(MONDAY, 8, 30),
        end=local(MONDAY, 12),
        reason="conference",
    )
    assert [a.pk for a in result.affected] == [at_nine.pk]
    assert at_eight.pk not in [a.pk for a in result.affected]
    slots = find_slots(clinic=clinic, appointment_type=visit, now=now, count=1)
    # 08:00 is booked and 08:20-08:40 runs into the time off: next Monday is the first.
    assert slots[0].start == local(MONDAY + dt.timedelta(weeks=1), 8)


def test_time_off_with_end_before_start_is_refused(provider, manager) -> None:
    with pytest.raises(services.SchedulingError, match="end must be after"):
        templates.add_time_off(
            actor=manager, provider=provider, start=local(MONDAY, 12), end=local(MONDAY, 8)
        )


def test_closure_lists_the_appointments_to_move(book, clinic, manager) -> None:
    appt = book().appointment
    result = templates.add_closure(actor=manager, clinic=clinic, day=MONDAY, reason="Snow")
    assert [a.pk for a in result.affected] == [appt.pk]
    with pytest.raises(services.SchedulingError, match="already closed"):
        templates.add_closure(actor=manager, clinic=clinic, day=MONDAY)


def test_create_template_refuses_overlapping_blocks(clinic, provider, manager) -> None:
    blocks = [
        templates.BlockSpec(weekday=0, start_time=dt.time(8), end_time=dt.time(12)),
        templates.BlockSpec(weekday=0, start_time=dt.time(11), end_time=dt.time(13)),
    ]
    with pytest.raises(services.SchedulingError, match="overlap"):
        templates.create_template(
            actor=manager,
            clinic=clinic,
            provider=provider,
            effective_from=dt.date(2027, 1, 4),
            blocks=blocks,
        )


def test_create_template_then_a_newer_one_takes_over(clinic, provider, visit, manager) -> None:
    templates.create_template(
        actor=manager,
        clinic=clinic,
        provider=provider,
        effective_from=dt.date(2027, 1, 4),
        blocks=[
            templates.BlockSpec(
                weekday=0, start_time=dt.time(8), end_time=dt.time(9), slot_minutes=20
            )
        ],
    )
    templates.create_template(
        actor=manager,
        clinic=clinic,
        provider=provider,
        effective_from=dt.date(2027, 3, 8),
        blocks=[
            templates.BlockSpec(
                weekday=0,
                start_time=dt.time(15),
                end_time=dt.time(16),
                slot_minutes=30,
                appointment_type_ids=(visit.pk,),
            )
        ],
    )
    slots = find_slots(clinic=clinic, appointment_type=visit, now=local(MONDAY, 7), count=5)
    assert [s.start for s in slots] == [
        local(MONDAY, 8),
        local(MONDAY, 8, 20),
        local(MONDAY, 8, 40),
        local(MONDAY + dt.timedelta(weeks=1), 15),
        local(MONDAY + dt.timedelta(weeks=1), 15, 30),
    ]
