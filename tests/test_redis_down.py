"""Redis down: every page still answers (slower), nobody is logged out, the lockout still counts.

The cache is pointed at a closed port, as a stopped Redis looks to the app: each cache call
fails to connect. Sessions and failed-login attempts live in Postgres, so they keep working;
the boards' "already audited" memory falls back to auditing again.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from clinicops.audit.models import AuditEvent
from clinicops.core import roles, softcache
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import DEMO_PASSWORD, PatientFactory, StaffFactory
from patientflow.models import Visit
from patientflow.tests.clock import midday_zone
from scheduling.models import Appointment
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)
from supplies.tests.factories import LocationItemFactory, StockLocationFactory, SupplyItemFactory

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released, so connecting is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redis_down(settings: pytest.FixtureRequest) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": settings.CACHES["default"]["OPTIONS"],
        }
    }
    with pytest.raises(RedisConnectionError):
        cache.get("probe")  # the premise: the cache really is unreachable


@pytest.fixture
def midday_clinic(clinic: Clinic) -> Clinic:
    clinic.time_zone = midday_zone()
    clinic.save(update_fields=["time_zone"])
    return clinic


@pytest.fixture
def appointment_now(midday_clinic: Clinic) -> Appointment:
    provider = StaffFactory(roles=[roles.PROVIDER], clinics=[midday_clinic])
    template = ScheduleTemplateFactory(
        clinic=midday_clinic,
        provider=provider,
        effective_from=midday_clinic.today() - dt.timedelta(days=7),
    )
    for weekday in range(7):
        TemplateBlockFactory(
            template=template, weekday=weekday, start_time=dt.time(8), end_time=dt.time(18)
        )
    visit_type = AppointmentTypeFactory(clinic=midday_clinic, duration_minutes=20)
    now = timezone.now().astimezone(midday_clinic.tz)
    start = now.replace(minute=now.minute - now.minute % 20, second=0, microsecond=0)
    return AppointmentFactory(
        clinic=midday_clinic,
        patient=PatientFactory(clinic=midday_clinic, last_name="Quimby"),
        provider=provider,
        appointment_type=visit_type,
        start=start,
    )


def test_the_main_pages_work_with_redis_down(
    client: Client,
    make_user,
    midday_clinic: Clinic,
    appointment_now: Appointment,
    redis_down: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    front_desk = make_user(roles.FRONT_DESK, username="frontdesk")
    nurse = make_user(roles.NURSE, username="nurse")
    manager = make_user(roles.MANAGER, username="manager")
    cart = StockLocationFactory(clinic=midday_clinic, name="Exam 2")
    LocationItemFactory(location=cart, item=SupplyItemFactory(name="Gauze sponge"))

    # A real login (the session is written to the database, not Redis).
    response = client.post("/login/", {"username": front_desk.username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    day = midday_clinic.today().isoformat()
    for url in ("/patients/?q=quim", f"/scheduling/day/?date={day}", "/flow/"):
        assert client.get(url).status_code == 200, url

    # Check-in redirects to the flow board, which audits what it shows.
    with caplog.at_level(logging.WARNING, logger="clinicops.core.softcache"):
        response = client.post(f"/flow/check-in/{appointment_now.pk}/", {}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [("/flow/", 302)]
    assert "is checked in" in response.content.decode()
    assert Visit.objects.filter(appointment=appointment_now).exists()
    assert any("Cache unreachable" in r.getMessage() for r in caplog.records)
    # Without the cache's memory a poll audits again: more rows, never a missing one.
    polls_before = AuditEvent.objects.filter(object_type="patientflow.flow_board").count()
    poll = client.get("/flow/", headers={"HX-Request": "true", "X-ClinicOps-Poll": "1"})
    assert poll.status_code == 200
    polls_after = AuditEvent.objects.filter(object_type="patientflow.flow_board").count()
    assert polls_after == polls_before + 1
    assert client.get("/flow/rooms/").status_code == 200

    client.force_login(nurse)
    assert client.get(f"/supplies/use/{cart.pk}/").status_code == 200
    client.force_login(manager)
    assert client.get("/kpis/").status_code == 200


def test_login_lockout_still_counts_with_redis_down(
    client: Client, make_user, redis_down: None
) -> None:
    user: User = make_user(roles.FRONT_DESK, username="frontdesk")
    for _ in range(5):
        client.post("/login/", {"username": user.username, "password": "wrong password"})
    assert AccessAttempt.objects.filter(username=user.username).get().failures_since_start == 5
    response = client.post("/login/", {"username": user.username, "password": DEMO_PASSWORD})
    assert response.status_code == 429  # locked out, from the database, not the cache


class FailingCache:
    """A cache whose every call raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get(self, *args: object, **kwargs: object) -> None:
        raise self.error

    def set(self, *args: object, **kwargs: object) -> None:
        raise self.error


def test_the_soft_cache_swallows_only_an_unreachable_redis(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    refused = RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    monkeypatch.setattr(softcache, "cache", FailingCache(refused))
    with caplog.at_level(logging.WARNING, logger="clinicops.core.softcache"):
        assert softcache.get("k", "fallback") == "fallback"
        assert softcache.set("k", "v", timeout=5) is False
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]

    bug = ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
    monkeypatch.setattr(softcache, "cache", FailingCache(bug))
    with pytest.raises(ResponseError):
        softcache.get("k")
    with pytest.raises(ResponseError):
        softcache.set("k", "v", timeout=5)
