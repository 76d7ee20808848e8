"""The demo schedule (`manage.py seed_scheduling`) and seed_demo's hook for the apps' seeders."""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Staff
from clinicops.core.tests.factories import ClinicFactory, StaffFactory
from clinicops.demo.management.commands import seed_demo
from clinicops.kpis.models import ClinicMetricChoice, MetricDay
from scheduling.management.commands.seed_scheduling import (
    SETTLED_AFTER,
    ClinicSeeder,
    us_holidays,
)
from scheduling.models import (
    Appointment,
    AppointmentEvent,
    AppointmentType,
    ClinicClosure,
    ScheduleTemplate,
    TemplateBlock,
    WaitlistEntry,
    WaitlistOffer,
)
from supplies.models import StockMovement

pytestmark = pytest.mark.django_db

Status = Appointment.Status
SETTLED = {Status.COMPLETED, Status.NO_SHOW, Status.CANCELLED}
WAITING = {Status.BOOKED, Status.CONFIRMED, Status.CANCELLED}


@pytest.fixture
def demo_clinics() -> list[Clinic]:
    """seed_demo's clinics, staff and 200 patients, without the apps' seeders."""
    call_command("seed_demo", patients=200, core_only=True, verbosity=0, stdout=StringIO())
    return list(Clinic.objects.order_by("pk"))


def seed_scheduling(**options: Any) -> str:
    out = StringIO()
    call_command("seed_scheduling", stdout=out, **options)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (
        AppointmentType,
        ScheduleTemplate,
        TemplateBlock,
        ClinicClosure,
        Appointment,
        AppointmentEvent,
        WaitlistEntry,
        WaitlistOffer,
        AuditEvent,
    )
    return {model.__name__: model.objects.count() for model in models}


def test_a_second_run_adds_nothing(demo_clinics: list[Clinic]) -> None:
    seed_scheduling(seed=1)
    first = counts()

    out = seed_scheduling(seed=1)

    assert counts() == first
    assert first["Appointment"] > 2000
    assert (
        first["ScheduleTemplate"] == Staff.objects.filter(user__groups__name=roles.PROVIDER).count()
    )
    assert out.count("seeded before") == 2


def test_no_provider_or_room_is_booked_twice_at_once(demo_clinics: list[Clinic]) -> None:
    seed_scheduling()

    by_provider: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    by_room: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for provider, room, start, end in Appointment.objects.live().values_list(
        "provider_id", "room_id", "start", "end"
    ):
        by_provider[provider].append((start, end))
        if room is not None:
            by_room[room].append((start, end))
    for intervals in [*by_provider.values(), *by_room.values()]:
        intervals.sort()
        for (_, end), (next_start, _) in itertools.pairwise(intervals):
            assert end <= next_start
    # Procedures took the procedure room; nothing else holds a room.
    assert by_room
    assert not Appointment.objects.filter(room__isnull=False).exclude(
        appointment_type__room_kind="procedure"
    )
    assert not Appointment.objects.filter(
        appointment_type__room_kind="procedure", room__isnull=True
    )


def test_statuses_spread_like_a_real_clinic(demo_clinics: list[Clinic]) -> None:
    seed_scheduling()

    for clinic in demo_clinics:
        settled_before = datetime.now(tz=clinic.tz) - SETTLED_AFTER
        appointments = Appointment.objects.filter(clinic=clinic)
        statuses = appointments.values_list("status", flat=True)
        past = Counter(statuses.filter(end__lte=settled_before))
        later = Counter(statuses.filter(end__gt=settled_before))
        total = sum(past.values())
        # Settled history: mostly completed, ~6 % no-shows, ~8 % cancelled (some late).
        assert set(past) == SETTLED, clinic
        assert 0.03 < past[Status.NO_SHOW] / total < 0.10
        assert 0.05 < past[Status.CANCELLED] / total < 0.12
        late = appointments.filter(status=Status.CANCELLED, late_cancel=True).count()
        assert 0 < late < past[Status.CANCELLED]
        # Still to come: booked, some confirmed, a few cancelled ahead; never an outcome.
        assert set(later) <= WAITING
        assert later[Status.BOOKED] > 0
        # Every appointment's story is in its events, ending in its status.
        for appointment in appointments.order_by("?")[:50]:
            events = list(appointment.events.order_by("at", "pk"))
            assert events[0].from_status == ""
            assert events[-1].to_status == appointment.status
            assert all(event.at <= datetime.now(tz=clinic.tz) for event in events)
            assert appointment.created_at <= events[0].at + timedelta(seconds=1)


