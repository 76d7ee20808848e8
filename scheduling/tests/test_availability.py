"""Availability search: templates, block kinds, holds, closures, time off, rooms, DST."""

from __future__ import annotations

import datetime as dt

import pytest

from clinicops.core import roles
from clinicops.core.models import Room
from clinicops.core.tests.factories import RoomFactory, StaffFactory
from scheduling.availability import find_slots, third_next_available_days
from scheduling.models import Appointment, TemplateBlock
from scheduling.tests.conftest import MONDAY, NY, local
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ClinicClosureFactory,
    ProviderTimeOffFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def starts(slots: list, tz: object = NY) -> list[str]:
    return [f"{s.start.astimezone(tz):%Y-%m-%d %H:%M}" for s in slots]


def test_next_three_slots_are_the_first_of_the_template(clinic, visit, monday_block, now) -> None:
    slots = find_slots(clinic=clinic, appointment_type=visit, now=now)
    assert starts(slots) == ["2027-03-01 08:00", "2027-03-01 08:20", "2027-03-01 08:40"]
    # 08:00 in New York in March before DST is 13:00 UTC.
    assert slots[0].start == dt.datetime(2027, 3, 1, 13, 0, tzinfo=UTC)
    assert slots[0].end - slots[0].start == dt.timedelta(minutes=20)
    assert slots[0].block_id == monday_block.pk


def test_booked_and_overlapping_slots_are_skipped(clinic, visit, provider, monday_block, now):
    long_visit = AppointmentTypeFactory(clinic=clinic, name="Long", duration_minutes=40)
    AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=long_visit,
        start=local(MONDAY, 8, 20),
    )
    slots = find_slots(clinic=clinic, appointment_type=visit, now=now, count=2)
    assert starts(slots) == ["2027-03-01 08:00", "2027-03-01 09:00"]


def test_cancelled_and_no_show_appointments_free_their_slot(
    clinic, visit, provider, monday_block, now
):
    for status in (Appointment.Status.CANCELLED, Appointment.Status.NO_SHOW):
        AppointmentFactory(
            clinic=clinic,
            provider=provider,
            appointment_type=visit,
            start=local(MONDAY, 8),
            status=status,
            cancel_reason="patient" if status == Appointment.Status.CANCELLED else "",
        )
    slots = find_slots(clinic=clinic, appointment_type=visit, now=now, count=1)
    assert starts(slots) == ["2027-03-01 08:00"]


def test_a_visit_longer_than_the_slot_must_fit_in_the_block(clinic, provider, monday_block, now):
    long_visit = AppointmentTypeFactory(clinic=clinic, name="Physical", duration_minutes=60)
    slots = find_slots(clinic=clinic, appointment_type=long_visit, now=now, count=20)
    monday = [s for s in starts(slots) if s.startswith("2027-03-01")]
    assert monday[-1] == "2027-03-01 11:00"  # 11:00 + 60 min = the block's end
    assert len(monday) == 10  # 08:00 .. 11:00 every 20 minutes


def test_past_slots_of_today_are_not_offered(clinic, visit, monday_block) -> None:
    slots = find_slots(clinic=clinic, appointment_type=visit, now=local(MONDAY, 10, 5), count=2)
    assert starts(slots) == ["2027-03-01 10:20", "2027-03-01 10:40"]


def test_block_accepting_other_types_is_skipped(clinic, visit, template, now) -> None:
    other = AppointmentTypeFactory(clinic=clinic, name="New patient", duration_minutes=20)
    TemplateBlockFactory(template=template, weekday=0, types=[other])
    TemplateBlockFactory(
        template=template, weekday=0, start_time=dt.time(13), end_time=dt.time(14), types=[visit]
    )
    slots = find_slots(clinic=clinic, appointment_type=visit, now=now, count=1)
    assert starts(slots) == ["2027-03-01 13:00"]


