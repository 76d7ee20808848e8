"""One clinic-year of raw data for the KPI rollup benchmark: visits and supply movements.

    .venv/bin/python bench/generate_clinic_year.py [--year 2025] [--visits 60000]
        [--movements 300000] [--database NAME]

It works in its own database, the DATABASE_URL's name plus "_bench_kpis", which it creates and
migrates, so the development database is never touched. It writes, for "KPI Bench Clinic"
(America/New_York, so the year holds both DST changes):

- scheduling: 12 providers with a Monday-Friday 08:00-17:00 template of 20-minute slots, and
  `--visits` appointments in those slots (83 % completed, 6 % no-show, 11 % cancelled, a third
  of those late), never overlapping a provider's other appointments;
- supplies: 150 items at a supply room and three carts, `--movements` ledger lines (use,
  return, waste, receive) spread over each day's opening hours (the stockout rate reads the
  ledger; the nightly snapshot table is gone).

Rows go in with COPY (the data is synthetic: the services' rules are not the point here, and
the ledger's triggers still refuse updates). A second run finds the clinic and reuses it;
--fresh deletes it first. Patient flow gets a checked-out visit with its five step events for
each completed appointment. The metrics registered later get (added to an existing clinic-year
on the next run): 30 rostered staff with contracts, coverage rules, a published roster of
weekday shifts, four punches a worked shift (some long days, 1 % of clock-outs corrected),
a daily-overtime rule from July and BLS / RN licences with some lapses; a claim per visit (5 %
self-pay, the last days unsubmitted) with its remittance's ledger lines; 300 incidents.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clinicops"
CLINIC_NAME = "KPI Bench Clinic"
TIME_ZONE = "America/New_York"
PROVIDERS = 12
SLOT_MINUTES = 20
DAY_START, DAY_END = 8, 17
ITEMS = 150
CARTS = 3
PATIENTS = 6_000


def bench_database_url(url: str, name: str | None) -> str:
    parts = urlsplit(url)
    current = parts.path.lstrip("/") or "clinicops"
    return urlunsplit(parts._replace(path="/" + (name or f"{current}_bench_kpis")))


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


def setup_django(database: str | None) -> None:
    """Point Django at the bench database (created and migrated if need be) and set it up."""
    url = bench_database_url(os.environ.get("DATABASE_URL", DEFAULT_URL), database)
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


@dataclass(frozen=True)
class Generated:
    clinic_id: int
    year: int
    appointments: int
    movements: int
    seconds: float


def copy_rows(model: Any, fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into a model's table; columns not in `fields` take the field's default."""
    from django.db import connection

    given = list(fields)
    extra = [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key and f.attname not in given and f.name not in given
    ]
    defaults = tuple(None if f.null else f.get_default() for f in extra)
    columns = [model._meta.get_field(name).column for name in given] + [f.column for f in extra]
    table = model._meta.db_table
    count = 0
    with connection.cursor() as cursor:
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        statement = f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"
        with cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row((*row, *defaults))
                count += 1
    return count


