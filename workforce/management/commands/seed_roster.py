"""Demo rosters for every demo clinic: rostering staff with roles and contracts, shift
templates, coverage rules, and four weeks of rosters (the two past weeks and this week
published, next week a draft with gaps to fill). Idempotent: weeks that exist are kept."""

from __future__ import annotations

import random
from datetime import time, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.tests.factories import DEMO_PASSWORD
from workforce.models import (
    Assignment,
    CoverageRule,
    RosterRole,
    RosterWeek,
    ShiftTemplate,
    StaffContract,
    Unavailability,
)
from workforce.services import autofill_runs, weeks

WEEKDAYS = [0, 1, 2, 3, 4]
SAT = [5]

# name, role, start, end, break, days
TEMPLATES = [
    ("Desk early", RosterRole.FRONT_DESK, time(7, 30), time(15, 30), 30, WEEKDAYS),
    ("Desk late", RosterRole.FRONT_DESK, time(11, 30), time(19, 30), 30, WEEKDAYS),
    ("Desk Saturday", RosterRole.FRONT_DESK, time(8, 0), time(13, 0), 0, SAT),
    ("MA day", RosterRole.MEDICAL_ASSISTANT, time(8, 0), time(16, 30), 30, WEEKDAYS),
    ("MA late", RosterRole.MEDICAL_ASSISTANT, time(11, 0), time(19, 30), 30, WEEKDAYS),
    ("MA Saturday", RosterRole.MEDICAL_ASSISTANT, time(8, 0), time(13, 0), 0, SAT),
    ("RN day", RosterRole.NURSE, time(8, 0), time(16, 30), 30, WEEKDAYS),
    ("Provider day", RosterRole.PROVIDER, time(8, 0), time(17, 0), 60, WEEKDAYS),
]

# role, kind, start, end, count, patients per person, days
RULES = [
    (RosterRole.FRONT_DESK, CoverageRule.Kind.FIXED, time(8), time(18), 1, 0, WEEKDAYS),
    (RosterRole.FRONT_DESK, CoverageRule.Kind.FIXED, time(8), time(10), 2, 0, WEEKDAYS),
    (RosterRole.FRONT_DESK, CoverageRule.Kind.PER_PATIENTS, time(8), time(18), 1, 6, WEEKDAYS),
    (RosterRole.FRONT_DESK, CoverageRule.Kind.FIXED, time(8), time(12), 1, 0, SAT),
    (
        RosterRole.MEDICAL_ASSISTANT,
        CoverageRule.Kind.PER_PROVIDER,
        time(8),
        time(18),
        1,
        0,
        WEEKDAYS,
    ),
    (RosterRole.MEDICAL_ASSISTANT, CoverageRule.Kind.FIXED, time(8), time(12), 1, 0, SAT),
    (RosterRole.NURSE, CoverageRule.Kind.FIXED, time(8), time(16), 1, 0, WEEKDAYS),
]

# Extra rostering staff per clinic: (first, last, portal role, roster role, hours a week).
EXTRA = [
    ("Jordan", "Reed", roles.FRONT_DESK, RosterRole.FRONT_DESK, 40),
    ("Casey", "Nguyen", roles.FRONT_DESK, RosterRole.FRONT_DESK, 32),
    ("Riley", "Foster", roles.FRONT_DESK, RosterRole.FRONT_DESK, 24),
    ("Avery", "Patel", roles.NURSE, RosterRole.MEDICAL_ASSISTANT, 40),
    ("Morgan", "Diaz", roles.NURSE, RosterRole.MEDICAL_ASSISTANT, 40),
    ("Quinn", "Walsh", roles.NURSE, RosterRole.MEDICAL_ASSISTANT, 32),
    ("Skyler", "Okoro", roles.NURSE, RosterRole.MEDICAL_ASSISTANT, 24),
    ("Harper", "Lind", roles.NURSE, RosterRole.NURSE, 40),
]

PORTAL_TO_ROSTER = {
    roles.FRONT_DESK: RosterRole.FRONT_DESK,
    roles.NURSE: RosterRole.NURSE,
    roles.PROVIDER: RosterRole.PROVIDER,
}


