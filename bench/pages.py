"""Every main page of the front desk, the nurse and the manager against a bare page, in one run.

    .venv/bin/python bench/pages.py [--runs 100] [--patients 3000]

It works in its own database, the DATABASE_URL's name plus "_bench_pages"
(clinicops_bench_pages), which it creates, migrates and fills with `manage.py seed_demo` on
the first run (a second run reuses the demo and only tops up today's schedule). Each page is
requested through Django's whole request path (every middleware, the session, login,
current clinic, audit, template) in-process with the test client, so no network time is
counted, as the demo user who uses it:

- front desk (`frontdesk`, Riverside): day view, find-a-slot, patient search (a last-name
  prefix), a patient's page, the check-in page of an appointment due today, the flow board
  (full page and its htmx poll);
- nurse (`nurse`): the supply tablet (GET) and its "Log" POST as htmx sends it;
- manager (`manager`): the dashboard.

The floor is `/bench/floor/` (bench/support/floor_urls.py): a view that does nothing, behind
the same middleware and login, measured in the same run, interleaved with the pages so a
busier moment of a shared machine weighs on both. It prints, per page, the median and p95 in
milliseconds, the ratio of the median to the floor's median, the median process CPU time
(`time.process_time`: this process's Python only, not Postgres's or Redis's work) and its ratio
to the floor's, the number of queries, and the size of the answer. The wall ratio follows the
machine's load (on a quiet machine it follows CPU, under load the round trips' waits); the CPU
ratio barely moves with it. Target (issue 18): every page at most 3x the floor at the median and at
most 15 queries. Exit status 1 when a page misses the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clinicops"
TARGET_RATIO = 3.0
TARGET_QUERIES = 15
HOST = {"HTTP_HOST": "localhost"}
HTMX = {**HOST, "HTTP_HX_REQUEST": "true"}
POLL = {**HTMX, "HTTP_X_CLINICOPS_POLL": "1"}


def bench_database_url(url: str, name: str | None) -> str:
    parts = urlsplit(url)
    current = parts.path.lstrip("/") or "clinicops"
    return urlunsplit(parts._replace(path="/" + (name or f"{current}_bench_pages")))


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            print(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


class Page:
    """One request to time: who sends it, and how (a GET, or a POST built fresh each time)."""

    def __init__(
        self,
        label: str,
        client: Any,
        path: str,
        headers: dict[str, str],
        *,
        post: Callable[[], dict[str, str]] | None = None,
        rows: str = "",
    ) -> None:
        self.label, self.client, self.path, self.headers = label, client, path, headers
        self.post, self.rows = post, rows
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.queries = 0
        self.size = 0
        self.shown = 0

    def request(self) -> Any:
        if self.post is not None:
            return self.client.post(self.path, self.post(), **self.headers)
        return self.client.get(self.path, **self.headers)

    def once(self) -> None:
        start, start_cpu = time.perf_counter(), time.process_time()
        response = self.request()
        self.cpu.append((time.process_time() - start_cpu) * 1000)
        self.wall.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{self.label}: {self.path} answered {response.status_code}")


def book_today(clinic: Any, desk: Any, nurse: Any, count: int) -> None:
    """Top today's schedule up to `count` appointments, two thirds of them checked in and
    spread over the flow's steps (through the real services), as a busy Monday would have."""
    import datetime as dt

    from django.utils import timezone

    from clinicops.core import roles
    from clinicops.core.models import Patient, Room, Staff
    from patientflow.models import Step
    from patientflow.services import checkin, moves
    from scheduling.models import Appointment, AppointmentType
    from scheduling.tests.factories import AppointmentFactory

    now = timezone.now()
    today = clinic.today()
    booked = Appointment.objects.filter(clinic=clinic, start__date=today).count()
    if booked >= count:
        return
    providers = list(
        Staff.objects.filter(clinics=clinic, user__groups__name=roles.PROVIDER).order_by("pk")
    )
    kind = AppointmentType.objects.filter(clinic=clinic, is_active=True).order_by("pk").first()
    patients = list(Patient.objects.filter(clinic=clinic).order_by("-pk")[booked:count])
    rooms = iter(Room.objects.filter(clinic=clinic).order_by("pk"))
    start = now.astimezone(clinic.tz).replace(hour=8, minute=0, second=0, microsecond=0)
    for n in range(booked, count):
        appointment = AppointmentFactory(
            clinic=clinic,
            patient=patients[n - booked],
            provider=providers[n % len(providers)],
            appointment_type=kind,
            start=start + dt.timedelta(minutes=10 * (n // len(providers)) + n % 7),
            is_overbook=True,
            overbook_reason="bench",
        )
        if n % 3 == 2:
            continue  # still expected
        arrived = min(appointment.start, now - dt.timedelta(minutes=60))
        visit = checkin.check_in(actor=desk, appointment=appointment, now=arrived)
        moment = arrived
        for step in [(), (Step.ROOMED,), (Step.ROOMED, Step.WITH_PROVIDER)][n % 3]:
            moment += dt.timedelta(minutes=5)
            room = next(rooms, None) if step == Step.ROOMED else None
            if step == Step.ROOMED and room is None:
                break
            visit = moves.move_visit(
                actor=nurse,
                visit=visit,
                to_step=step,
                expected_step=visit.step,
                room=room,
                now=min(moment, now),
            )


def seed_demo_once(patients: int) -> bool:
    """`manage.py seed_demo` into an empty database; a database seeded before is reused as it
    is (seed_today moved Riverside to a zone where it is midday, and the demo's history seeder
    refuses to re-run under another zone). Returns whether it seeded."""
    from django.core.management import call_command

    from clinicops.core.models import Clinic

    if Clinic.objects.filter(name__startswith="Riverside").exists():
        return False
    call_command("seed_demo", patients=patients, verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    return True


def seed_today(today_count: int) -> dict[str, Any]:
    """The demo as the pages need it today; returns the objects the URLs name."""
    from django.contrib.auth import get_user_model

    from clinicops.core.models import Clinic, Patient
    from patientflow.models import Visit
    from patientflow.tests.clock import midday_zone
    from scheduling.models import Appointment
    from supplies.models import LocationItem, StockLocation
    from supplies.services import counts as count_services

    users = get_user_model().objects
    desk = users.get(username="frontdesk")
    nurse = users.get(username="nurse")
    manager = users.get(username="manager")
    clinic = Clinic.objects.get(name__startswith="Riverside")
    # Whenever the bench runs, it is the middle of the clinic's working day.
    clinic.time_zone = midday_zone()
    clinic.save(update_fields=["time_zone"])
    clinic = Clinic.objects.get(pk=clinic.pk)
    book_today(clinic, desk, nurse, today_count)
    today = clinic.today()
    appointments = Appointment.objects.filter(clinic=clinic, start__date=today)
    waiting = (
        appointments.filter(status="booked")
        .exclude(pk__in=Visit.objects.values("appointment_id"))
        .order_by("start")
        .first()
    )
    if waiting is None:
        raise SystemExit("no appointment left to check in today")
    patient = Patient.objects.filter(clinic=clinic, coverages__isnull=False).order_by("pk").first()
    location = StockLocation.objects.filter(clinic=clinic).order_by("pk").first()
    if patient is None or location is None:
        raise SystemExit("the demo has no patient with coverage or no supply location")
    item = LocationItem.objects.filter(location=location).select_related("item").first()
    if item is None:
        raise SystemExit("nothing stocked at the first supply location")
    # Enough on the shelf that every timed "Log" succeeds (a refused log is another path).
    count_services.quick_count(actor=manager, location_item=item, counted=100_000, reason="found")
    return {
        "desk": desk,
        "nurse": nurse,
        "manager": manager,
        "clinic": clinic,
        "appointment": waiting,
        "patient": patient,
        "location": location,
        "item": item,
        "visits_today": appointments.count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--patients", type=int, default=3000)
    parser.add_argument("--today", type=int, default=60, help="appointments today (default 60)")
    parser.add_argument(
        "--show-queries", metavar="TEXT", help="print the SQL of the pages whose label has TEXT"
    )
    parser.add_argument(
        "--profile", metavar="TEXT", help="cProfile 20 requests of the page whose label has TEXT"
    )
    parser.add_argument("--database", help="database name (default: DATABASE_URL's + _bench_pages)")
    args = parser.parse_args()

    url = bench_database_url(os.environ.get("DATABASE_URL", DEFAULT_URL), args.database)
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.support.floor_settings"
    os.environ.setdefault("DJANGO_DEBUG", "1")

    import django

    django.setup()
    from django.conf import settings

    # Time what production runs: no template debug information, no query log.
    settings.DEBUG = False
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from clinicops.core.middleware import SESSION_CLINIC

    print(f"database {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    if seed_demo_once(args.patients):
        print(f"seed_demo in {time.monotonic() - started:.1f} s")
    data = seed_today(args.today)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    def client_for(user: Any) -> Any:
        client = Client()
        client.force_login(user)
        session = client.session
        session[SESSION_CLINIC] = data["clinic"].pk
        session.save()
        return client

    desk, nurse, manager = (client_for(data[k]) for k in ("desk", "nurse", "manager"))
    location = data["location"]
    item = data["item"]

    def log_post() -> dict[str, str]:
        return {
            "idempotency_key": uuid.uuid4().hex,
            "visit": "",
            "barcode": "",
            "q": "",
            f"qty_{item.pk}": "1",
            "action": "log",
        }

    surname = data["patient"].last_name[:3]
    floor = Page("floor: bare view, same middleware and login", desk, "/bench/floor/", HOST)
    layout = Page("layout: the floor in the base layout, empty", desk, "/bench/layout/", HOST)
    pages = [
        floor,
        layout,
        Page("front desk: day view", desk, "/scheduling/day/", HOST, rows="appt"),
        Page("front desk: find a slot", desk, "/scheduling/find/", HOST),
        Page("front desk: patient search", desk, f"/patients/?q={surname}", HOST),
        Page("front desk: patient page", desk, f"/patients/{data['patient'].pk}/", HOST),
        Page("front desk: check-in", desk, f"/flow/check-in/{data['appointment'].pk}/", HOST),
        Page("flow board: full page", desk, "/flow/", HOST, rows='class="flow-row'),
        Page("flow board: htmx poll", desk, "/flow/", POLL, rows='class="flow-row'),
        Page("nurse: supply tablet", nurse, f"/supplies/use/{location.pk}/", HOST),
        Page(
            "nurse: Log (htmx POST)",
            nurse,
            f"/supplies/use/{location.pk}/",
            {**HTMX, "HTTP_HX_TARGET": "log-panel"},
            post=log_post,
        ),
        Page("manager: dashboard", manager, "/kpis/", HOST),
    ]
    for page in pages:  # warm connections, template caches, soft caches
        for _ in range(5):
            page.request()
    if args.profile:
        import cProfile
        import pstats

        page = next(p for p in pages if args.profile in p.label)
        # BENCH_CLOCK=cpu profiles in process CPU time (what the layout and the templates
        # cost, without the waits for the database that dominate a loaded machine's wall time).
        clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
        profiler = cProfile.Profile(clock)
        profiler.enable()
        for _ in range(20):
            page.request()
        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
            int(os.environ.get("BENCH_LINES", "30"))
        )
        return 0
    for _ in range(args.runs if not args.show_queries else 2):
        for page in pages:
            page.once()
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            response = page.request()
        page.queries = len(queries.captured_queries)
        if args.show_queries and args.show_queries in page.label:
            print(f"\n{page.label}:")
            for query in queries.captured_queries:
                print("  ", query["sql"][:300])
        page.size = len(response.content)

    base = statistics.median(floor.wall)
    base_cpu = statistics.median(floor.cpu)
    print()
    print(
        f"Main pages against the floor, {args.runs} requests each, interleaved; "
        f"Riverside with {data['visits_today']} appointments today "
        f"(server time in-process; target median <= {TARGET_RATIO:.0f}x the floor, "
        f"<= {TARGET_QUERIES} queries)"
    )
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average {load} on {os.cpu_count()} CPUs at the end)")
    print()
    print("| page | median ms | p95 ms | x floor | CPU ms | CPU x floor | queries | KB |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    failed = []
    for page in pages:
        median = statistics.median(page.wall)
        ratio = median / base
        cpu = statistics.median(page.cpu)
        print(
            f"| {page.label} | {median:.1f} | {p95(page.wall):.1f} | {ratio:.1f} | "
            f"{cpu:.1f} | {cpu / base_cpu:.1f} | {page.queries} | {page.size / 1024:.1f} |"
        )
        if page not in (floor, layout) and (ratio > TARGET_RATIO or page.queries > TARGET_QUERIES):
            failed.append(page.label)
    if failed:
        print(f"\nOver target: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
