"""Every main page costs the same queries with N or 3N rows, and at most 15 (issue 18).

One test per page: it fills the page with N rows, counts the queries of one request (after a
first request warmed the per-clinic audit and caches), adds 2N more rows, and counts again.
bench/pages.py times the same pages against a bare page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, Staff, User
from clinicops.core.tests.factories import (
    ClinicFactory,
    CoverageFactory,
    PatientFactory,
    RoomFactory,
    StaffFactory,
)
from patientflow.models import Step
from patientflow.services import checkin, moves
from patientflow.tests.clock import midday_zone
from scheduling.models import Appointment, AppointmentType
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory
from supplies.services import orders
from supplies.tests.factories import LocationItemFactory, StockLocationFactory

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15  # issue 18's budget for any main page
# What each page costs now (bench/pages.py, docs/benchmarks.md): a new query on one of them is
# a decision, not an accident. The first three of every page are the session, the user, and
# the user's clinics with their permissions and roles.
BUDGET = {
    "day view": 5,  # the appointments and the open waitlist offers in one statement; audit
    "find a slot": 3,
    "patient search": 5,
    "patient page": 6,
    "check-in": 6,  # the visit and the patient's balance (issue 14) read with the appointment
    "flow board": 5,  # visits, arrivals and free rooms in one UNION ALL; the audit entry
    "flow board poll": 4,
    "supply tablet": 4,  # the location, tiles, last logs and patients in rooms in one query
    "log": 7,  # 5, and the savepoint pair the test's own transaction puts around the log
    "dashboard": 5,
}
N = 4
HTMX = {"HX-Request": "true"}
POLL = {"HX-Request": "true", "X-ClinicOps-Poll": "1"}
LAST: list[str] = []  # the SQL of the last request counted, for a failure's message


@pytest.fixture
def place(db: None) -> dict[str, Any]:
    """A clinic where it is the middle of the working day, with its people."""
    clinic = ClinicFactory(name="Queries Clinic", time_zone=midday_zone())

    def staff(role: str, name: str) -> User:
        return StaffFactory(roles=[role], clinics=[clinic], user__username=name).user

    providers = [
        StaffFactory(roles=[roles.PROVIDER], clinics=[clinic], user__username=f"dr{n}")
        for n in range(2)
    ]
    return {
        "clinic": clinic,
        "desk": staff(roles.FRONT_DESK, "desk"),
        "nurse": staff(roles.NURSE, "nurse"),
        "manager": staff(roles.MANAGER, "boss"),
        "providers": providers,
        "kind": AppointmentTypeFactory(clinic=clinic, name="Visit", duration_minutes=15),
    }


def book(place: dict[str, Any], count: int, *, patient: Patient | None = None) -> list[Appointment]:
    clinic: Clinic = place["clinic"]
    kind: AppointmentType = place["kind"]
    providers: list[Staff] = place["providers"]
    start = timezone.now().astimezone(clinic.tz).replace(hour=8, minute=0, second=0, microsecond=0)
    already = Appointment.objects.filter(clinic=clinic).count()
    return [
        AppointmentFactory(
            clinic=clinic,
            patient=patient or PatientFactory(clinic=clinic),
            provider=providers[n % len(providers)],
            appointment_type=kind,
            start=start + dt.timedelta(minutes=5 * n),
            is_overbook=True,
            overbook_reason="query test",
        )
        for n in range(already, already + count)
    ]


def count_queries(client: Client, url: str, headers: dict[str, str] | None = None) -> int:
    """The queries of one request with the caches warm. The fewest of three: the reference
    cache's version is shared through Redis, and a test in another xdist worker that saves a
    user or a clinic replaces it between two requests of this one."""
    client.get(url, headers=headers or {})
    counts = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, headers=headers or {})
        assert response.status_code == 200, url
        counts.append(len(captured.captured_queries))
        LAST[:] = [q["sql"][:120] for q in captured.captured_queries]
    return min(counts)


def assert_constant(
    client: Client,
    url: str,
    add: Callable[[int], Any],
    headers: dict[str, str] | None = None,
    *,
    page: str,
) -> None:
    add(N)
    small = count_queries(client, url, headers)
    add(2 * N)
    large = count_queries(client, url, headers)
    assert large == small, f"{url}: {small} queries with {N} rows, {large} with {3 * N}"
    assert large <= min(BUDGET[page], MAX_QUERIES), f"{url}: {large} queries: {LAST}"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_day_view(place: dict[str, Any]) -> None:
    def add(n: int) -> None:
        # Booked ones on the grid, and cancelled ones listed under it (reason, late or not).
        book(place, n)
        for appointment in book(place, n):
            appointment.status = Appointment.Status.CANCELLED
            appointment.cancel_reason = Appointment.CancelReason.PATIENT_REQUEST
            appointment.late_cancel = True
            appointment.save()

    client = logged_in(place["desk"])
    assert_constant(client, "/scheduling/day/", add, page="day view")
    html = client.get("/scheduling/day/").content.decode()
    assert f"Cancelled on this day ({3 * N})" in html
    assert "Patient request" in html


def test_find_a_slot(place: dict[str, Any]) -> None:
    assert_constant(
        logged_in(place["desk"]), "/scheduling/find/", lambda n: book(place, n), page="find a slot"
    )


def test_patient_search(place: dict[str, Any]) -> None:
    def add(n: int) -> None:
        for _ in range(n):
            PatientFactory(clinic=place["clinic"], last_name="Adams")

    assert_constant(logged_in(place["desk"]), "/patients/?q=ada", add, page="patient search")


def test_patient_page(place: dict[str, Any]) -> None:
    patient = PatientFactory(clinic=place["clinic"])
    CoverageFactory(patient=patient)

    def add(n: int) -> None:
        book(place, n, patient=patient)

    assert_constant(logged_in(place["desk"]), f"/patients/{patient.pk}/", add, page="patient page")


def test_check_in_page(place: dict[str, Any]) -> None:
    patient = PatientFactory(clinic=place["clinic"])
    CoverageFactory(patient=patient)
    (appointment,) = book(place, 1, patient=patient)
    assert_constant(
        logged_in(place["desk"]),
        f"/flow/check-in/{appointment.pk}/",
        lambda n: book(place, n),
        page="check-in",
    )


def _check_in_some(place: dict[str, Any]) -> Callable[[int], None]:
    rooms = iter([RoomFactory(clinic=place["clinic"], name=f"Exam {n}") for n in range(40)])

    def add(n: int) -> None:
        for k, appointment in enumerate(book(place, n)):
            visit = checkin.check_in(actor=place["desk"], appointment=appointment)
            if k % 2:
                moves.move_visit(
                    actor=place["nurse"],
                    visit=visit,
                    to_step=Step.ROOMED,
                    expected_step=visit.step,
                    room=next(rooms),
                )
        book(place, 1)  # one still expected

    return add


def test_flow_board_full_page(place: dict[str, Any]) -> None:
    assert_constant(logged_in(place["desk"]), "/flow/", _check_in_some(place), page="flow board")


def test_flow_board_poll(place: dict[str, Any]) -> None:
    assert_constant(
        logged_in(place["desk"]), "/flow/", _check_in_some(place), POLL, page="flow board poll"
    )


def _stock_items(place: dict[str, Any], location: Any) -> Callable[[int], list[Any]]:
    def add(n: int) -> list[Any]:
        items = [LocationItemFactory(location=location) for _ in range(n)]
        for li in items:
            orders.receive_stock(
                actor=place["manager"], location_item=li, quantity=50, reason="opening"
            )
        return items

    return add


def test_supply_tablet(place: dict[str, Any]) -> None:
    location = StockLocationFactory(clinic=place["clinic"], name="Cart 1")
    assert_constant(
        logged_in(place["nurse"]),
        f"/supplies/use/{location.pk}/",
        _stock_items(place, location),
        page="supply tablet",
    )


def test_log_post(place: dict[str, Any]) -> None:
    location = StockLocationFactory(clinic=place["clinic"], name="Cart 1")
    add = _stock_items(place, location)
    client = logged_in(place["nurse"])
    url = f"/supplies/use/{location.pk}/"

    def log_queries() -> int:
        first = location.items.order_by("pk").first()
        data = {"idempotency_key": uuid.uuid4().hex, f"qty_{first.pk}": "1", "action": "log"}
        with CaptureQueriesContext(connection) as captured:
            response = client.post(url, data, headers=HTMX)
        assert response.status_code == 200
        assert "Logged at Cart 1" in response.content.decode()
        return len(captured.captured_queries)

    add(N)
    log_queries()
    small = log_queries()
    add(2 * N)
    large = log_queries()
    assert large == small
    assert large <= min(BUDGET["log"], MAX_QUERIES)


def test_manager_dashboard(place: dict[str, Any]) -> None:
    assert_constant(
        logged_in(place["manager"]), "/kpis/", lambda n: book(place, n), page="dashboard"
    )
