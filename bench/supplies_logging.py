"""Benchmark: how fast a nurse's "log" is, and how many logs 20 nurses sustain at once.

Standalone: it creates (and by default recreates) its own database, clinicops_bench_supplies,
on the Postgres of DATABASE_URL, migrates it, seeds one clinic and times
`supplies.services.usage.log_usage` in-process (the server time of a log, without HTTP):

1. one log at a time: median and p95 milliseconds over --samples calls;
2. --threads nurses logging as fast as they can for --seconds, all on the SAME item at the
   SAME cart (the hardest case: every log locks the same row), then each at their own cart;
   logs per second, and a check that no unit was lost (on hand == start - sum of successes,
   and `check_stock_ledger` finds every on hand equal to its ledger sum).

Targets (issue 5): < 50 ms per log; >= 150 logs/s with 20 nurses and no lost update.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinicops \
        .venv/bin/python bench/supplies_logging.py [--processes]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

BENCH_DB = "clinicops_bench_supplies"
ROOT = Path(__file__).resolve().parent.parent


def prepare_database(base_url: str, *, recreate: bool) -> str:
    """Create the bench database next to the one in DATABASE_URL; return its URL."""
    import psycopg
    from psycopg import sql

    head, _, _ = base_url.rpartition("/")
    with psycopg.connect(f"{head}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and recreate:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [BENCH_DB],
            )
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(BENCH_DB)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
    return f"{head}/{BENCH_DB}"


def setup_django(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")
    os.environ["DATABASE_CONN_MAX_AGE"] = "600"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def seed(threads: int) -> dict[str, Any]:
    from clinicops.core import roles
    from clinicops.core.models import Clinic, Patient
    from clinicops.core.roles import sync_roles
    from clinicops.core.tests.factories import ClinicFactory, PatientFactory, StaffFactory
    from supplies.models import LocationItem, StockLocation, SupplyItem

    sync_roles()
    clinic = Clinic.objects.filter(name="Bench Clinic").first() or ClinicFactory(
        name="Bench Clinic"
    )
    from clinicops.core.models import Staff

    nurses = []
    for i in range(threads):
        staff = (
            Staff.objects.filter(user__username=f"bench-nurse-{i}").select_related("user").first()
        )
        staff = staff or StaffFactory(
            roles=[roles.NURSE], clinics=[clinic], user__username=f"bench-nurse-{i}"
        )
        nurses.append(staff.user)
    item, _ = SupplyItem.objects.get_or_create(
        sku="BENCH-GAUZE", defaults={"name": "Gauze 4x4", "unit_cost": "0.12", "pack_size": 100}
    )
    carts = []
    for n in range(threads + 1):
        cart, _ = StockLocation.objects.get_or_create(clinic=clinic, name=f"Exam {n + 1}")
        li, _ = LocationItem.objects.get_or_create(
            location=cart, item=item, defaults={"par": 20, "reorder_point": 5, "max_quantity": 50}
        )
        carts.append((cart, li))
    patient = Patient.objects.filter(clinic=clinic).first() or PatientFactory(clinic=clinic)
    return {"clinic": clinic, "nurses": nurses, "item": item, "carts": carts, "patient": patient}


def top_up(li: Any, actor: Any, quantity: int) -> None:
    from supplies.services import orders

    orders.receive_stock(actor=actor, location_item=li, quantity=quantity, reason="opening")


def single_latency(env: dict[str, Any], samples: int) -> dict[str, float]:
    from supplies.services import usage
    from supplies.services.usage import UsageLine

    cart, li = env["carts"][0]
    nurse = env["nurses"][0]
    top_up(li, nurse, samples * 3 + 10)
    timings: dict[str, list[float]] = {"one item": [], "one item for a patient visit (audited)": []}
    for n in range(samples):
        start = time.perf_counter()
        usage.log_usage(
            actor=nurse,
            location=cart,
            lines=[UsageLine(li.item_id, 1)],
            idempotency_key=uuid.uuid4().hex,
        )
        timings["one item"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        usage.log_usage(
            actor=nurse,
            location=cart,
            lines=[UsageLine(li.item_id, 1)],
            patient=env["patient"],
            visit=n + 1,
            idempotency_key=uuid.uuid4().hex,
        )
        timings["one item for a patient visit (audited)"].append(
            (time.perf_counter() - start) * 1000
        )
    return {
        f"{name}: {stat}": value
        for name, values in timings.items()
        for stat, value in (
            ("median ms", statistics.median(values)),
            ("p95 ms", percentile(values, 0.95)),
        )
    }


def _nurse_loop(
    env: dict[str, Any], pairs: list[Any], index: int, barrier: Any, stop: Any, results: Any
) -> None:
    """One nurse logging 1-3 units at a time until told to stop; reports what succeeded."""
    from django.db import connections

    from supplies import services
    from supplies.services import usage
    from supplies.services.usage import UsageLine

    cart, li = pairs[index]
    nurse = env["nurses"][index]
    succeeded: list[int] = []
    latencies: list[float] = []
    error = None
    try:
        barrier.wait()
        n = 0
        while not stop.is_set():
            quantity = 1 + (index + n) % 3
            t0 = time.perf_counter()
            try:
                usage.log_usage(
                    actor=nurse,
                    location=cart,
                    lines=[UsageLine(li.item_id, quantity)],
                    idempotency_key=f"{index}-{n}-{uuid.uuid4().hex[:8]}",
                )
                succeeded.append(quantity)
            except services.InsufficientStock:
                pass
            latencies.append((time.perf_counter() - t0) * 1000)
            n += 1
    except BaseException as exc:
        error = repr(exc)
    finally:
        connections.close_all()
    results.put((index, succeeded, latencies, error))


def concurrent_run(
    env: dict[str, Any], workers: int, seconds: float, *, same_row: bool, processes: bool
) -> dict[str, Any]:
    """`workers` nurses (threads, or processes like gunicorn workers) logging for `seconds`."""
    import multiprocessing
    import queue

    from django.db import connections

    from supplies.models import LocationItem

    pairs = [env["carts"][0]] * workers if same_row else env["carts"][1 : workers + 1]
    for li in {li.pk: li for _, li in pairs}.values():
        top_up(li, env["nurses"][0], 1_000_000 if same_row else 60_000)
    before = {li.pk: LocationItem.objects.get(pk=li.pk).on_hand for _, li in pairs}
    if processes:
        context = multiprocessing.get_context("fork")
        barrier, stop, results = context.Barrier(workers + 1), context.Event(), context.Queue()
        connections.close_all()  # a forked child must not share the parent's socket
        runners = [
            context.Process(target=_nurse_loop, args=(env, pairs, i, barrier, stop, results))
            for i in range(workers)
        ]
    else:
        barrier, stop, results = threading.Barrier(workers + 1), threading.Event(), queue.Queue()
        runners = [
            threading.Thread(target=_nurse_loop, args=(env, pairs, i, barrier, stop, results))
            for i in range(workers)
        ]
    for runner in runners:
        runner.start()
    barrier.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    reports = [results.get(timeout=120) for _ in runners]
    elapsed = time.perf_counter() - began
    for runner in runners:
        runner.join()
    used: dict[int, int] = {}
    logs = 0
    latencies: list[float] = []
    errors = []
    for index, succeeded, times, error in reports:
        pk = pairs[index][1].pk
        used[pk] = used.get(pk, 0) + sum(succeeded)
        logs += len(succeeded)
        latencies.extend(times)
        if error:
            errors.append(error)
    lost = {}
    for pk, start in before.items():
        now = LocationItem.objects.get(pk=pk).on_hand
        if now != start - used.get(pk, 0):
            lost[pk] = {"expected": start - used.get(pk, 0), "on hand": now}
    return {
        "logs": logs,
        "seconds": round(elapsed, 2),
        "logs/s": round(logs / elapsed, 1),
        "median ms under load": round(statistics.median(latencies), 2),
        "p95 ms under load": round(percentile(latencies, 0.95), 2),
        "errors": errors,
        "lost updates": lost,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="reuse the bench database")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="run the nurses as processes (like gunicorn workers) instead of threads",
    )
    args = parser.parse_args()

    url = prepare_database(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clinicops"),
        recreate=not args.keep,
    )
    setup_django(url)
    env = seed(args.threads)

    print(
        f"database: {url.rsplit('@', 1)[-1]}; "
        f"load average: {os.getloadavg()}; CPUs: {os.cpu_count()}"
    )
    print("== one log at a time ==")
    single = single_latency(env, args.samples)
    for name, value in single.items():
        print(f"  {name}: {value:.2f}")

    ok = single["one item: median ms"] < 50
    kind = "processes" if args.processes else "threads"
    for same_row in (True, False):
        title = "the same item at the same cart" if same_row else "each nurse at their own cart"
        print(f"== {args.threads} nurses ({kind}) for {args.seconds:.0f} s, {title} ==")
        result = concurrent_run(
            env, args.threads, args.seconds, same_row=same_row, processes=args.processes
        )
        for name, value in result.items():
            print(f"  {name}: {value}")
        ok = ok and not result["errors"] and not result["lost updates"] and result["logs/s"] >= 150

    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out, err = StringIO(), StringIO()
    try:
        call_command("check_stock_ledger", stdout=out, stderr=err)
        print(f"== ledger ==\n  {out.getvalue().strip()}")
    except CommandError as error:
        print(f"== ledger ==\n  {err.getvalue().strip()}\n  {error}")
        ok = False
    print("RESULT:", "targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