def working_days(year: int) -> list[date]:
    day, days = date(year, 1, 1), []
    while day.year == year:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def all_days(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def _reference_data(rng: random.Random) -> dict[str, Any]:
    from django.contrib.auth.models import Group

    from clinicops.core import roles
    from clinicops.core.models import Clinic, Patient, Staff, User
    from scheduling.models import AppointmentType, ScheduleTemplate, TemplateBlock
    from supplies.models import LocationItem, StockLocation, Supplier, SupplyItem

    clinic = Clinic.objects.create(name=CLINIC_NAME, short_name="Bench", time_zone=TIME_ZONE)
    provider_group = Group.objects.filter(name=roles.PROVIDER).first()
    providers = []
    for n in range(PROVIDERS):
        user = User(username=f"bench-provider-{clinic.pk}-{n}", first_name="Dr", last_name=f"{n}")
        user.set_unusable_password()
        user.save()
        if provider_group:
            user.groups.add(provider_group)
        staff = Staff.objects.create(user=user, title="MD")
        staff.clinics.add(clinic)
        providers.append(staff)
    visit = AppointmentType.objects.create(
        clinic=clinic, name="Follow-up", duration_minutes=SLOT_MINUTES
    )
    for staff in providers:
        template = ScheduleTemplate.objects.create(
            provider=staff, clinic=clinic, effective_from=date(2000, 1, 1)
        )
        # written long before the year (TNAA reads templates as they stood each morning)
        ScheduleTemplate.objects.filter(pk=template.pk).update(
            created_at=datetime(2000, 1, 1, tzinfo=UTC)
        )
        TemplateBlock.objects.bulk_create(
            TemplateBlock(
                template=template,
                weekday=weekday,
                start_time=clock(DAY_START),
                end_time=clock(DAY_END),
                slot_minutes=SLOT_MINUTES,
            )
            for weekday in range(5)
        )
    mrns = Patient.allocate_mrns(PATIENTS)
    patients = Patient.objects.bulk_create(
        Patient(
            clinic=clinic,
            mrn=mrn,
            first_name=f"Bench{n}",
            last_name="Patient",
            date_of_birth=date(1940, 1, 1) + timedelta(days=rng.randrange(30_000)),
            sex=rng.choice("FM"),
        )
        for n, mrn in enumerate(mrns)
    )
    supplier, _ = Supplier.objects.get_or_create(name="Bench Medical Supply")
    items = []
    for n in range(ITEMS):
        item, _ = SupplyItem.objects.get_or_create(
            sku=f"BENCH-{n:04d}",
            defaults={
                "name": f"Bench item {n}",
                "unit_cost": Decimal(rng.randrange(5, 5000)) / 100,
                "supplier": supplier,
                "is_critical": n % 10 == 0,
            },
        )
        items.append(item)
    locations = [
        StockLocation.objects.create(
            clinic=clinic, name="Supply room", kind=StockLocation.Kind.SUPPLY_ROOM
        ),
        *(StockLocation.objects.create(clinic=clinic, name=f"Cart {n + 1}") for n in range(CARTS)),
    ]
    location_items = LocationItem.objects.bulk_create(
        LocationItem(location=location, item=item, par=20, reorder_point=5, max_quantity=40)
        for location in locations
        for item in items
    )
    return {
        "clinic": clinic,
        "providers": providers,
        "visit_type": visit,
        "patients": patients,
        "location_items": location_items,
    }


def _appointments(
    ref: dict[str, Any], year: int, count: int, rng: random.Random
) -> Iterable[tuple[Any, ...]]:
    tz = ZoneInfo(TIME_ZONE)
    slots_per_day = (DAY_END - DAY_START) * 60 // SLOT_MINUTES
    slots = [
        (day, provider, slot)
        for day in working_days(year)
        for provider in ref["providers"]
        for slot in range(slots_per_day)
    ]
    if count > len(slots):
        raise SystemExit(f"--visits {count} exceeds the {len(slots)} slots of the year")
    patients = ref["patients"]
    for day, provider, slot in sorted(rng.sample(slots, count), key=lambda s: (s[0], s[2])):
        start = datetime.combine(day, clock(DAY_START), tzinfo=tz) + timedelta(
            minutes=slot * SLOT_MINUTES
        )
        start = start.astimezone(UTC)
        roll = rng.random()
        cancel_reason, late = "", False
        if roll < 0.83:
            status = "completed"
        elif roll < 0.89:
            status = "no_show"
        else:
            status, cancel_reason = "cancelled", rng.choice(["patient", "rescheduled", "other"])
            late = rng.random() < 0.33
        created = start - timedelta(days=rng.randrange(1, 60))
        # cancelled some time between the booking and the visit (TNAA reads when)
        cancelled_at = created + (start - created) * rng.random()
        yield (
            ref["clinic"].pk,
            rng.choice(patients).pk,
            provider.pk,
            ref["visit_type"].pk,
            start,
            start + timedelta(minutes=SLOT_MINUTES),
            status,
            cancel_reason,
            late,
            cancelled_at if status == "cancelled" else None,
            created,
            start,
        )


def _movements(
    ref: dict[str, Any], year: int, count: int, rng: random.Random
) -> Iterable[tuple[Any, ...]]:
    tz = ZoneInfo(TIME_ZONE)
    days = working_days(year)
    location_items = ref["location_items"]
    costs = {li.pk: li.item.unit_cost for li in location_items}
    for _ in range(count):
        day = rng.choice(days)
        at = datetime.combine(day, clock(DAY_START), tzinfo=tz) + timedelta(
            seconds=rng.randrange((DAY_END - DAY_START) * 3600)
        )
        li = rng.choice(location_items)
        roll = rng.random()
        if roll < 0.88:
            kind, quantity, reason = "use", -rng.randint(1, 3), ""
        elif roll < 0.92:
            kind, quantity, reason = "return", 1, "unused"
        elif roll < 0.95:
            kind, quantity, reason = "waste", -1, "expired"
        else:
            kind, quantity, reason = "receive", rng.randint(10, 40), ""
        yield (li.pk, kind, quantity, costs[li.pk], at.astimezone(UTC), reason, uuid.uuid4())


FLOW_STEPS = ("checked_in", "roomed", "with_provider", "ready_for_checkout", "checked_out")


def _visits(
    clinic_id: int, rng: random.Random, steps: dict[int, list[datetime]]
) -> Iterable[tuple[Any, ...]]:
    """A checked-out visit for each completed appointment (a tenth of them walk-ins), its
    five steps a few to 30 minutes apart (kept in `steps` by appointment for the events)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, patient_id, start FROM scheduling_appointment "
            "WHERE clinic_id = %s AND status = 'completed' ORDER BY start, id",
            [clinic_id],
        )
        rows = cursor.fetchall()
    for appointment_id, patient_id, start in rows:
        walk_in = rng.random() < 0.1
        at = start + timedelta(minutes=0 if walk_in else rng.randint(-20, 10))
        times = [at]
        for _ in FLOW_STEPS[1:]:
            at += timedelta(minutes=rng.randint(2, 30), seconds=rng.randint(0, 59))
            times.append(at)
        steps[appointment_id] = times
        yield (clinic_id, appointment_id, patient_id, walk_in, "checked_out", at, times[0], at)


def _visit_events(clinic_id: int, steps: dict[int, list[datetime]]) -> Iterable[tuple[Any, ...]]:
    """Each visit's five step events."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, appointment_id FROM patientflow_visit WHERE clinic_id = %s ORDER BY id",
            [clinic_id],
        )
        rows = cursor.fetchall()
    for visit_id, appointment_id in rows:
        previous = ""
        for step, at in zip(FLOW_STEPS, steps[appointment_id], strict=True):
            yield (visit_id, "advance", previous, step, at, "bench")
            previous = step


