"""Anomaly hints on crafted audit data: each rule, the events behind each hint, the local day
(DST), idempotence, the nightly dispatch, and the compliance officer's inbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, User
from clinicops.core.tests.factories import OpeningHoursFactory, PatientFactory
from compliance import anomalies, tasks
from compliance.models import AnomalyHint
from workforce.models import Assignment, RosterRole, RosterWeek, ShiftTemplate

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 12, 2)  # a Wednesday
NY = "America/New_York"


@pytest.fixture
def ny(clinic: Clinic) -> Clinic:
    clinic.time_zone = NY
    clinic.save()
    OpeningHoursFactory(clinic=clinic, weekday=DAY.weekday(), opens=dt.time(8), closes=dt.time(18))
    return clinic


@pytest.fixture
def nurse(make_user: Callable[..., User], ny: Clinic) -> User:
    return make_user(roles.NURSE, username="nurse", last_name="Okafor", first_name="Ada")


def at(clinic: Clinic, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clinic.tz)


def read(user: User, patient: Patient, when: dt.datetime, action: str = "view") -> AuditEvent:
    """A crafted audit event: `user` opened `patient`'s record at `when`."""
    return AuditEvent.objects.create(
        occurred_at=when,
        actor=user,
        actor_label=user.username,
        action=action,
        object_type="core.patient",
        object_id=str(patient.pk),
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
    )


def hints(rule: str) -> list[AnomalyHint]:
    return list(AnomalyHint.objects.filter(rule=rule).order_by("id"))


def test_volume_compares_with_the_users_own_baseline(
    make_user: Callable[..., User], ny: Clinic, nurse: User
) -> None:
    patients = [PatientFactory(clinic=ny) for _ in range(40)]
    steady = make_user(roles.NURSE, username="steady")
    newcomer = make_user(roles.NURSE, username="newcomer")
    for back in range(1, 6):  # five working days before: 4 a day (nurse), 10 a day (steady)
        day = DAY - dt.timedelta(days=back)
        for p in patients[:4]:
            read(nurse, p, at(ny, day, 10))
        for p in patients[:10]:
            read(steady, p, at(ny, day, 10))
    today = [read(nurse, p, at(ny, DAY, 9, n)) for n, p in enumerate(patients[:20])]
    for n, p in enumerate(patients[:25]):
        read(steady, p, at(ny, DAY, 9, n))  # 25 < 3 x 10: usual enough
        read(newcomer, p, at(ny, DAY, 9, n))  # no baseline: no comparison
    anomalies.compute_hints(ny, DAY)
    [hint] = hints(AnomalyHint.Rule.VOLUME)
    assert hint.user == nurse
    assert "20 patients" in hint.detail
    assert "usually 4" in hint.detail
    assert hint.event_ids == [e.pk for e in today]


def test_volume_needs_the_minimum_too(ny: Clinic, nurse: User) -> None:
    patients = [PatientFactory(clinic=ny) for _ in range(6)]
    for back in range(1, 6):
        read(nurse, patients[0], at(ny, DAY - dt.timedelta(days=back), 10))
    for p in patients:
        read(nurse, p, at(ny, DAY, 10))  # 6 times the baseline, but only 6 patients
    anomalies.compute_hints(ny, DAY)
    assert hints(AnomalyHint.Rule.VOLUME) == []


def test_a_patient_with_the_users_surname_or_phone(ny: Clinic, nurse: User) -> None:
    relative = PatientFactory(clinic=ny, last_name="OKAFOR ")
    housemate = PatientFactory(clinic=ny, last_name="Smith", phone="(555) 201-3344")
    stranger = PatientFactory(clinic=ny, last_name="Jones", phone="555-999-0000")
    nurse.staff.phone = "555.201.3344"
    nurse.staff.save()
    e1 = read(nurse, relative, at(ny, DAY, 10))
    e2 = read(nurse, relative, at(ny, DAY, 11), action="update")
    e3 = read(nurse, housemate, at(ny, DAY, 12))
    read(nurse, stranger, at(ny, DAY, 13))
    anomalies.compute_hints(ny, DAY)
    [surname] = hints(AnomalyHint.Rule.SURNAME)
    assert surname.user == nurse
    assert surname.event_ids == [e1.pk, e2.pk]
    [household] = hints(AnomalyHint.Rule.HOUSEHOLD)
    assert household.event_ids == [e3.pk]


def roster(clinic: Clinic, user: User, start: int, end: int) -> None:
    template = ShiftTemplate.objects.create(
        clinic=clinic,
        name="Day",
        role=RosterRole.MEDICAL_ASSISTANT,
        start_time=dt.time(start),
        end_time=dt.time(end),
        weekdays=list(range(7)),
    )
    week = RosterWeek.objects.create(
        clinic=clinic,
        week_start=DAY - dt.timedelta(days=DAY.weekday()),
        status=RosterWeek.Status.PUBLISHED,
        version=1,
    )
    Assignment.objects.create(
        week=week,
        staff=user.staff,
        template=template,
        role=RosterRole.MEDICAL_ASSISTANT,
        day=DAY,
        start=at(clinic, DAY, start),
        end=at(clinic, DAY, end),
    )