@pytest.mark.parametrize("kind", [TemplateBlock.Kind.BUFFER, TemplateBlock.Kind.ADMIN])
def test_buffer_and_admin_blocks_are_never_offered(clinic, visit, template, now, kind) -> None:
    TemplateBlockFactory(template=template, weekday=0, kind=kind)
    assert find_slots(clinic=clinic, appointment_type=visit, now=now, horizon_days=30) == []


def test_same_day_hold_opens_n_hours_before(clinic, visit, template) -> None:
    TemplateBlockFactory(
        template=template,
        weekday=0,
        start_time=dt.time(12),
        end_time=dt.time(13),
        kind=TemplateBlock.Kind.SAME_DAY_HOLD,
        hold_release_hours=2,
    )
    early = find_slots(clinic=clinic, appointment_type=visit, now=local(MONDAY, 9), end_date=MONDAY)
    assert early == []
    released = find_slots(
        clinic=clinic, appointment_type=visit, now=local(MONDAY, 10, 10), end_date=MONDAY
    )
    # 12:00 opened at 10:00; 12:20 opens at 10:20.
    assert starts(released) == ["2027-03-01 12:00"]
    later = find_slots(
        clinic=clinic, appointment_type=visit, now=local(MONDAY, 10, 45), end_date=MONDAY
    )
    assert starts(later) == ["2027-03-01 12:00", "2027-03-01 12:20", "2027-03-01 12:40"]
    assert {s.kind for s in later} == {TemplateBlock.Kind.SAME_DAY_HOLD}
    assert (
        find_slots(
            clinic=clinic,
            appointment_type=visit,
            now=local(MONDAY, 10, 45),
            end_date=MONDAY,
            include_same_day_holds=False,
        )
        == []
    )


def test_closure_removes_the_day(clinic, visit, monday_block, now) -> None:
    ClinicClosureFactory(clinic=clinic, day=MONDAY)
    slots = find_slots(clinic=clinic, appointment_type=visit, now=now, count=1)
    assert starts(slots) == ["2027-03-08 08:00"]


def test_time_off_hides_the_slots_it_covers(clinic, visit, provider, monday_block, now) -> None:
    ProviderTimeOffFactory(provider=provider, start=local(MONDAY, 8), end=local(MONDAY, 11))
    slots = find_slots(clinic=clinic, appointment_type=visit, now=now, count=4)
    assert starts(slots) == [
        "2027-03-01 11:00",
        "2027-03-01 11:20",
        "2027-03-01 11:40",
        "2027-03-08 08:00",
    ]


def test_template_effective_dates_hand_over_from_a_date(clinic, visit, provider, now) -> None:
    old = ScheduleTemplateFactory(
        clinic=clinic, provider=provider, effective_from=dt.date(2027, 1, 1)
    )
    TemplateBlockFactory(template=old, weekday=0, start_time=dt.time(8), end_time=dt.time(9))
    new = ScheduleTemplateFactory(
        clinic=clinic, provider=provider, effective_from=dt.date(2027, 3, 8)
    )
    TemplateBlockFactory(template=new, weekday=0, start_time=dt.time(14), end_time=dt.time(15))
    slots = find_slots(clinic=clinic, appointment_type=visit, now=now, count=6)
    assert starts(slots) == [
        "2027-03-01 08:00",
        "2027-03-01 08:20",
        "2027-03-01 08:40",
        "2027-03-08 14:00",
        "2027-03-08 14:20",
        "2027-03-08 14:40",
    ]


def test_template_ends_on_its_effective_to(clinic, visit, provider, now) -> None:
    template = ScheduleTemplateFactory(
        clinic=clinic, provider=provider, effective_to=dt.date(2027, 3, 7)
    )
    TemplateBlockFactory(template=template, weekday=0)
    slots = find_slots(clinic=clinic, appointment_type=visit, now=now, count=50)
    assert {s.start.astimezone(NY).date() for s in slots} == {MONDAY}