def generate(
    *, year: int = 2025, visits: int = 60_000, movements: int = 300_000, seed: int = 2026
) -> Generated:
    """Write one clinic-year (see the module docstring); returns what was written."""
    from django.db import connection, transaction

    from scheduling.models import Appointment
    from supplies.models import StockMovement

    rng = random.Random(seed)
    started = time.perf_counter()
    with transaction.atomic():
        ref = _reference_data(rng)
        n_appointments = copy_rows(
            Appointment,
            [
                "clinic_id",
                "patient_id",
                "provider_id",
                "appointment_type_id",
                "start",
                "end",
                "status",
                "cancel_reason",
                "late_cancel",
                "cancelled_at",
                "created_at",
                "updated_at",
            ],
            _appointments(ref, year, visits, rng),
        )
        n_movements = copy_rows(
            StockMovement,
            [
                "location_item_id",
                "kind",
                "quantity",
                "unit_cost",
                "occurred_at",
                "reason",
                "operation_id",
            ],
            _movements(ref, year, movements, rng),
        )
        from patientflow.models import Visit, VisitEvent

        steps: dict[int, list[datetime]] = {}
        copy_rows(
            Visit,
            [
                "clinic_id",
                "appointment_id",
                "patient_id",
                "is_walk_in",
                "step",
                "step_since",
                "checked_in_at",
                "checked_out_at",
            ],
            list(_visits(ref["clinic"].pk, rng, steps)),  # read before the COPY starts
        )
        copy_rows(
            VisitEvent,
            ["visit_id", "kind", "from_step", "to_step", "at", "actor_label"],
            list(_visit_events(ref["clinic"].pk, steps)),
        )
    with connection.cursor() as cursor:
        for table in (
            "patientflow_visit",
            "patientflow_visitevent",
            "scheduling_appointment",
            "supplies_stockmovement",
        ):
            cursor.execute(f"ANALYZE {table}")
    return Generated(
        ref["clinic"].pk,
        year,
        n_appointments,
        n_movements,
        time.perf_counter() - started,
    )


