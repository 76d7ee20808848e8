"""Benchmark: export 5,000 scrubbed claims from the database as one 837P batch.

Standalone: it creates (with --rebuild, recreates) its own database, clinicops_bench_revenue,
on the Postgres of DATABASE_URL, migrates it and bulk-creates one clinic's --claims scrubbed
claims (checked-out visits, ready encounters, 1-4 lines, 1-12 diagnoses, three payers, one
claim in five a child on a parent's plan, one in ten with a secondary coverage). Then, each as
the median of --runs runs:

1. the floor: reading what the export reads (the claims with their lines, patients, coverages
   and payers, and the patients' other coverages), with no 837 written;
2. `export.build_file`: the same reads, mapping to `revenue.x12` dataclasses and `build_837p`;
3. `export.export_batch`: everything the biller's button does (lock the claims, control
   numbers, write the file, store the batch, mark 5,000 claims submitted with an event each,
   the audit entry), inside a transaction rolled back after each run so every run exports all.

Then, once and separately, pyx12's validation of the file (a check, not part of the export).
Target (issue 13): the export of 5,000 claims in under 10 s. Exits non-zero when it misses it
or pyx12 finds an error.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinicops \\
        .venv/bin/python bench/revenue_export.py [--claims 5000] [--runs 3] [--rebuild]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH_DB = "clinicops_bench_revenue"
ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 10.0
DIAGNOSES = (
    "E11.9",
    "I10",
    "J45.909",
    "E78.5",
    "M54.50",
    "R51.9",
    "Z00.00",
    "K21.9",
    "F41.1",
    "G43.909",
    "N39.0",
    "R05.9",
)
CODES = (
    ("99213", "125.00"),
    ("99214", "185.00"),
    ("36415", "15.00"),
    ("81002", "12.50"),
    ("90471", "30.00"),
    ("93000", "60.00"),
)
MODIFIERS = ("25", "59", "GT", "95")


def prepare_database(base_url: str, *, recreate: bool) -> tuple[str, bool]:
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
    return f"{head}/{BENCH_DB}", not exists


def setup_django(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n_claims: int) -> Any:
    """One clinic with `n_claims` scrubbed claims, bulk-created (the bench times the export,
    not the coding)."""
    from django.db import transaction

    from clinicops.core.demo import npi_for
    from clinicops.core.models import Clinic, Coverage, Patient, Payer, Staff, User
    from patientflow.models import Step, Visit
    from revenue.models import (
        BillingProfile,
        Claim,
        ClaimLine,
        ClaimStatus,
        Encounter,
        PayerBillingSettings,
    )
    from scheduling.models import Appointment, AppointmentType

    existing = Clinic.objects.filter(name="Bench Billing Clinic").first()
    if existing is not None and Claim.objects.filter(clinic=existing).count() >= n_claims:
        return existing
    with transaction.atomic():
        clinic = Clinic.objects.create(
            name="Bench Billing Clinic", short_name="Bench", time_zone="America/New_York"
        )
        BillingProfile.objects.create(
            clinic=clinic,
            billing_name="Bench Billing Clinic",
            group_npi=npi_for("190000001"),
            tax_id="123456789",
            taxonomy="207Q00000X",
            address_line1="100 Main Street",
            city="Harrisburg",
            state="PA",
            postal_code="171021234",
            submitter_id="BENCH01",
            contact_name="Billing Office",
            contact_phone="7175550100",
            receiver_name="Clearhouse",
            receiver_id="CLEARHOUSE01",
        )
        payers = []
        for k, (name, pid, ind) in enumerate(
            (
                ("Bench Aetna", "60054", "CI"),
                ("Bench Medicare", "12502", "MB"),
                ("Bench Medicaid", "77027", "MC"),
            )
        ):
            payer = Payer.objects.create(name=name, payer_id=pid, kind="commercial")
            PayerBillingSettings.objects.create(payer=payer, claim_filing_indicator=ind)
            payers.append(payer)
            del k
        providers = []
        for p in range(10):
            user = User.objects.create(
                username=f"bench.dr{p}", first_name="Ada", last_name=f"Provider{p}"
            )
            staff = Staff.objects.create(user=user, npi=npi_for(f"19100{p:04d}"))
            staff.clinics.add(clinic)
            providers.append(staff)
        visit_type = AppointmentType.objects.create(
            clinic=clinic, name="Follow-up", duration_minutes=20
        )
        patients = Patient.objects.bulk_create(
            Patient(
                clinic=clinic,
                mrn=mrn,
                first_name=f"Pat{i}",
                last_name=f"Bench{i % 500}",
                date_of_birth=dt.date(
                    2015 if i % 5 == 0 else 1960 + i % 40, 1 + i % 12, 1 + i % 28
                ),
                sex="FM"[i % 2],
                address_line1=f"{i % 900 + 1} Oak Avenue",
                city="Harrisburg",
                state="PA",
                postal_code="17102",
            )
            for i, mrn in enumerate(Patient.allocate_mrns(1000))
        )
        coverages = {}
        others = []
        for i, patient in enumerate(patients):
            child = i % 5 == 0
            coverages[patient.pk] = Coverage(
                patient=patient,
                payer=payers[i % 3],
                member_id=f"MBR{i:08d}",
                group_number=f"G{i % 50:04d}",
                effective_from=dt.date(2020, 1, 1),
                subscriber_relationship="child" if child else "self",
                subscriber_name=f"Bench{i % 500}, Jordan" if child else "",
                subscriber_date_of_birth=dt.date(1985, 3, 1) if child else None,
                subscriber_sex="F" if child else "",
                subscriber_address_line1="1 Oak Avenue" if child else "",
                subscriber_city="Harrisburg" if child else "",
                subscriber_state="PA" if child else "",
                subscriber_postal_code="17102" if child else "",
            )
            if i % 10 == 3:
                others.append(
                    Coverage(
                        patient=patient,
                        payer=payers[(i + 1) % 3],
                        priority=2,
                        member_id=f"SEC{i:08d}",
                        effective_from=dt.date(2020, 1, 1),
                    )
                )
        Coverage.objects.bulk_create([*coverages.values(), *others])
        today = clinic.today()
        appointments = []
        for n in range(n_claims):
            day = today - dt.timedelta(days=3 + n // 200)
            slot = n % 200
            start = dt.datetime.combine(day, dt.time(8), tzinfo=clinic.tz) + dt.timedelta(
                minutes=20 * (slot // 10)
            )
            appointments.append(
                Appointment(
                    clinic=clinic,
                    patient=patients[n % len(patients)],
                    provider=providers[slot % 10],
                    appointment_type=visit_type,
                    start=start,
                    end=start + dt.timedelta(minutes=20),
                    status="completed",
                )
            )
        Appointment.objects.bulk_create(appointments, batch_size=1000)
        visits = Visit.objects.bulk_create(
            [
                Visit(
                    clinic=clinic,
                    appointment=a,
                    patient=a.patient,
                    step=Step.CHECKED_OUT,
                    step_since=a.end,
                    checked_in_at=a.start,
                    checked_out_at=a.end,
                    coverage=coverages[a.patient_id],
                )
                for a in appointments
            ],
            batch_size=1000,
        )
        encounters = Encounter.objects.bulk_create(
            [
                Encounter(
                    visit=v,
                    clinic=clinic,
                    patient=v.patient,
                    service_date=v.checked_in_at.astimezone(clinic.tz).date(),
                    rendering_provider_id=v.appointment.provider_id,
                    diagnoses=list(DIAGNOSES[: 1 + n % 12]),
                    status="ready",
                )
                for n, v in enumerate(visits)
            ],
            batch_size=1000,
        )
        numbers = Claim.next_control_numbers(n_claims)
        claims, lines = [], []
        now = dt.datetime.now(dt.UTC)
        for n, (enc, control) in enumerate(zip(encounters, numbers, strict=True)):
            count = 1 + n % 4
            claim_lines = []
            for k in range(count):
                code, charge = CODES[(n + k) % len(CODES)]
                dx = len(enc.diagnoses)
                claim_lines.append(
                    ClaimLine(
                        position=k + 1,
                        line_id=f"{control}-{k + 1}",
                        procedure_code=code,
                        modifiers=list(MODIFIERS[: (n + k) % 3]),
                        units=1 + k % 2,
                        pointers=sorted({1 + (k + j) % dx for j in range(min(4, dx))}),
                        charge=Decimal(charge) * (1 + k % 2),
                        service_date=enc.service_date,
                    )
                )
            claim = Claim(
                clinic=clinic,
                encounter=enc,
                patient_id=enc.patient_id,
                coverage=coverages[enc.patient_id],
                payer_id=coverages[enc.patient_id].payer_id,
                control_number=control,
                status=ClaimStatus.SCRUBBED,
                service_date=enc.service_date,
                rendering_provider_id=enc.rendering_provider_id,
                diagnoses=enc.diagnoses,
                total_charge=sum((x.charge for x in claim_lines), Decimal(0)),
                first_scrubbed_at=now,
                last_scrubbed_at=now,
                first_pass_clean=True,
            )
            claims.append(claim)
            lines.append(claim_lines)
        Claim.objects.bulk_create(claims, batch_size=1000)
        for claim, claim_lines in zip(claims, lines, strict=True):
            for line in claim_lines:
                line.claim = claim
        ClaimLine.objects.bulk_create([x for group in lines for x in group], batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return clinic


def median_time(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    walls, cpus, result = [], [], None
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clinicops")
    url, fresh = prepare_database(base, recreate=args.rebuild)
    setup_django(url)
    t0 = time.perf_counter()
    clinic = seed(args.claims)
    seeded = time.perf_counter() - t0

    from django.db import transaction
    from django.utils import timezone

    from clinicops.core.models import Coverage
    from revenue.models import BillingProfile, ExportBatch
    from revenue.services import export
    from revenue.x12.validate import validate_x12

    profile = BillingProfile.objects.select_related("clinic").get(clinic=clinic)

    def read() -> int:
        claims = list(
            export.exportable(clinic)
            .select_related("patient", "coverage", "payer", "rendering_provider__user")
            .prefetch_related("lines")
            .order_by("payer_id", "pk")
        )
        others = list(Coverage.objects.filter(patient_id__in={c.patient_id for c in claims}))
        return sum(len(c.lines.all()) for c in claims) + len(others)

    def build() -> str:
        claims = list(
            export.exportable(clinic)
            .select_related("patient", "coverage", "payer", "rendering_provider__user")
            .prefetch_related("lines")
            .order_by("payer_id", "pk")
        )
        payers = len({c.payer_id for c in claims})
        return export.build_file(
            profile, claims, controls=list(range(1, 2 + 2 * payers)), now=timezone.now()
        )

    class Rollback(Exception):
        pass

    def export_all() -> Any:
        try:
            with transaction.atomic():
                result = export.export_batch(actor="bench", clinic=clinic)
                if result is None or result.claims != args.claims:
                    raise SystemExit(f"exported {result}, expected {args.claims} claims")
                content = bytes(result.batch.content)
                raise Rollback(content, result.lines)
        except Rollback as done:
            return done.args

    floor_s, floor_cpu, _ = median_time(read, args.runs)
    build_s, build_cpu, text = median_time(build, args.runs)
    export_s, export_cpu, (content, n_lines) = median_time(export_all, args.runs)
    if ExportBatch.objects.exists():
        raise SystemExit("a batch was left behind: the rollback did not happen")

    print(f"## revenue_export: {args.claims:,} claims, {n_lines:,} lines from the database")
    print(
        f"(seeded in {seeded:.1f} s{' (new database)' if fresh else ''}; "
        f"median of {args.runs} runs; file {len(content):,} bytes)\n"
    )
    print("| step | median s | CPU s | claims/s | vs floor |")
    print("|---|--:|--:|--:|--:|")
    print(
        f"| floor: read the claims, lines and coverages | {floor_s:.2f} | {floor_cpu:.2f} | "
        f"{args.claims / floor_s:,.0f} | 1x |"
    )
    print(
        f"| build_file (read + map + build_837p) | {build_s:.2f} | {build_cpu:.2f} | "
        f"{args.claims / build_s:,.0f} | {build_s / floor_s:.1f}x |"
    )
    print(
        f"| export_batch (all of it, rolled back) | {export_s:.2f} | {export_cpu:.2f} | "
        f"{args.claims / export_s:,.0f} | {export_s / floor_s:.1f}x |"
    )
    failed = export_s >= TARGET_SECONDS
    if not args.no_validate:
        w0 = time.perf_counter()
        issues = validate_x12(content.decode("ascii"))
        print(f"| pyx12 validation (once, separate) | {time.perf_counter() - w0:.1f} | | | |")
        print(f"\npyx12 errors: {len(issues)}")
        for issue in issues[:10]:
            print(f"  {issue}")
        failed = failed or bool(issues)
    del text
    if export_s >= TARGET_SECONDS:
        print(f"\nFAIL: the export took {export_s:.1f} s, target < {TARGET_SECONDS:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
