"""Every registered metric drills down to its records, on screen and as CSV, scoped and audited
(issue 11.6). Each app's tests check that the rows are the figure's parts (test_kpi_drilldowns)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

import pytest
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.kpis import registry, services
from scheduling.models import Appointment
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 3, 2)
KEYS = sorted(m.key for m in registry.all_metrics())


def test_every_registered_metric_has_a_drilldown() -> None:
    assert KEYS, "no metrics registered"
    assert [m.key for m in registry.all_metrics() if not m.has_drilldown] == []


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager")


@pytest.mark.parametrize("key", KEYS)
def test_each_drilldown_opens_exports_and_is_audited(
    client: Client, manager: User, clinic: Clinic, other_clinic: Clinic, key: str
) -> None:
    appointment = AppointmentFactory(
        clinic=clinic,
        start=datetime.combine(MONDAY, time(9), tzinfo=clinic.tz),
        status=Appointment.Status.NO_SHOW,
    )
    services.rollup_clinic_days(clinic=clinic, days=[MONDAY + timedelta(days=i) for i in range(7)])
    client.force_login(manager)
    base = f"/kpis/{clinic.pk}/drill/{key}/"

    page = client.get(f"{base}?week={MONDAY:%Y-%m-%d}")
    export = client.get(f"{base}export.csv?week={MONDAY:%Y-%m-%d}")

    assert page.status_code == 200
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0] == list(registry.get(key).drill(clinic, MONDAY, MONDAY + timedelta(6)).columns)
    assert AuditEvent.objects.filter(object_type="kpis.drilldown", object_id=key).count() >= 2
    if key == "no_show_rate":
        assert appointment.patient.mrn in page.content.decode()
    # another clinic's drill-down is not found for this manager
    assert client.get(f"/kpis/{other_clinic.pk}/drill/{key}/").status_code == 404