def test_the_weeks_fill_like_a_real_schedule(demo_clinics: list[Clinic]) -> None:
    seed_scheduling()

    for clinic in demo_clinics:
        today = clinic.today()
        monday = today - timedelta(days=today.weekday())
        ahead = 0
        for weeks, low, high in ((-4, 0.62, 0.9), (1, 0.35, 0.75), (2, 0.15, 0.5)):
            start = datetime.combine(monday + timedelta(weeks=weeks), time(0), tzinfo=clinic.tz)
            booked = sum(
                (end - begin).total_seconds() / 60
                for begin, end in Appointment.objects.filter(
                    clinic=clinic, start__gte=start, start__lt=start + timedelta(days=7)
                )
                .exclude(status=Status.CANCELLED)
                .values_list("start", "end")
            )
            open_days = 5 - sum(
                1
                for day in us_holidays(start.date(), start.date() + timedelta(days=6))
                if day.weekday() < 5
            )
            providers = ScheduleTemplate.objects.filter(clinic=clinic).count()
            # 8:00-12:00, 13:00-16:30 and the 30-minute same-day hold; holds stay free ahead.
            bookable = providers * open_days * (450 + (30 if weeks < 0 else 0))
            share = booked / bookable
            assert low < share < high, (clinic, weeks, share)
            if weeks > 0:
                assert share < (ahead or 1)
                ahead = share
        assert ClinicClosure.objects.filter(clinic=clinic).exists()
        assert not Appointment.objects.filter(
            clinic=clinic, start__date__in=clinic.closures.values("day")
        ).exists()


def test_the_waitlist_has_patients_and_offers_of_freed_slots(demo_clinics: list[Clinic]) -> None:
    seed_scheduling()

    for clinic in demo_clinics:
        assert WaitlistEntry.objects.filter(clinic=clinic, status="waiting").count() == 4
        offers = WaitlistOffer.objects.filter(entry__clinic=clinic, status="open")
        assert offers.exists()
        for offer in offers:
            assert offer.freed_by.status == Status.CANCELLED
            assert offer.start > datetime.now(tz=clinic.tz)


def test_only_the_demo_clinics_get_demo_bookings(demo_clinics: list[Clinic]) -> None:
    real = ClinicFactory(name="A real clinic")
    StaffFactory(roles=[roles.PROVIDER], clinics=[real])

    seed_scheduling()

    assert not AppointmentType.objects.filter(clinic=real).exists()
    assert not Appointment.objects.filter(clinic=real).exists()
    assert not ScheduleTemplate.objects.filter(clinic=real).exists()


def test_without_demo_clinics_it_says_so_and_creates_nothing() -> None:
    ClinicFactory(name="A real clinic")

    out = seed_scheduling()

    assert "run seed_demo first" in out
    assert not AppointmentType.objects.exists()


def test_today_follows_the_clinic_clock(demo_clinics: list[Clinic]) -> None:
    # given a weekday at 11:00 where the clinic is
    clinic = demo_clinics[0]
    day = clinic.today() + timedelta(days=1)
    while day.weekday() >= 5 or us_holidays(day, day):
        day += timedelta(days=1)
    now = datetime.combine(day, time(11), tzinfo=clinic.tz)

    # when the clinic is seeded as of then
    ClinicSeeder(clinic, random.Random(3), now=now).run()

    # then the morning until 10:00 is settled and the rest of the day waits for the desk
    start = datetime.combine(day, time(0), tzinfo=clinic.tz)
    today = Appointment.objects.filter(
        clinic=clinic, start__gte=start, start__lt=start + timedelta(days=1)
    )
    settled = today.filter(end__lte=now - SETTLED_AFTER)
    waiting = today.filter(end__gt=now - SETTLED_AFTER)
    assert settled.filter(status=Status.COMPLETED).exists()
    assert set(settled.values_list("status", flat=True)) <= SETTLED
    assert waiting.filter(start__lt=now).exists()  # in the rooms now, or late
    assert set(waiting.values_list("status", flat=True)) <= WAITING
    # Same-day holds are taken on the day only.
    holds = Appointment.objects.filter(clinic=clinic, start__gt=start + timedelta(days=1))
    assert not [a for a in holds if a.local_start().time() >= time(16, 30)]


