"""The nightly tasks: dispatched per clinic at its local night, idempotent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from django.conf import settings

from clinicops.core.models import Clinic
from clinicops.core.tests.factories import ClinicFactory
from supplies import tasks
from supplies.models import (
    ExpiryAlert,
    LocationItem,
    ReorderSuggestion,
    StockLocation,
)
from supplies.tests.factories import LocationItemFactory

pytestmark = pytest.mark.django_db

Stock = Callable[..., LocationItem]


def test_beat_runs_the_dispatcher_hourly() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["supplies-nightly-dispatch"]
    assert entry["task"] == "supplies.tasks.dispatch_nightly"
    assert tasks.dispatch_nightly.name == "supplies.tasks.dispatch_nightly"


def test_each_clinic_is_due_at_its_own_local_night(clinic: Clinic) -> None:
    west = ClinicFactory(name="West", time_zone="America/Los_Angeles")
    now = datetime(2026, 1, 15, 7, 0, tzinfo=UTC)  # 02:00 in New York, 23:00 in Los Angeles

    assert tasks.clinics_due(now, 2) == [(clinic.pk, date(2026, 1, 14))]
    assert tasks.clinics_due(datetime(2026, 1, 15, 10, 0, tzinfo=UTC), 2) == [
        (west.pk, date(2026, 1, 14))
    ]


def test_the_dispatcher_enqueues_due_clinics(
    monkeypatch: pytest.MonkeyPatch, clinic: Clinic
) -> None:
    sent = []
    monkeypatch.setattr(tasks.run_nightly, "delay", lambda *args: sent.append(args))
    monkeypatch.setattr(tasks, "clinics_due", lambda now, hour: [(clinic.pk, date(2026, 1, 14))])

    assert tasks.dispatch_nightly() == 1
    assert sent == [(clinic.pk, "2026-01-14")]


def test_the_nightly_run_is_idempotent(
    clinic: Clinic, supply_room: StockLocation, cart: StockLocation, stock: Stock
) -> None:
    LocationItemFactory(location=supply_room, par=50, reorder_point=10, max_quantity=100)
    li = LocationItemFactory(location=cart, item__is_lot_tracked=True)
    stock(li, 3, lot_number="OLD", expiry=date(2026, 1, 1))

    first = tasks.run_nightly(clinic.pk, "2026-01-14")
    second = tasks.run_nightly(clinic.pk, "2026-01-14")

    assert first == {"reorder_suggestions": 1, "expiry_alerts": 1}
    assert second == {"reorder_suggestions": 1, "expiry_alerts": 0}
    assert ReorderSuggestion.objects.count() == 1
    assert ExpiryAlert.objects.get().window == ExpiryAlert.Window.EXPIRED


def test_an_unknown_or_closed_clinic_is_skipped(clinic: Clinic) -> None:
    clinic.is_active = False
    clinic.save()
    assert tasks.run_nightly(clinic.pk, "2026-01-14") == {}
    assert tasks.run_nightly(987654, "2026-01-14") == {}