def existing(year: int) -> Generated | None:
    """The clinic-year a previous run wrote, if there is one."""
    from clinicops.core.models import Clinic
    from scheduling.models import Appointment
    from supplies.models import StockMovement

    clinic = Clinic.objects.filter(name=CLINIC_NAME).first()
    if clinic is None:
        return None
    return Generated(
        clinic.pk,
        year,
        Appointment.objects.filter(clinic=clinic).count(),
        StockMovement.objects.for_clinic(clinic).count(),
        0.0,
    )


def delete_clinic() -> None:
    """Remove the bench clinic and its rows (the ledger's append-only trigger set aside)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM core_clinic WHERE name = %s", [CLINIC_NAME])
        row = cursor.fetchone()
        if row is None:
            return
        clinic_id = row[0]
        append_only = (
            "supplies_stockmovement",
            "patientflow_visitevent",
            "scheduling_appointmentevent",
            "revenue_ledgerentry",
            "workforce_punch",
        )
        for table in append_only:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            statements = [
                "DELETE FROM kpis_metricday WHERE clinic_id = %(c)s",
                "DELETE FROM compliance_incident WHERE clinic_id = %(c)s",
                "DELETE FROM revenue_ledgerentry WHERE clinic_id = %(c)s",
                "DELETE FROM revenue_claim WHERE clinic_id = %(c)s",
                "DELETE FROM revenue_encounter WHERE clinic_id = %(c)s",
                "DELETE FROM workforce_punch WHERE clinic_id = %(c)s",
                "DELETE FROM workforce_assignment a USING workforce_rosterweek w "
                "WHERE a.week_id = w.id AND w.clinic_id = %(c)s",
                "DELETE FROM workforce_rosterweek WHERE clinic_id = %(c)s",
                "DELETE FROM workforce_shifttemplate WHERE clinic_id = %(c)s",
                "DELETE FROM workforce_coveragerule WHERE clinic_id = %(c)s",
                "DELETE FROM workforce_overtimerule WHERE clinic_id = %(c)s",
                "DELETE FROM workforce_credential c USING core_staff_clinics sc "
                "WHERE c.staff_id = sc.staff_id AND sc.clinic_id = %(c)s",
                "DELETE FROM workforce_staffcontract c USING core_staff_clinics sc "
                "WHERE c.staff_id = sc.staff_id AND sc.clinic_id = %(c)s",
                "DELETE FROM supplies_stockmovement m USING supplies_locationitem li, "
                "supplies_stocklocation l WHERE m.location_item_id = li.id "
                "AND li.location_id = l.id AND l.clinic_id = %(c)s",
                "DELETE FROM supplies_locationitem li USING supplies_stocklocation l "
                "WHERE li.location_id = l.id AND l.clinic_id = %(c)s",
                "DELETE FROM supplies_stocklocation WHERE clinic_id = %(c)s",
                "DELETE FROM patientflow_visitevent e USING patientflow_visit v "
                "WHERE e.visit_id = v.id AND v.clinic_id = %(c)s",
                "DELETE FROM patientflow_visit WHERE clinic_id = %(c)s",
                "DELETE FROM scheduling_appointmentevent e USING scheduling_appointment a "
                "WHERE e.appointment_id = a.id AND a.clinic_id = %(c)s",
                "DELETE FROM scheduling_appointment WHERE clinic_id = %(c)s",
                "DELETE FROM scheduling_templateblock b USING scheduling_scheduletemplate t "
                "WHERE b.template_id = t.id AND t.clinic_id = %(c)s",
                "DELETE FROM scheduling_scheduletemplate WHERE clinic_id = %(c)s",
                "DELETE FROM scheduling_appointmenttype WHERE clinic_id = %(c)s",
                "DELETE FROM core_patient WHERE clinic_id = %(c)s",
            ]
            for statement in statements:
                cursor.execute(statement, {"c": clinic_id})
            cursor.execute(
                "SELECT s.id, s.user_id FROM core_staff s JOIN core_staff_clinics sc "
                "ON sc.staff_id = s.id WHERE sc.clinic_id = %s",
                [clinic_id],
            )
            staff = cursor.fetchall()
            cursor.execute("DELETE FROM core_staff_clinics WHERE clinic_id = %s", [clinic_id])
            for staff_id, user_id in staff:
                cursor.execute("DELETE FROM core_staff WHERE id = %s", [staff_id])
                cursor.execute("DELETE FROM core_user_groups WHERE user_id = %s", [user_id])
                cursor.execute("DELETE FROM core_user WHERE id = %s", [user_id])
            cursor.execute("DELETE FROM core_clinic WHERE id = %s", [clinic_id])
        finally:
            for table in append_only:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def ensure_clinic_year(
    *, year: int, visits: int, movements: int, fresh: bool = False, seed: int = 2026
) -> Generated:
    """The bench clinic-year: reused when a previous run wrote the same volumes."""
    found = None if fresh else existing(year)
    if found and (found.appointments, found.movements) == (visits, movements):
        print(
            f"reusing {CLINIC_NAME}: {found.appointments:,} appointments, "
            f"{found.movements:,} stock movements"
        )
        _ensure_extras(found, seed)
        return found
    if found or fresh:
        delete_clinic()
    made = generate(year=year, visits=visits, movements=movements, seed=seed)
    print(
        f"generated {CLINIC_NAME} {year}: {made.appointments:,} appointments, "
        f"{made.movements:,} stock movements in {made.seconds:.1f} s"
    )
    _ensure_extras(made, seed)
    return made


def _ensure_extras(made: Generated, seed: int) -> None:
    if has_extras(made.clinic_id):
        return
    started = time.perf_counter()
    counts = generate_extras(made.clinic_id, made.year, seed)
    done = ", ".join(f"{n:,} {what}" for what, n in counts.items())
    print(f"added {done} in {time.perf_counter() - started:.1f} s")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--visits", type=int, default=60_000)
    parser.add_argument("--movements", type=int, default=300_000)
    parser.add_argument("--database", help="database name (default: DATABASE_URL's + _bench_kpis)")
    parser.add_argument("--fresh", action="store_true", help="delete and regenerate the clinic")
    parser.add_argument("--seed", type=int, default=2026)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    setup_django(args.database)
    ensure_clinic_year(
        year=args.year,
        visits=args.visits,
        movements=args.movements,
        fresh=args.fresh,
        seed=args.seed,
    )
    return 0


# ---------------------------------------------------------------------------------------------
# The metrics registered since the first clinic-year: workforce (roster, time clock,
# credentials), revenue (claims and their ledger) and compliance (incidents). Added to the
# bench clinic when it has none yet, so an existing clinic-year is extended, not regenerated.

STAFF_ROLES = (("rn", 8), ("ma", 12), ("front_desk", 10))
SHIFTS = {"day": (clock(7, 30), clock(16)), "late": (clock(9), clock(17, 30))}
BREAK_MINUTES = 30


def has_extras(clinic_id: int) -> bool:
    from revenue.models import Claim

    return Claim.objects.filter(clinic_id=clinic_id).exists()


def generate_extras(clinic_id: int, year: int, seed: int = 2026) -> dict[str, int]:
    """Workforce, revenue and compliance rows for the bench clinic (see the section above)."""
    from django.db import connection, transaction

    from clinicops.core.models import Clinic

    rng = random.Random(seed + 1)
    clinic = Clinic.objects.get(pk=clinic_id)
    with transaction.atomic():
        counts = _workforce(clinic, year, rng)
        counts |= _revenue(clinic, year, rng)
        counts |= _incidents(clinic, year, rng)
    with connection.cursor() as cursor:
        for table in (
            "workforce_assignment",
            "workforce_punch",
            "workforce_credential",
            "revenue_claim",
            "revenue_ledgerentry",
            "compliance_incident",
        ):
            cursor.execute(f"ANALYZE {table}")
    return counts


def _workforce(clinic: Any, year: int, rng: random.Random) -> dict[str, int]:
    from clinicops.core.models import Staff, User
    from workforce.models import (
        Assignment,
        CoverageRule,
        Credential,
        CredentialType,
        OvertimeRule,
        Punch,
        RosterWeek,
        ShiftTemplate,
        StaffContract,
    )

    tz = ZoneInfo(TIME_ZONE)
    people: list[tuple[Staff, str]] = []
    for role, count in STAFF_ROLES:
        for n in range(count):
            user = User(username=f"bench-{role}-{clinic.pk}-{n}", first_name=role, last_name=f"{n}")
            user.set_unusable_password()
            user.save()
            staff = Staff.objects.create(user=user, title=role.upper())
            staff.clinics.add(clinic)
            also = ["front_desk"] if role == "ma" and n % 3 == 0 else []
            StaffContract.objects.create(staff=staff, role=role, also_covers=also)
            people.append((staff, role))
    templates = {
        (role, name): ShiftTemplate.objects.create(
            clinic=clinic,
            name=f"{name.title()} {role}",
            role=role,
            start_time=start,
            end_time=end,
            break_minutes=BREAK_MINUTES,
            weekdays=[0, 1, 2, 3, 4],
        )
        for role, _ in STAFF_ROLES
        for name, (start, end) in SHIFTS.items()
    }
    weekdays = [0, 1, 2, 3, 4]
    CoverageRule.objects.bulk_create(
        [
            CoverageRule(clinic=clinic, role="front_desk", kind="fixed", weekdays=weekdays,
                         start_time=clock(8), end_time=clock(17), count=2),
            CoverageRule(clinic=clinic, role="ma", kind="per_provider", weekdays=weekdays,
                         start_time=clock(8), end_time=clock(17), count=1),
            CoverageRule(clinic=clinic, role="rn", kind="fixed", weekdays=weekdays,
                         start_time=clock(8), end_time=clock(17), count=1),
            CoverageRule(clinic=clinic, role="rn", kind="per_patients", weekdays=weekdays,
                         start_time=clock(8), end_time=clock(17), patients_per_person=6),
        ]
    )  # fmt: skip
    # from July the clinic pays daily overtime past 8 h, its work week from Sunday 00:00
    OvertimeRule.objects.create(clinic=clinic, effective_from=date(year, 7, 1), daily_minutes=480)
    monday = date(year, 1, 1) - timedelta(days=date(year, 1, 1).weekday())
    weeks = {}
    while monday <= date(year, 12, 31):
        weeks[monday] = RosterWeek.objects.create(
            clinic=clinic, week_start=monday, status="published", version=1
        )
        monday += timedelta(days=7)

    def shifts() -> Iterable[tuple[Any, ...]]:
        for day in working_days(year):
            week = weeks[day - timedelta(days=day.weekday())]
            for staff, role in people:
                if rng.random() < 0.12:  # off (the fill rate shows the gap)
                    continue
                name = rng.choice(list(SHIFTS))
                start_time, end_time = SHIFTS[name]
                start = datetime.combine(day, start_time, tzinfo=tz).astimezone(UTC)
                end = datetime.combine(day, end_time, tzinfo=tz).astimezone(UTC)
                yield (week.pk, staff.pk, templates[(role, name)].pk, role, day, start, end,
                       BREAK_MINUTES, start)  # fmt: skip

    n_assignments = copy_rows(
        Assignment,
        ["week_id", "staff_id", "template_id", "role", "day", "start", "end", "break_minutes",
         "created_at"],
        list(shifts()),
    )  # fmt: skip
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT a.id, a.staff_id, a.start, a."end" FROM workforce_assignment a '
            "JOIN workforce_rosterweek w ON w.id = a.week_id WHERE w.clinic_id = %s "
            "ORDER BY a.start, a.id",
            [clinic.pk],
        )
        assignments = cursor.fetchall()

    def punches() -> Iterable[tuple[Any, ...]]:
        for assignment_id, staff_id, start, end in assignments:
            if rng.random() < 0.04:  # missed
                continue
            clock_in = start + timedelta(minutes=rng.randint(-12, 8), seconds=rng.randint(0, 59))
            lunch = start + timedelta(hours=4, minutes=rng.randint(-30, 30))
            back = lunch + timedelta(minutes=rng.randint(25, 40))
            stay = rng.randint(-10, 25) + (rng.randint(60, 240) if rng.random() < 0.1 else 0)
            clock_out = end + timedelta(minutes=stay, seconds=rng.randint(0, 59))
            for kind, at in (("in", clock_in), ("break_start", lunch), ("break_end", back),
                             ("out", clock_out)):  # fmt: skip
                yield (staff_id, clinic.pk, kind, at, "kiosk", assignment_id, uuid.uuid4(), at)

    n_punches = copy_rows(
        Punch,
        ["staff_id", "clinic_id", "kind", "at", "source", "assignment_id", "request_key",
         "recorded_at"],
        list(punches()),
    )  # fmt: skip
    # a manager's corrections: 1 % of clock-outs replaced by one 20 minutes later
    outs = list(
        Punch.objects.filter(clinic=clinic, kind="out")
        .order_by("at")
        .values_list("pk", "staff_id", "at", "assignment_id")
    )
    n_punches += copy_rows(
        Punch,
        ["staff_id", "clinic_id", "kind", "at", "source", "assignment_id", "request_key",
         "recorded_at", "replaces_id", "reason"],
        [
            (sid, clinic.pk, "out", at + timedelta(minutes=20), "manager", aid, uuid.uuid4(),
             at + timedelta(days=1), pk, "forgot to clock out")
            for pk, sid, at, aid in rng.sample(outs, len(outs) // 100)
        ],
    )  # fmt: skip
    bls, _ = CredentialType.objects.get_or_create(
        code="BLS", defaults={"name": "Basic Life Support", "required_for": ["rn", "ma"]}
    )
    licence, _ = CredentialType.objects.get_or_create(
        code="RN-LIC", defaults={"name": "Registered nurse licence", "required_for": ["rn"]}
    )
    credentials = []
    for staff, role in people:
        for kind in [bls, licence] if role == "rn" else [bls] if role == "ma" else []:
            issued = date(year - 2, 1, 1) + timedelta(days=rng.randrange(700))
            while issued <= date(year, 12, 31):
                expires = issued + timedelta(days=2 * 365)
                credentials.append(
                    Credential(staff=staff, type=kind, number=f"B{rng.randrange(10**8)}",
                               issuer="Bench board", issued_on=issued, expires_on=expires)
                )  # fmt: skip
                # most renew on time; some lapse for a few weeks first
                late = rng.randint(5, 40) if rng.random() < 0.25 else -rng.randint(0, 30)
                issued = expires + timedelta(days=late)
    Credential.objects.bulk_create(credentials)
    return {"assignments": n_assignments, "punches": n_punches, "credentials": len(credentials)}


def _revenue(clinic: Any, year: int, rng: random.Random) -> dict[str, int]:
    from django.db import connection

    from clinicops.core.models import Payer
    from revenue.models import Claim, Encounter, LedgerEntry

    tz = ZoneInfo(TIME_ZONE)
    payers = [
        Payer.objects.get_or_create(name=f"Bench payer {n}", defaults={"payer_id": f"BENCH{n}"})[0]
        for n in range(3)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.id, v.patient_id, a.provider_id, a.start FROM patientflow_visit v "
            "JOIN scheduling_appointment a ON a.id = v.appointment_id "
            "WHERE v.clinic_id = %s ORDER BY a.start, v.id",
            [clinic.pk],
        )
        visits = cursor.fetchall()
    now = datetime(year + 1, 1, 31, tzinfo=UTC)
    copy_rows(
        Encounter,
        ["visit_id", "clinic_id", "patient_id", "service_date", "rendering_provider_id",
         "status", "created_at", "updated_at"],
        [
            (vid, clinic.pk, pid, start.astimezone(tz).date(), prov, "ready", start, start)
            for vid, pid, prov, start in visits
        ],
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, visit_id, patient_id, service_date, rendering_provider_id "
            "FROM revenue_encounter WHERE clinic_id = %s ORDER BY id",
            [clinic.pk],
        )
        encounters = cursor.fetchall()
        cursor.execute("SELECT coalesce(max(id), 0) FROM revenue_claim")
        next_id = cursor.fetchone()[0] + 1
    claims, entries = [], []
    for n, (eid, _, pid, service, prov) in enumerate(encounters):
        claim_id = next_id + n
        charge = Decimal(rng.randrange(8000, 40000)) / 100
        seen = datetime.combine(service, clock(17), tzinfo=tz).astimezone(UTC)
        self_pay = rng.random() < 0.05
        scrubbed = None if self_pay else seen + timedelta(hours=rng.randint(14, 60))
        clean = None if self_pay else rng.random() < 0.92
        submitted = None
        if not self_pay and scrubbed + timedelta(days=2) < datetime(year, 12, 29, tzinfo=UTC):
            submitted = scrubbed + timedelta(hours=rng.randint(1, 50))
        remitted, denied = None, False
        if submitted is not None:
            remitted = submitted + timedelta(days=rng.randint(12, 40), hours=rng.randint(0, 8))
            denied = rng.random() < 0.07
        claims.append(
            (claim_id, clinic.pk, eid, pid, None if self_pay else rng.choice(payers).pk,
             f"B{claim_id:010d}", "1", "submitted" if submitted else "draft", service, prov,
             charge, "[]", scrubbed, scrubbed, clean, submitted, seen, seen, remitted, denied)
        )  # fmt: skip

        def post(kind: str, amount: Decimal, at: datetime) -> None:
            entries.append((clinic.pk, claim_id, pid, kind, amount, at, "bench"))  # noqa: B023

        if remitted is None:
            continue
        if denied:
            post("denial", charge, remitted)
            later = remitted + timedelta(days=rng.randint(20, 70))
            if rng.random() < 0.5:
                post("write_off", charge, later)
            else:  # appealed and paid
                post("payment", (charge * Decimal("0.6")).quantize(Decimal("0.01")), later)
                post("contractual", charge - (charge * Decimal("0.6")).quantize(Decimal("0.01")),
                     later)  # fmt: skip
            continue
        paid = (charge * Decimal(rng.randint(55, 80)) / 100).quantize(Decimal("0.01"))
        patient = Decimal(rng.choice([0, 0, 20, 30, 40]))
        post("payment", paid, remitted)
        post("contractual", charge - paid - patient, remitted)
        if patient:
            post("patient", patient, remitted)
            if rng.random() < 0.7:
                post("patient_payment", patient, remitted + timedelta(days=rng.randint(5, 60)))
        if rng.random() < 0.02:  # a takeback and its repost
            post("payment", -paid, remitted + timedelta(days=10))
            post("payment", paid, remitted + timedelta(days=11))
    n_claims = copy_rows(
        Claim,
        ["id", "clinic_id", "encounter_id", "patient_id", "payer_id", "control_number",
         "frequency", "status", "service_date", "rendering_provider_id", "total_charge",
         "edit_failures", "first_scrubbed_at", "last_scrubbed_at", "first_pass_clean",
         "submitted_at", "created_at", "status_changed_at", "first_remitted_at",
         "first_remit_denied"],
        claims,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('revenue_claim', 'id'), "
            "(SELECT max(id) FROM revenue_claim))"
        )
    n_entries = copy_rows(
        LedgerEntry,
        ["clinic_id", "claim_id", "patient_id", "kind", "amount", "posted_at",
         "posted_by_label"],
        [e for e in entries if e[5] < now],
    )  # fmt: skip
    return {"claims": n_claims, "ledger entries": n_entries}


def _incidents(clinic: Any, year: int, rng: random.Random) -> dict[str, int]:
    from clinicops.core.models import Staff
    from compliance.models import Incident

    reporter = Staff.objects.filter(clinics=clinic).select_related("user").first()
    assert reporter is not None  # noqa: S101 - the clinic's staff were made first
    tz = ZoneInfo(TIME_ZONE)
    rows = []
    for n in range(300):
        day = date(year, 1, 1) + timedelta(days=rng.randrange(365))
        reported = datetime.combine(day, clock(rng.randint(8, 17)), tzinfo=tz).astimezone(UTC)
        closed = reported + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 8))
        is_closed = rng.random() < 0.85 and closed < datetime(year + 1, 1, 1, tzinfo=UTC)
        rows.append(
            (clinic.pk, f"Bench incident {n}", "Synthetic.", "Exam room", reported,
             rng.choice(["medication", "device"]), "no_harm", reporter.user_id, reported,
             "closed" if is_closed else "investigating", closed if is_closed else None, "{}")
        )  # fmt: skip
    n = copy_rows(
        Incident,
        ["clinic_id", "title", "description", "location", "occurred_at", "category", "harm",
         "reported_by_id", "reported_at", "status", "closed_at", "fishbone"],
        rows,
    )  # fmt: skip
    return {"incidents": n}


if __name__ == "__main__":
    sys.exit(main())