def test_the_same_seed_plans_the_same_schedule(demo_clinics: list[Clinic]) -> None:
    clinic = demo_clinics[0]
    now = datetime.now(tz=clinic.tz)
    providers = list(
        Staff.objects.filter(clinics=clinic, user__groups__name=roles.PROVIDER).order_by("pk")
    )
    first = ClinicSeeder(clinic, random.Random(9), now=now)
    types = first.create_types()
    second = ClinicSeeder(clinic, random.Random(9), now=now)
    other = ClinicSeeder(clinic, random.Random(10), now=now)

    def plan(seeder: ClinicSeeder) -> list[tuple[int, datetime, int]]:
        return [(p.provider.pk, p.start, p.type.pk) for p in seeder.plan(providers, types, set())]

    planned = plan(first)
    assert planned
    assert planned == plan(second)
    assert planned != plan(other)


# --- seed_demo's hook -----------------------------------------------------------------------


def test_the_hook_runs_only_the_seeders_that_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        seed_demo,
        "get_commands",
        lambda: {"migrate": "django.core", "seed_supplies": "supplies", "seed_flow": "x"},
    )
    monkeypatch.setattr(
        seed_demo, "call_command", lambda name, **options: called.append((name, options))
    )

    ran = seed_demo.run_app_seeders(seed=7, verbosity=0, stdout=StringIO())

    assert ran == ["seed_supplies", "seed_flow"]
    assert [name for name, _ in called] == ran
    assert all(options["seed"] == 7 for _, options in called)


def test_the_hook_names_every_seeder_that_exists_in_this_project() -> None:
    from django.core.management import get_commands

    assert set(seed_demo.APP_SEEDERS) <= set(get_commands())


def test_seed_demo_brings_the_whole_demo_to_life_once() -> None:
    # when seed_demo runs with the apps' seeders, twice
    out = StringIO()
    call_command("seed_demo", patients=150, verbosity=0, stdout=out)
    first = {
        "appointments": Appointment.objects.count(),
        "movements": StockMovement.objects.count(),
        "metric days": MetricDay.objects.count(),
        "choices": ClinicMetricChoice.objects.count(),
        "audit": AuditEvent.objects.count(),
    }
    call_command("seed_demo", patients=150, verbosity=0, stdout=StringIO())

    # then the second run added nothing
    assert first == {
        "appointments": Appointment.objects.count(),
        "movements": StockMovement.objects.count(),
        "metric days": MetricDay.objects.count(),
        "choices": ClinicMetricChoice.objects.count(),
        "audit": AuditEvent.objects.count(),
    }
    for name in seed_demo.APP_SEEDERS:
        assert f"Ran {name}." in out.getvalue()
    # and each demo clinic's dashboard has its four metrics over twelve weeks of rollups
    for clinic in Clinic.objects.all():
        keys = list(ClinicMetricChoice.objects.filter(clinic=clinic).values_list("key", flat=True))
        assert keys == [
            "no_show_rate",
            "template_utilization",
            "supply_cost_per_visit",
            "stockout_rate",
        ]
        today = clinic.today()
        twelve_weeks_ago = today - timedelta(days=today.weekday(), weeks=12)
        for key in keys:
            days = MetricDay.objects.filter(clinic=clinic, key=key, denominator__gt=0)
            first_day = days.order_by("day").values_list("day", flat=True).first()
            assert first_day is not None, (clinic, key)
            # From that week's Monday (or the next open day, after a holiday).
            assert first_day <= twelve_weeks_ago + timedelta(days=3), (clinic, key)
        cost = ClinicMetricChoice.objects.get(clinic=clinic, key="supply_cost_per_visit")
        assert cost.target > 0
