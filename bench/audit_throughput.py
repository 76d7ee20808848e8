"""Audited patient-page reads per second at 1, 10 and 50 concurrent users, against a floor.

    .venv/bin/python bench/audit_throughput.py [--users 1,10,50] [--seconds 6] [--patients 2000]

It works in its own database (DATABASE_URL's name plus "_bench_audit"), which it creates,
migrates and seeds with `seed_demo --core-only` on the first run. Each "user" is a thread with
its own database connection and its own signed-in Django test client (the whole stack:
middleware, session, clinic scoping, the view, the template), opening random patient pages of
its clinic (`core:patient_detail`, which records a VIEW event) as fast as it can.

For each number of users it runs, in the same run and in turn:

- **floor**: recording switched off (`audit.record` replaced by a no-op): the page without
  the audit trail;
- **audited**: the trail as it is (an unsealed insert per page, no lock), with the sealer
  running every second in its own thread, as the Celery beat would;
- **locked**: the design before the sealer, emulated (the insert behind
  `pg_advisory_xact_lock`, held to commit), for comparison.

It prints reads per second and audited / floor, and exits non-zero when audited is below 80 %
of the floor at 10 or more users. On this shared 2-core machine the floor is bound by Python
(the GIL) and the CPU the other users leave; the ratio is the figure that carries over.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clinicops"
TARGET_RATIO = 0.80


def bench_database_url(url: str, name: str | None) -> str:
    parts = urlsplit(url)
    current = parts.path.lstrip("/") or "clinicops"
    return urlunsplit(parts._replace(path="/" + (name or f"{current}_bench_audit")))


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1,10,50", help="comma-separated concurrency levels")
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per run")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--database", help="database name (default: DATABASE_URL's + _bench_audit)")
    args = parser.parse_args()
    levels = [int(n) for n in args.users.split(",") if n.strip()]

    url = bench_database_url(os.environ.get("DATABASE_URL", DEFAULT_URL), args.database)
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    # The test client's host, and no debug toolbar-like overhead in the numbers.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    print(f"database {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    call_command("seed_demo", patients=args.patients, core_only=True, verbosity=0)
    connection.close()

    rows = []
    for users in levels:
        floor = run(users, args.seconds, mode="off")
        audited = run(users, args.seconds, mode="audited")
        locked = run(users, args.seconds, mode="locked")
        rows.append((users, floor, audited, locked))
        print(
            f"  {users:>3} users: floor {floor:7.1f}/s  audited {audited:7.1f}/s "
            f"({audited / floor:.0%})  old lock {locked:7.1f}/s ({locked / floor:.0%})",
            flush=True,
        )
    check_chain()

    print()
    print("| users | floor (recording off) | audited (sealer) | audited / floor | old lock |")
    print("|---:|---:|---:|---:|---:|")
    for users, floor, audited, locked in rows:
        print(
            f"| {users} | {floor:.0f}/s | {audited:.0f}/s | {audited / floor:.0%} | "
            f"{locked:.0f}/s ({locked / floor:.0%}) |"
        )
    failed = [u for u, floor, audited, _ in rows if u >= 10 and audited < TARGET_RATIO * floor]
    if failed:
        print(f"audited below {TARGET_RATIO:.0%} of the floor at {failed} users")
    return 1 if failed else 0


def _patched_record(mode: str) -> Callable[..., Any] | None:
    from django.db import connection, transaction

    from clinicops.audit import audit
    from clinicops.audit.models import AuditEvent

    real = audit.record
    if mode == "off":
        return lambda **kwargs: None
    if mode == "locked":

        def locked(**kwargs: Any) -> Any:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x6175646974])
                # the old design read the head under the lock before inserting
                AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values(
                    "seq", "hash"
                ).first()
                return real(**kwargs)

        return locked
    return None


def run(users: int, seconds: float, *, mode: str) -> float:
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from clinicops.audit import audit, sealer
    from clinicops.core.models import Patient, User

    user = User.objects.get(username="frontdesk")
    client = Client()
    client.force_login(user)
    client.get(reverse("core:patient_search"))  # picks the clinic into the session
    ids = list(Patient.objects.for_user(user).values_list("pk", flat=True)[:5000])
    cookies = client.cookies
    connection.close()

    real = audit.record
    patch = _patched_record(mode)
    if patch is not None:
        audit.record = patch
    stop = threading.Event()
    start_line = threading.Barrier(users + 1, timeout=120)
    counts = [0] * users
    errors: list[BaseException] = []

    def reader(n: int) -> None:
        rng = random.Random(n)
        mine = Client()
        mine.cookies = cookies
        try:
            for pk in rng.sample(ids, 3):  # warm the connection
                mine.get(reverse("core:patient_detail", args=[pk]))
            start_line.wait()
            while not stop.is_set():
                response = mine.get(reverse("core:patient_detail", args=[rng.choice(ids)]))
                if response.status_code != 200:
                    raise RuntimeError(f"patient page answered {response.status_code}")
                counts[n] += 1
        except BaseException as exc:
            errors.append(exc)
            stop.set()
        finally:
            connection.close()

    def seal_every_second() -> None:
        try:
            while not stop.wait(1.0):
                sealer.seal_pending()
        finally:
            connection.close()

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(users)]
    if mode == "audited":
        threads.append(threading.Thread(target=seal_every_second))
    try:
        for thread in threads:
            thread.start()
        start_line.wait()
        before = sum(counts)
        started = time.perf_counter()
        time.sleep(seconds)
        done = sum(counts) - before
        elapsed = time.perf_counter() - started
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        audit.record = real
    if errors:
        raise errors[0]
    return done / elapsed


def check_chain() -> None:
    from clinicops.audit import audit, sealer

    sealed = sealer.seal_pending()
    result = audit.verify_chain()
    state = "intact" if result.broken is None else f"BROKEN: {result.broken.describe()}"
    print(f"chain after the runs: {result.checked} events, {state} (sealed {sealed.sealed} at end)")


if __name__ == "__main__":
    sys.exit(main())
