"""Availability search at volume: the next 3 open slots with 20 providers, 90 days ahead and
100,000 appointments in the database. Prints the median and p95 in milliseconds.

    .venv/bin/python bench/availability.py [--appointments 100000] [--runs 300] [--rebuild]

It works in its own database (`clinicops_bench_sched` on DATABASE_URL's server), which it
creates, migrates and fills on the first run and reuses after that (`--rebuild` starts over).
The data is written in bulk, not through the booking service: this measures the search.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clinicops"
DATABASE = "clinicops_bench_sched"
TARGET_MS = 50.0
PROVIDERS = 20
CLINIC_NAME = "Bench Scheduling Clinic"


def database_url(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def ensure_database(url: str, *, rebuild: bool) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if rebuild:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            print(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def build(target: int, seed: int) -> None:
    """20 providers with templates (an older one handing over to a newer one), closures,
    time off, and `target` appointments: the past mostly full, the next weeks nearly full."""
    from django.db import connection, transaction
    from django.utils import timezone

    from clinicops.core.models import Clinic, Patient, Room, Staff, User
    from scheduling.availability import local_datetime
    from scheduling.models import (
        Appointment,
        AppointmentType,
        ClinicClosure,
        ProviderTimeOff,
        ScheduleTemplate,
        TemplateBlock,
    )

    rng = random.Random(seed)
    started = time.perf_counter()
    with transaction.atomic():
        clinic = Clinic.objects.create(name=CLINIC_NAME, time_zone="America/New_York")
        tz = clinic.tz
        today = timezone.localdate(timezone=tz)
        follow_up = AppointmentType.objects.create(
            clinic=clinic, name="Follow-up", duration_minutes=20
        )
        new_patient = AppointmentType.objects.create(
            clinic=clinic,
            name="New patient",
            duration_minutes=40,
            kind=AppointmentType.Kind.NEW_PATIENT,
        )
        procedure = AppointmentType.objects.create(
            clinic=clinic, name="Procedure", duration_minutes=20, room_kind=Room.Kind.PROCEDURE
        )
        for n in range(8):
            Room.objects.create(clinic=clinic, name=f"Exam {n + 1}")
        for n in range(2):
            Room.objects.create(clinic=clinic, name=f"Procedure {n + 1}", kind=Room.Kind.PROCEDURE)
        providers = []
        for n in range(PROVIDERS):
            user = User.objects.create(username=f"bench-provider-{n}", last_name=f"Provider {n}")
            user.set_unusable_password()
            user.save()
            staff = Staff.objects.create(user=user, title="MD")
            staff.clinics.add(clinic)
            providers.append(staff)

        history_start = today - timedelta(days=400)
        handover = today - timedelta(days=60)
        for staff in providers:
            old = ScheduleTemplate.objects.create(
                provider=staff,
                clinic=clinic,
                effective_from=history_start,
                effective_to=handover - timedelta(days=1),
                name="Old pattern",
            )
            new = ScheduleTemplate.objects.create(
                provider=staff, clinic=clinic, effective_from=handover, name="Current pattern"
            )
            for weekday in range(5):
                TemplateBlock.objects.create(
                    template=old,
                    weekday=weekday,
                    start_time=clock(8),
                    end_time=clock(16),
                    slot_minutes=20,
                )
                morning = TemplateBlock.objects.create(
                    template=new,
                    weekday=weekday,
                    start_time=clock(8),
                    end_time=clock(12),
                    slot_minutes=20,
                    overbook_limit=2,
                )
                morning.appointment_types.set([follow_up, new_patient, procedure])
                TemplateBlock.objects.create(
                    template=new,
                    weekday=weekday,
                    start_time=clock(12),
                    end_time=clock(13),
                    kind=TemplateBlock.Kind.ADMIN,
                )
                TemplateBlock.objects.create(
                    template=new,
                    weekday=weekday,
                    start_time=clock(13),
                    end_time=clock(16),
                    slot_minutes=20,
                )
                TemplateBlock.objects.create(
                    template=new,
                    weekday=weekday,
                    start_time=clock(16),
                    end_time=clock(17),
                    slot_minutes=20,
                    kind=TemplateBlock.Kind.SAME_DAY_HOLD,
                    hold_release_hours=24,
                )
        for offset in (17, 45, 80):
            ClinicClosure.objects.create(
                clinic=clinic, day=today + timedelta(days=offset), reason="Holiday"
            )
        for staff in rng.sample(providers, 4):
            start_day = today + timedelta(days=rng.randint(3, 60))
            ProviderTimeOff.objects.create(
                provider=staff,
                start=local_datetime(start_day, clock(0), tz),
                end=local_datetime(start_day + timedelta(days=5), clock(0), tz),
                reason="Vacation",
            )

        patient_count = 8000
        mrns = Patient.allocate_mrns(patient_count)
        Patient.objects.bulk_create(
            [
                Patient(
                    clinic=clinic,
                    mrn=mrns[i],
                    first_name=f"Pat{i}",
                    last_name=f"Bench{i}",
                    date_of_birth=date(1950 + i % 60, 1 + i % 12, 1 + i % 28),
                    sex="F",
                )
                for i in range(patient_count)
            ],
            batch_size=2000,
        )
        patient_ids = list(Patient.objects.filter(clinic=clinic).values_list("pk", flat=True))

    # Every bookable 20-minute slot from the history start to 90 days ahead, per provider.
    closures = set(ClinicClosure.objects.filter(clinic=clinic).values_list("day", flat=True))
    slots: list[tuple[int, datetime, int]] = []  # (provider, start, days from today)
    day = history_start
    last = today + timedelta(days=90)
    while day <= last:
        if day.weekday() < 5 and day not in closures:
            for staff in providers:
                for minute in range(0, 8 * 60, 20):
                    start = local_datetime(day, clock(8), tz) + timedelta(minutes=minute)
                    if 240 <= minute < 300:  # 12:00-13:00 is lunch
                        continue
                    slots.append((staff.pk, start, (day - today).days))
        day += timedelta(days=1)

    def fill(days_ahead: int) -> float:
        if days_ahead < 14:
            return 0.97
        if days_ahead < 35:
            return 0.85
        return 0.45

    chosen = [s for s in slots if rng.random() < fill(s[2])]
    future = [s for s in chosen if s[2] >= 0]
    past = [s for s in chosen if s[2] < 0]
    rng.shuffle(past)
    chosen = future + past[: max(0, target - len(future))]
    now = timezone.now()
    rows = []
    for provider_id, start, _days_ahead in chosen:
        if start < now:
            status = rng.choices(
                [
                    Appointment.Status.COMPLETED,
                    Appointment.Status.NO_SHOW,
                    Appointment.Status.CANCELLED,
                ],
                [90, 5, 5],
            )[0]
        else:
            status = rng.choices(
                [Appointment.Status.BOOKED, Appointment.Status.CONFIRMED], [70, 30]
            )[0]
        rows.append(
            Appointment(
                clinic=clinic,
                patient_id=rng.choice(patient_ids),
                provider_id=provider_id,
                appointment_type=follow_up,
                start=start,
                end=start + timedelta(minutes=20),
                status=status,
                cancel_reason="patient" if status == Appointment.Status.CANCELLED else "",
            )
        )
    with transaction.atomic():
        Appointment.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduling_appointment")
    print(f"built {len(rows):,} appointments in {time.perf_counter() - started:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    url = database_url(os.environ.get("DATABASE_URL", DEFAULT_URL), DATABASE)
    ensure_database(url, rebuild=args.rebuild)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from clinicops.core.models import Clinic
    from scheduling.availability import find_slots, third_next_available_days
    from scheduling.models import Appointment, AppointmentType

    clinic = Clinic.objects.filter(name=CLINIC_NAME).first()
    if clinic is None:
        build(args.appointments, args.seed)
        clinic = Clinic.objects.get(name=CLINIC_NAME)
    total = Appointment.objects.count()
    types = {t.name: t for t in AppointmentType.objects.filter(clinic=clinic)}
    providers = sorted(
        Appointment.objects.filter(clinic=clinic)
        .order_by()
        .values_list("provider_id", flat=True)
        .distinct()
    )
    rng = random.Random(args.seed)

    cases = {
        "follow-up, any provider": lambda: find_slots(
            clinic=clinic, appointment_type=types["Follow-up"], count=3
        ),
        "follow-up, one provider": lambda: find_slots(
            clinic=clinic,
            appointment_type=types["Follow-up"],
            count=3,
            provider=rng.choice(providers),
        ),
        "stress: new patient (40 min), afternoons": lambda: find_slots(
            clinic=clinic,
            appointment_type=types["New patient"],
            count=3,
            time_of_day="afternoon",
        ),
        "procedure (needs a room), one provider": lambda: find_slots(
            clinic=clinic,
            appointment_type=types["Procedure"],
            count=3,
            provider=rng.choice(providers),
        ),
        "TNAA, one provider": lambda: third_next_available_days(
            clinic=clinic, provider=rng.choice(providers), appointment_type=types["Follow-up"]
        ),
    }
    print(f"{total:,} appointments, {len(providers)} providers, {args.runs} runs per case\n")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| search | median ms | p95 ms | median CPU ms (this process) | first slot |")
    print("|---|---:|---:|---:|---|")
    all_timings: list[float] = []
    medians: dict[str, float] = {}
    for label, run in cases.items():
        for _ in range(10):
            run()
        timings = []
        cpu = []
        result = None
        for _ in range(args.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            result = run()
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        median = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20, method="inclusive")[-1]
        medians[label] = median
        all_timings.extend(timings)
        first = (
            f"{result[0].start.astimezone(clinic.tz):%a %Y-%m-%d %H:%M}"
            if isinstance(result, list) and result
            else f"{result} days"
            if result is not None
            else "-"
        )
        print(f"| {label} | {median:.1f} | {p95:.1f} | {statistics.median(cpu):.1f} | {first} |")
    median = statistics.median(all_timings)
    p95 = statistics.quantiles(all_timings, n=20, method="inclusive")[-1]
    print(f"\nall searches: median {median:.1f} ms, p95 {p95:.1f} ms")
    # The figure: the next 3 slots, median under 50 ms. Gated on the everyday search
    # and on all searches together; the afternoon new-patient case is a stress case (it walks
    # days of 85-97 % booked afternoons) and is reported, not gated.
    gated = {"follow-up, any provider": medians["follow-up, any provider"], "all": median}
    failed = {k: v for k, v in gated.items() if v >= TARGET_MS}
    if failed:
        print(f"FAIL (median {TARGET_MS:.0f} ms or more): {failed}")
        return 1
    print(f"OK: medians under {TARGET_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