class Command(BaseCommand):
    help = "Demo rosters: staff contracts, shift templates, coverage rules, four weeks (DEMO DATA)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--time-limit", type=int, default=2, help="Solver seconds per week.")

    def handle(self, *args: Any, seed: int = 2026, time_limit: int = 2, **options: Any) -> None:
        rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        password = make_password(DEMO_PASSWORD)
        groups = {g.name: g for g in Group.objects.filter(name__in=roles.ALL_ROLES)}
        for clinic in Clinic.objects.filter(is_active=True).order_by("pk"):
            with transaction.atomic():
                self._reference(clinic, groups, password)
            self._weeks(clinic, rng, time_limit)

    def _reference(self, clinic: Clinic, groups: dict[str, Group], password: str) -> None:
        tag = (clinic.short_name or f"c{clinic.pk}").lower().replace(" ", "")
        for i, (first, last, portal, roster_role, hours) in enumerate(EXTRA):
            user, created = User.objects.get_or_create(
                username=f"{tag}.{first.lower()}",
                defaults={
                    "first_name": first,
                    "last_name": f"{last}",
                    "email": f"{tag}.{first.lower()}@example.org",
                    "password": password,
                },
            )
            staff, _ = Staff.objects.get_or_create(user=user, defaults={"title": roster_role.label})
            staff.clinics.add(clinic)
            user.groups.add(groups[portal])
            also = (
                [RosterRole.FRONT_DESK]
                if roster_role == RosterRole.MEDICAL_ASSISTANT and i % 2
                else []
            )
            StaffContract.objects.get_or_create(
                staff=staff,
                defaults={
                    "role": roster_role,
                    "also_covers": also,
                    "contract_minutes_week": hours * 60,
                },
            )
            if created and i == 2:
                Unavailability.objects.create(
                    staff=staff, weekday=2, start_time=time(7), end_time=time(12), note="college"
                )
        # The clinic's own portal staff with a rostering role get a contract too.
        for staff in Staff.objects.filter(clinics=clinic).select_related("user"):
            if hasattr(staff, "contract"):
                continue
            found = [r for r in staff.user.role_names if r in PORTAL_TO_ROSTER]
            if not found:
                continue
            portal = found[0]
            StaffContract.objects.create(
                staff=staff, role=PORTAL_TO_ROSTER[portal], contract_minutes_week=40 * 60
            )
        for name, role, start, end, brk, days in TEMPLATES:
            ShiftTemplate.objects.get_or_create(
                clinic=clinic,
                name=name,
                defaults={
                    "role": role,
                    "start_time": start,
                    "end_time": end,
                    "break_minutes": brk,
                    "weekdays": days,
                },
            )
        if not CoverageRule.objects.filter(clinic=clinic).exists():
            for role, kind, start, end, count, per, days in RULES:
                CoverageRule.objects.create(
                    clinic=clinic,
                    role=role,
                    kind=kind,
                    start_time=start,
                    end_time=end,
                    count=count,
                    patients_per_person=per,
                    weekdays=days,
                )

    def _weeks(self, clinic: Clinic, rng: random.Random, time_limit: int) -> None:
        this_monday = weeks.monday_of(clinic.today())
        for offset in (-2, -1, 0, 1):
            start = this_monday + timedelta(weeks=offset)
            if RosterWeek.objects.filter(clinic=clinic, week_start=start).exists():
                continue
            week = weeks.week_for(clinic, start)
            run = autofill_runs.start(actor=None, week=week, time_limit=time_limit)
            run = autofill_runs.execute(run.pk)
            if run.status == run.Status.DONE:
                autofill_runs.apply(actor=None, run=run)
            if offset < 1:
                weeks.publish(actor=None, week=week, override_reason="Demo history")
            else:
                # Next week: a draft with gaps to fill.
                shifts = list(Assignment.objects.filter(week=week).order_by("pk"))
                for assignment in rng.sample(shifts, min(len(shifts), max(3, len(shifts) // 4))):
                    weeks.remove_assignment(actor=None, assignment=assignment)
            self.stdout.write(f"  {clinic.short_name or clinic.name}: week of {start} seeded")
