"""Patient search against 100,000 patients: median and p95 per kind of query, and index use.

    .venv/bin/python bench/patient_search.py [--patients 100000] [--runs 200]

It works in its own database, the DATABASE_URL's name plus "_bench" (clinicops_bench), which it
creates, migrates and seeds with `seed_demo` on the first run and reuses after that, so the
development database is never touched. The figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clinicops"
TARGET_MS = 50.0
INDEX_USE = re.compile(r"(Index Only Scan|Index Scan|Bitmap Index Scan) (?:using|on) (\w+)")
SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")


def bench_database_url(url: str, name: str | None) -> str:
    parts = urlsplit(url)
    current = parts.path.lstrip("/") or "clinicops"
    return urlunsplit(parts._replace(path="/" + (name or f"{current}_bench")))


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


@dataclass(frozen=True)
class Result:
    label: str
    example: str
    timings_ms: list[float]
    rows: float
    # How often the patient whose details were typed was among the results shown.
    found_rate: float
    indexes: list[str]
    seq_scans: list[str]

    @property
    def median(self) -> float:
        return statistics.median(self.timings_ms)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.timings_ms, n=20, method="inclusive")[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200, help="timed searches per kind of query")
    parser.add_argument("--database", help="database name (default: DATABASE_URL's + _bench)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    url = bench_database_url(os.environ.get("DATABASE_URL", DEFAULT_URL), args.database)
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    print(f"database {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    call_command("seed_demo", patients=args.patients, seed=args.seed, verbosity=1)
    print(f"seed_demo (top-up to {args.patients:,}) took {time.monotonic() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_patient")

    results = run_searches(runs=args.runs, seed=args.seed)
    report(results, patients=args.patients, runs=args.runs)
    return 0 if all(r.p95 < TARGET_MS for r in results) else 1


def run_searches(*, runs: int, seed: int) -> list[Result]:
    from clinicops.core import selectors
    from clinicops.core.demo import CLINICS
    from clinicops.core.models import Clinic, Patient, User

    user = User.objects.get(username="frontdesk")
    clinic = Clinic.objects.get(name=CLINICS[0].name)  # the larger demo clinic
    rng = random.Random(seed)
    ids = list(Patient.objects.filter(clinic=clinic).values_list("pk", flat=True))
    sample = list(Patient.objects.filter(pk__in=rng.sample(ids, min(100, len(ids)))))
    with_phone = [p for p in sample if p.phone]
    print(f"searching {len(ids):,} patients at {clinic.name} as {user.username}")

    shapes: list[tuple[str, Callable[[Patient], str]]] = [
        ("last-name prefix (3 letters)", lambda p: p.last_name[:3].lower()),
        ("last name, first initial", lambda p: f"{p.last_name.lower()}, {p.first_name[0]}"),
        ("last, first (full)", lambda p: f"{p.last_name}, {p.first_name}"),
        ("first last", lambda p: f"{p.first_name} {p.last_name}"),
        ("date of birth", lambda p: p.date_of_birth.strftime("%m/%d/%Y")),
        ("phone number", lambda p: p.phone),
        ("MRN", lambda p: p.mrn),
        ("MRN prefix (5 digits)", lambda p: p.mrn[:5]),
    ]
    results = []
    for label, make_query in shapes:
        pool = with_phone if label == "phone number" else sample
        queries = [(make_query(p), p.pk) for p in pool]
        for query, _ in queries[:10]:  # warm the cache and the connection
            selectors.search_patients(user=user, clinic=clinic, query=query)
        timings, rows, hits = [], [], 0
        for run in range(runs):
            query, wanted = queries[run % len(queries)]
            start = time.perf_counter()
            found = selectors.search_patients(user=user, clinic=clinic, query=query)
            timings.append((time.perf_counter() - start) * 1000)
            rows.append(len(found.patients))
            hits += any(patient.pk == wanted for patient in found.patients)
        # The same queryset the selector builds, limit included, for its plan.
        queryset = Patient.objects.for_user(user).for_clinic(clinic).search(queries[0][0])
        plan = queryset[: selectors.SEARCH_LIMIT + 1].explain(analyze=True)
        results.append(
            Result(
                label=label,
                example=queries[0][0],
                timings_ms=timings,
                rows=statistics.mean(rows),
                found_rate=hits / runs,
                indexes=sorted({m.group(2) for m in INDEX_USE.finditer(plan)}),
                seq_scans=sorted(set(SEQ_SCAN.findall(plan))),
            )
        )
    return results


def report(results: list[Result], *, patients: int, runs: int) -> None:
    print()
    print(f"Patient search, {patients:,} demo patients, {runs} runs per kind of query")
    print(
        "(selectors.search_patients end to end: parse, SQL, rows to objects; "
        f"target p95 < {TARGET_MS:.0f} ms)"
    )
    print()
    print("| query | example | median ms | p95 ms | rows (mean) | patient found | index used |")
    print("|---|---|--:|--:|--:|--:|---|")
    for r in results:
        print(
            f"| {r.label} | `{r.example}` | {r.median:.2f} | {r.p95:.2f} | {r.rows:.1f} | "
            f"{r.found_rate:.0%} | {', '.join(r.indexes) or '—'} |"
        )
    scans = sorted({table for r in results for table in r.seq_scans})
    print()
    print(f"Sequential scans in any plan: {', '.join(scans) or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