def test_block_stays_at_local_time_across_spring_forward(clinic, visit, template) -> None:
    TemplateBlockFactory(template=template, weekday=6, start_time=dt.time(8), end_time=dt.time(9))
    sunday_before = dt.date(2027, 3, 7)
    dst_day = dt.date(2027, 3, 14)  # clocks go 02:00 -> 03:00
    before = find_slots(
        clinic=clinic,
        appointment_type=visit,
        now=local(sunday_before, 0),
        start_date=sunday_before,
        end_date=sunday_before,
    )
    on = find_slots(
        clinic=clinic,
        appointment_type=visit,
        now=local(sunday_before, 0),
        start_date=dst_day,
        end_date=dst_day,
    )
    assert starts(before) == ["2027-03-07 08:00", "2027-03-07 08:20", "2027-03-07 08:40"]
    assert starts(on) == ["2027-03-14 08:00", "2027-03-14 08:20", "2027-03-14 08:40"]
    assert before[0].start == dt.datetime(2027, 3, 7, 13, 0, tzinfo=UTC)
    assert on[0].start == dt.datetime(2027, 3, 14, 12, 0, tzinfo=UTC)


def test_block_stays_at_local_time_across_fall_back(clinic, visit, template) -> None:
    TemplateBlockFactory(template=template, weekday=6, start_time=dt.time(8), end_time=dt.time(9))
    dst_end = dt.date(2027, 11, 7)  # clocks go 02:00 -> 01:00
    slots = find_slots(
        clinic=clinic,
        appointment_type=visit,
        now=local(dst_end - dt.timedelta(days=1), 12),
        start_date=dst_end,
        end_date=dst_end,
    )
    assert starts(slots) == ["2027-11-07 08:00", "2027-11-07 08:20", "2027-11-07 08:40"]
    assert slots[0].start == dt.datetime(2027, 11, 7, 13, 0, tzinfo=UTC)


def test_block_over_the_night_of_the_change_counts_real_time(clinic, visit, template) -> None:
    TemplateBlockFactory(
        template=template, weekday=6, start_time=dt.time(1), end_time=dt.time(4), slot_minutes=60
    )
    dst_day = dt.date(2027, 3, 14)
    slots = find_slots(
        clinic=clinic,
        appointment_type=visit,
        now=local(dst_day - dt.timedelta(days=1), 12),
        start_date=dst_day,
        end_date=dst_day,
        count=10,
    )
    # 01:00-04:00 local is only two real hours that night (02:00-03:00 does not exist).
    assert starts(slots) == ["2027-03-14 01:00", "2027-03-14 03:00"]


def test_filters_by_provider_time_of_day_weekday_and_dates(clinic, visit, provider, now) -> None:
    other = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
    for staff in (provider, other):
        template = ScheduleTemplateFactory(clinic=clinic, provider=staff)
        TemplateBlockFactory(
            template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(9)
        )
        TemplateBlockFactory(
            template=template, weekday=2, start_time=dt.time(13), end_time=dt.time(14)
        )
    both = find_slots(clinic=clinic, appointment_type=visit, now=now, count=2)
    assert {s.provider_id for s in both} == {provider.pk, other.pk}
    assert starts(both) == ["2027-03-01 08:00", "2027-03-01 08:00"]
    only_other = find_slots(clinic=clinic, appointment_type=visit, now=now, provider=other)
    assert {s.provider_id for s in only_other} == {other.pk}
    afternoons = find_slots(clinic=clinic, appointment_type=visit, now=now, time_of_day="afternoon")
    assert starts(afternoons)[0] == "2027-03-03 13:00"
    wednesdays = find_slots(clinic=clinic, appointment_type=visit, now=now, weekdays=[2], count=1)
    assert starts(wednesdays) == ["2027-03-03 13:00"]
    later = find_slots(
        clinic=clinic, appointment_type=visit, now=now, start_date=dt.date(2027, 3, 9), count=1
    )
    assert starts(later) == ["2027-03-10 13:00"]
    window = find_slots(
        clinic=clinic,
        appointment_type=visit,
        now=now,
        start_date=dt.date(2027, 3, 2),
        end_date=dt.date(2027, 3, 2),
    )
    assert window == []


