"""The demo's past weeks have visits, walked through the real services at their own times, so
the KPI history shows door-to-provider and cycle time (issue 11.8)."""

from __future__ import annotations

import random
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from clinicops.core.models import Clinic
from clinicops.kpis import selectors
from clinicops.kpis import services as kpi_services
from patientflow import kpis
from patientflow.management.commands.seed_flow import seed_history
from patientflow.models import Step, Visit, VisitEvent
from scheduling.availability import day_bounds_utc
from scheduling.models import Appointment

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic() -> Clinic:
    call_command("seed_demo", patients=200, core_only=True, verbosity=0, stdout=StringIO())
    call_command("seed_scheduling", stdout=StringIO())
    return Clinic.objects.order_by("pk").first()


def test_past_weeks_get_visits_through_the_flow_and_the_kpis_have_figures(clinic: Clinic) -> None:
    today = clinic.today()
    completed_before = Appointment.objects.filter(
        clinic=clinic, status=Appointment.Status.COMPLETED
    ).count()

    summary = seed_history(clinic, random.Random(1), weeks=2, per_day=4)

    past = Visit.objects.filter(
        clinic=clinic, checked_in_at__lt=day_bounds_utc(today, clinic.tz)[0]
    )
    assert past.count() >= 20, summary
    # every visit happened on its appointment's day, at that day's times, and left
    for visit in past.select_related("appointment"):
        day = visit.appointment.start.astimezone(clinic.tz).date()
        assert visit.checked_in_at.astimezone(clinic.tz).date() == day
        assert today - timedelta(days=14) <= day < today
    assert past.filter(step=Step.CHECKED_OUT).count() >= 0.8 * past.count()
    assert VisitEvent.objects.filter(visit__in=past, to_step=Step.WITH_PROVIDER).exists()
    # checkout completed the appointments again: no past appointment left booked
    assert (
        Appointment.objects.filter(clinic=clinic, status=Appointment.Status.COMPLETED).count()
        >= completed_before - past.exclude(step=Step.CHECKED_OUT).count()
    )
    assert not Appointment.objects.filter(
        clinic=clinic,
        start__lt=day_bounds_utc(today, clinic.tz)[0],
        status__in=(Appointment.Status.BOOKED, Appointment.Status.CONFIRMED),
    ).exists()

    # the KPI rollup of those weeks has door-to-provider and cycle-time figures
    days = [today - timedelta(days=n) for n in range(1, 15)]
    assert any(kpis.door_to_provider_minutes(clinic, day) for day in days)
    kpi_services.rollup_clinic_days(clinic=clinic, days=days)
    week = selectors.week_start(today) - timedelta(weeks=1)
    figures = selectors.figures(
        clinic=clinic,
        keys=["door_to_provider_min", "cycle_time_min"],
        start=week,
        end=week + timedelta(days=6),
    )
    assert all(figure.value is not None for figure in figures.values())

    # a second run adds nothing
    visits = Visit.objects.count()
    seed_history(clinic, random.Random(1), weeks=2, per_day=4)
    assert Visit.objects.count() == visits