def test_outside_rostered_hours_uses_the_published_roster(
    make_user: Callable[..., User], ny: Clinic, nurse: User
) -> None:
    patient = PatientFactory(clinic=ny)
    roster(ny, nurse, 6, 12)  # works 06:00-12:00, before the clinic opens
    read(nurse, patient, at(ny, DAY, 6, 15))  # rostered (the clinic is still closed)
    read(nurse, patient, at(ny, DAY, 12, 20))  # within 30 minutes' grace
    late = read(nurse, patient, at(ny, DAY, 15))  # clinic open, but not their shift
    anomalies.compute_hints(ny, DAY)
    [hint] = hints(AnomalyHint.Rule.OFF_HOURS)
    assert hint.event_ids == [late.pk]
    assert "published shifts" in hint.detail


def test_without_a_roster_that_week_opening_hours_decide(
    make_user: Callable[..., User], ny: Clinic
) -> None:
    desk = make_user(roles.FRONT_DESK, username="desk")
    patient = PatientFactory(clinic=ny)
    read(desk, patient, at(ny, DAY, 9))
    night = read(desk, patient, at(ny, DAY, 23, 30))
    anomalies.compute_hints(ny, DAY)
    [hint] = hints(AnomalyHint.Rule.OFF_HOURS)
    assert hint.user == desk
    assert hint.event_ids == [night.pk]
    assert "opening hours" in hint.detail


def test_a_closed_day_makes_every_access_off_hours(
    make_user: Callable[..., User], ny: Clinic
) -> None:
    sunday = dt.date(2026, 12, 6)
    desk = make_user(roles.FRONT_DESK, username="desk")
    event = read(desk, PatientFactory(clinic=ny), at(ny, sunday, 11))
    anomalies.compute_hints(ny, sunday)
    assert [h.event_ids for h in hints(AnomalyHint.Rule.OFF_HOURS)] == [[event.pk]]


@pytest.mark.parametrize(("day", "hours"), [(dt.date(2026, 3, 8), 23), (dt.date(2026, 11, 1), 25)])
def test_the_local_day_is_23_or_25_hours_on_dst_days(
    make_user: Callable[..., User], ny: Clinic, day: dt.date, hours: int
) -> None:
    start, end = anomalies.day_bounds(ny, day)
    assert end - start == dt.timedelta(hours=hours)
    desk = make_user(roles.FRONT_DESK, username="desk")
    patient = PatientFactory(clinic=ny)
    last_minute = read(desk, patient, end - dt.timedelta(minutes=1))
    read(desk, patient, end)  # the next local day
    read(desk, patient, start - dt.timedelta(minutes=1))  # the day before
    anomalies.compute_hints(ny, day)
    [hint] = hints(AnomalyHint.Rule.OFF_HOURS)
    assert hint.event_ids == [last_minute.pk]


def test_computing_a_day_twice_adds_nothing(ny: Clinic, nurse: User) -> None:
    read(nurse, PatientFactory(clinic=ny, last_name="Okafor"), at(ny, DAY, 23))
    first = anomalies.compute_hints(ny, DAY)
    assert {h.rule for h in first} == {"surname", "off_hours"}
    assert anomalies.compute_hints(ny, DAY) == []
    assert AnomalyHint.objects.count() == 2


def test_the_nightly_dispatch_runs_each_clinic_once_per_local_day_across_dst(ny: Clinic) -> None:
    runs: list[dt.date] = []
    tick = dt.datetime(2026, 3, 6, 0, 0, tzinfo=dt.UTC)
    while tick < dt.datetime(2026, 3, 11, tzinfo=dt.UTC):
        runs += [day for clinic_id, day in tasks.anomaly_clinics_due(tick) if clinic_id == ny.pk]
        tick += dt.timedelta(hours=1)
    assert runs == [dt.date(2026, 3, d) for d in (5, 6, 7, 8, 9)]


def test_the_officer_works_hints_from_the_inbox_and_sees_the_events(
    client: Client, make_user: Callable[..., User], ny: Clinic, nurse: User, other_clinic: Clinic
) -> None:
    relative = PatientFactory(clinic=ny, last_name="Okafor")
    event = read(nurse, relative, at(ny, DAY, 10))
    officer = make_user(roles.COMPLIANCE, username="officer")
    client.force_login(officer)
    response = client.post(reverse("compliance:hints"), {"day": DAY.isoformat()})
    assert response.status_code == 302
    hint = AnomalyHint.objects.get(rule="surname")
    inbox = client.get(reverse("compliance:hints")).content.decode()
    assert f"#{hint.pk}" in inbox
    url = reverse("compliance:hint_detail", args=[hint.pk])
    page = client.get(url).content.decode()
    assert relative.mrn in page
    assert f">{event.pk}<" in page
    assert AuditEvent.objects.filter(object_type="compliance.anomalyhint", action="view").exists()
    client.post(url, {"status": "explained", "note": "Her mother; the visit was booked"})
    hint.refresh_from_db()
    assert (hint.status, hint.reviewed_by) == ("explained", officer)
    # Another clinic's officer: 404; a manager: 403; a future day is refused by name.
    other = Client()
    other.force_login(make_user(roles.COMPLIANCE, username="o2", clinics=[other_clinic]))
    assert other.get(url).status_code == 404
    boss = Client()
    boss.force_login(make_user(roles.MANAGER, username="boss"))
    assert boss.get(reverse("compliance:hints")).status_code == 403
    future = client.post(reverse("compliance:hints"), {"day": "2999-01-01"})
    assert future.status_code == 400
    assert b"Choose today or a day before" in future.content