def test_visit_needing_a_room_gets_a_free_one(clinic, provider, monday_block, now) -> None:
    procedure = AppointmentTypeFactory(
        clinic=clinic, name="Procedure", duration_minutes=20, room_kind=Room.Kind.PROCEDURE
    )
    assert find_slots(clinic=clinic, appointment_type=procedure, now=now) == []
    room = RoomFactory(clinic=clinic, name="Proc 1", kind=Room.Kind.PROCEDURE)
    RoomFactory(clinic=clinic, name="Exam A", kind=Room.Kind.EXAM)
    # Another provider uses the only procedure room at 08:00.
    AppointmentFactory(clinic=clinic, start=local(MONDAY, 8), room=room)
    # Searched from the Friday before (Monday is in a later chunk of days) and from Monday
    # morning (Monday is in the first chunk, read in the first round trip).
    for searched_at in (now, local(MONDAY, 7)):
        slots = find_slots(clinic=clinic, appointment_type=procedure, now=searched_at, count=1)
        assert starts(slots) == ["2027-03-01 08:20"]
        assert slots[0].room_id == room.pk


def test_other_clinics_templates_are_not_searched(clinic, other_clinic, visit, now) -> None:
    staff = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic, other_clinic])
    template = ScheduleTemplateFactory(clinic=other_clinic, provider=staff)
    TemplateBlockFactory(template=template, weekday=0)
    assert find_slots(clinic=clinic, appointment_type=visit, now=now, horizon_days=20) == []


def test_tnaa_hand_computed(clinic, visit, provider, template) -> None:
    """Mondays 08:00-09:00 hold three 20-minute slots; one of next Monday's is booked.

    Measured Friday 26 Feb: open slots are Mon 1 Mar 08:20, 08:40, then Mon 8 Mar 08:00.
    The third is on 8 March: 10 days after 26 February.
    """
    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(9))
    TemplateBlockFactory(
        template=template,
        weekday=0,
        start_time=dt.time(9),
        end_time=dt.time(10),
        kind=TemplateBlock.Kind.SAME_DAY_HOLD,
        hold_release_hours=200,
    )
    AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 8)
    )
    friday = local(dt.date(2027, 2, 26), 9)
    days = third_next_available_days(
        clinic=clinic, provider=provider, appointment_type=visit, now=friday
    )
    assert days == 10


def test_tnaa_is_none_without_three_slots_in_the_horizon(clinic, visit, provider, template) -> None:
    TemplateBlockFactory(
        template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(8, 40)
    )
    friday = local(dt.date(2027, 2, 26), 9)
    assert (
        third_next_available_days(
            clinic=clinic, provider=provider, appointment_type=visit, now=friday, horizon_days=5
        )
        is None
    )


def test_inactive_type_has_no_slots(clinic, visit, monday_block, now) -> None:
    visit.is_active = False
    visit.save()
    assert find_slots(clinic=clinic, appointment_type=visit, now=now) == []


def test_search_uses_a_bounded_number_of_queries(
    clinic, visit, provider, monday_block, now, django_assert_max_num_queries
) -> None:
    for week in range(6):
        for minute in range(0, 240, 20):
            AppointmentFactory(
                clinic=clinic,
                provider=provider,
                appointment_type=visit,
                start=local(MONDAY + dt.timedelta(weeks=week), 8) + dt.timedelta(minutes=minute),
            )
    with django_assert_max_num_queries(12):
        slots = find_slots(clinic=clinic, appointment_type=visit, now=now, count=3)
    assert starts(slots)[0] == "2027-04-12 08:00"
