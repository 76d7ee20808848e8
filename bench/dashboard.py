"""The weekly dashboard's render time with N and 10N raw rows behind it: it should stay flat.

    .venv/bin/python bench/dashboard.py [--year 2025] [--visits 6000] [--movements 30000]
        [--runs 30] [--database NAME]

The dashboard reads the rollup table only (`MetricDay`: one row per clinic, metric and day),
so its cost should not depend on how many appointments or stock movements made those rows.
This measures that, in its own database (DATABASE_URL's name plus "_bench_dashboard"):

1. the clinic-year of `bench/generate_clinic_year.py` at N (--visits appointments and
   --movements stock movements) and at 10N, one after the other (the generator keeps one
   clinic-year, so each run regenerates one of the two volumes; it starts with whichever
   the database already holds);
2. for each volume, the rollup of the 13 weeks the page shows (every registered metric), a
   manager choosing up to five metrics, and `--runs` GET requests of the full dashboard page
   through Django's test client (after three warm-ups): median and 95th percentile, and the
   number of SQL queries per page;
3. for contrast, the same 12 weeks of the aggregate metrics computed straight from the raw
   rows (the metrics' own functions), which does grow with the data.

It exits non-zero when the median at 10N is more than 1.5 times the median at N.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generate_clinic_year import (
    CLINIC_NAME,
    all_days,
    ensure_clinic_year,
    existing,
    setup_django,
)

WEEKS_ROLLED = 13
FLAT_RATIO = 1.5
CONTRAST_KEYS = ("no_show_rate", "supply_cost_per_visit", "stockout_rate")


def manager_for(clinic: Any) -> Any:
    """A manager of the bench clinic (made once), who chooses the dashboard's metrics."""
    from django.contrib.auth.models import Group

    from clinicops.core import roles
    from clinicops.core.models import Staff, User

    user, _ = User.objects.get_or_create(username=f"bench-manager-{clinic.pk}")
    user.groups.add(Group.objects.get(name=roles.MANAGER))
    staff, _ = Staff.objects.get_or_create(user=user)
    staff.clinics.add(clinic)
    return User.objects.get(pk=user.pk)


def forget_choices() -> None:
    """Drop what this script added to the bench clinic, so the generator may delete it."""
    from clinicops.core.models import Clinic
    from clinicops.kpis.models import ClinicMetricChoice, SentDigest

    clinic = Clinic.objects.filter(name=CLINIC_NAME).first()
    if clinic is not None:
        ClinicMetricChoice.objects.filter(clinic=clinic).delete()
        SentDigest.objects.filter(clinic=clinic).delete()


def prepare(clinic: Any, last_day: date) -> tuple[Any, list[str], date]:
    """Roll up the weeks the page shows and choose the metrics; returns (user, keys, week)."""
    from clinicops.kpis import registry, selectors, services
    from clinicops.kpis.models import MetricDay
    from clinicops.kpis.services import MetricChoiceInput

    week = selectors.week_start(last_day) - timedelta(weeks=1)
    first = week - timedelta(weeks=WEEKS_ROLLED - 1)
    days = [first + timedelta(days=i) for i in range((last_day - first).days + 1)]
    MetricDay.objects.filter(clinic=clinic).delete()
    started = time.perf_counter()
    services.rollup_clinic_days(clinic=clinic, days=days)
    print(f"  rolled up {len(days)} days in {time.perf_counter() - started:.1f} s")
    user = manager_for(clinic)
    metrics = registry.all_metrics()[: services.MAX_CHOSEN]
    services.choose_metrics(
        actor=user,
        clinic=clinic,
        choices=[
            MetricChoiceInput(
                key=m.key,
                target=m.default_target if m.default_target is not None else 10,
                owner=user.staff,
            )
            for m in metrics
        ],
    )
    return user, [m.key for m in metrics], week


def time_page(user: Any, clinic: Any, week: date, runs: int) -> tuple[float, float, int, int]:
    """(median ms, p95 ms, queries per page, bytes) of GET /kpis/<clinic>/?week=..."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    path = f"/kpis/{clinic.pk}/?week={week:%Y-%m-%d}"
    for _ in range(3):
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
    return statistics.median(timings), p95, len(queries), len(response.content)


def time_from_raw(clinic: Any, week: date) -> float:
    """Seconds to compute the 12 weeks' parts of the aggregate metrics from the raw rows."""
    from clinicops.kpis import registry

    first = week - timedelta(weeks=11)
    days = [first + timedelta(days=i) for i in range(84)]
    started = time.perf_counter()
    for key in CONTRAST_KEYS:
        if registry.is_registered(key):
            registry.get(key).parts_for_days(clinic, days)
    return time.perf_counter() - started


def measure(args: argparse.Namespace, scale: int) -> dict[str, Any]:
    from clinicops.core.models import Clinic

    visits, movements = args.visits * scale, args.movements * scale
    print(f"{scale}N: {visits:,} appointments, {movements:,} stock movements")
    forget_choices()
    made = ensure_clinic_year(year=args.year, visits=visits, movements=movements)
    clinic = Clinic.objects.get(pk=made.clinic_id)
    user, keys, week = prepare(clinic, all_days(args.year)[-1])
    median, p95, queries, size = time_page(user, clinic, week, args.runs)
    raw_s = time_from_raw(clinic, week)
    return {
        "scale": f"{scale}N",
        "rows": made.appointments + made.movements,
        "appointments": made.appointments,
        "movements": made.movements,
        "median": median,
        "p95": p95,
        "queries": queries,
        "bytes": size,
        "raw_s": raw_s,
        "keys": keys,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--visits", type=int, default=6_000, help="appointments at N")
    parser.add_argument("--movements", type=int, default=30_000, help="stock movements at N")
    parser.add_argument("--runs", type=int, default=30, help="timed page loads per volume")
    parser.add_argument(
        "--database", help="database name (default: DATABASE_URL's + _bench_dashboard)"
    )
    args = parser.parse_args()
    if args.database is None:
        current = urlsplit(os.environ.get("DATABASE_URL", "")).path.lstrip("/") or "clinicops"
        args.database = f"{current}_bench_dashboard"
    setup_django(args.database)

    found = existing(args.year)
    scales = [1, 10]
    if found is not None and found.appointments == args.visits * 10:
        scales = [10, 1]  # measure what is there first: one regeneration per run
    results = {r["scale"]: r for r in (measure(args, scale) for scale in scales)}
    small, large = results["1N"], results["10N"]

    print()
    print(
        f"Dashboard render (full page, {len(small['keys'])} metrics, 12-week trends), "
        f"{args.runs} requests per volume after 3 warm-ups"
    )
    print()
    print("| raw rows behind it | page median | page p95 | SQL queries | from raw rows instead |")
    print("|---|--:|--:|--:|--:|")
    for r in (small, large):
        print(
            f"| {r['scale']}: {r['appointments']:,} appointments + {r['movements']:,} movements "
            f"| {r['median']:.1f} ms | {r['p95']:.1f} ms | "
            f"{r['queries']} | {r['raw_s'] * 1000:.0f} ms |"
        )
    ratio = large["median"] / small["median"]
    print()
    print(
        f"10N / N page median: {ratio:.2f}x (flat: at most {FLAT_RATIO}x); computing the "
        f"aggregate metrics' 12 weeks from the raw rows instead: "
        f"{large['raw_s'] / small['raw_s']:.1f}x"
    )
    if ratio > FLAT_RATIO:
        print(f"FAILED: the page took {ratio:.2f}x as long with ten times the data")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
