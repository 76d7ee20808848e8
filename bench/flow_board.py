"""One flow-board poll with 150 visits today: server time (median, p95) and query count.

    .venv/bin/python bench/flow_board.py [--visits 150] [--runs 300]

It works in its own database, the DATABASE_URL's name plus "_bench_flow"
(clinicops_bench_flow), which it creates and migrates on the first run. Each run sets up a
fresh clinic whose "today" is now, with `--visits` visits checked in through the real
services (a third finished, the rest spread over the steps, 50 rooms) and 20 patients still
expected. Then it times the board's poll as the browser sends it (htmx, with the
X-ClinicOps-Poll header) through Django's whole request path, middleware, session, audit
and template included, in-process, so no network time is counted. Target: p95 < 30 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clinicops"
TARGET_MS = 30.0
POLL = {"HTTP_HX_REQUEST": "true", "HTTP_X_CLINICOPS_POLL": "1", "HTTP_HOST": "localhost"}


def bench_database_url(url: str, name: str | None) -> str:
    parts = urlsplit(url)
    current = parts.path.lstrip("/") or "clinicops"
    return urlunsplit(parts._replace(path="/" + (name or f"{current}_bench_flow")))


def ensure_database(url: str) -> None:
    """Create the bench database if it does not exist yet (from the server's `postgres` db)."""
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


def seed(visits: int) -> tuple[object, object]:
    """A new clinic with `visits` visits today in every step; returns (clinic, front desk)."""
    import datetime as dt

    from django.utils import timezone

    from clinicops.core import roles
    from clinicops.core.tests.factories import (
        ClinicFactory,
        PatientFactory,
        RoomFactory,
        StaffFactory,
    )
    from patientflow.models import Step
    from patientflow.services import checkin, moves
    from patientflow.tests.clock import midday_zone
    from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory

    roles.sync_roles()
    now = timezone.now()
    stamp = f"{now:%Y%m%d%H%M%S}"
    clinic = ClinicFactory(name=f"Bench Flow {stamp}", time_zone=midday_zone(now))

    def staff(role: str, name: str) -> object:
        return StaffFactory(roles=[role], clinics=[clinic], user__username=f"{name}-{stamp}")

    desk = staff(roles.FRONT_DESK, "desk").user
    nurse = staff(roles.NURSE, "nurse").user
    providers = [staff(roles.PROVIDER, f"provider{n}") for n in range(6)]
    kind = AppointmentTypeFactory(clinic=clinic, name="Visit", duration_minutes=20)
    rooms = [RoomFactory(clinic=clinic, name=f"Exam {n + 1}") for n in range(50)]
    day_start = now.astimezone(clinic.tz).replace(hour=8, minute=0, second=0, microsecond=0)

    def appointment(n: int) -> object:
        return AppointmentFactory(
            clinic=clinic,
            patient=PatientFactory(clinic=clinic),
            provider=providers[n % len(providers)],
            appointment_type=kind,
            start=day_start + dt.timedelta(minutes=5 * n),
            is_overbook=True,
            overbook_reason="bench",
        )

    room_iter = iter(rooms)
    finished = visits // 3
    for n in range(visits):
        arrived = now - dt.timedelta(minutes=90 - (n % 80))
        visit = checkin.check_in(actor=desk, appointment=appointment(n), now=arrived)
        if n < finished:
            target = (Step.LEFT_WITHOUT_BEING_SEEN,)
        else:
            target = [
                (),
                (Step.ROOMED,),
                (Step.ROOMED, Step.WITH_PROVIDER),
                (Step.ROOMED, Step.WITH_PROVIDER, Step.READY_FOR_CHECKOUT),
            ][n % 4]
        moment = arrived
        for step in target:
            moment += dt.timedelta(minutes=7)
            room = next(room_iter, None) if step == Step.ROOMED else None
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
    for n in range(visits, visits + 20):
        appointment(n)
    return clinic, desk


def time_requests(
    client: object, url: str, runs: int, headers: dict[str, str]
) -> tuple[list[float], list[float]]:
    """Wall-clock and this thread's CPU milliseconds of `runs` requests (after a warm-up).

    The CPU figure leaves out the time spent waiting for Postgres and for other processes;
    next to the wall clock it shows how much a busy machine adds.
    """
    for _ in range(20):  # warm the connection, the template cache and the audit cache
        client.get(url, **headers)  # type: ignore[attr-defined]
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.thread_time()
        response = client.get(url, **headers)  # type: ignore[attr-defined]
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    return wall, cpu


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=150)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--database", help="database name (default: DATABASE_URL's + _bench_flow)")
    args = parser.parse_args()

    url = bench_database_url(os.environ.get("DATABASE_URL", DEFAULT_URL), args.database)
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")

    import django

    django.setup()
    from django.conf import settings

    # Time what production runs: no template debug information, no query log. (DEBUG is
    # turned off only now, so the development defaults it chose at import stay: no HTTPS
    # redirect, plain static files, localhost allowed.)
    settings.DEBUG = False
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    print(f"database {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    _, desk = seed(args.visits)
    print(f"seeded {args.visits} visits in {time.monotonic() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    client = Client()
    client.force_login(desk)
    rows = {}
    for label, path, headers in (
        ("flow board poll (htmx fragment)", "/flow/", POLL),
        ("flow board, grouped by provider", "/flow/?group=provider&sort=waiting", POLL),
        ("flow board, full page", "/flow/", {"HTTP_HOST": "localhost"}),
        ("room board poll", "/flow/rooms/", POLL),
    ):
        wall, cpu = time_requests(client, path, args.runs, headers)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path, **headers)
        rows[label] = (
            statistics.median(wall),
            p95(wall),
            statistics.median(cpu),
            len(queries.captured_queries),
            response.content.decode().count('class="flow-row'),
        )

    print()
    print(
        f"Flow board, {args.visits} visits today at one clinic, {args.runs} requests each "
        f"(server time in-process; target p95 < {TARGET_MS:.0f} ms for one poll)"
    )
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average {load} on {os.cpu_count()} CPUs at the end)")
    print()
    print("| request | median ms | p95 ms | median CPU ms | queries | board rows |")
    print("|---|--:|--:|--:|--:|--:|")
    for label, (median, high, cpu_ms, count, shown) in rows.items():
        print(f"| {label} | {median:.2f} | {high:.2f} | {cpu_ms:.2f} | {count} | {shown} |")
    poll_p95 = rows["flow board poll (htmx fragment)"][1]
    return 0 if poll_p95 < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
