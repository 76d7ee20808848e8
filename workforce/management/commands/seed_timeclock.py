"""Demo time clock and credentials for every demo clinic (DEMO DATA): overtime rules, kiosk PINs
(2468 for everyone) and badge codes, punches for the rostered shifts that have ended (some late,
some missed, some long days into overtime), timesheets of the oldest week confirmed and partly
approved, credential types and credentials (a few expiring soon, one lapsed). Idempotent: a
clinic with demo punches is left alone; deterministic for a seed."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from clinicops.core.models import Clinic
from workforce import timesheets
from workforce.models import (
    Assignment,
    Credential,
    CredentialType,
    OvertimeRule,
    Punch,
    RosterRole,
    StaffContract,
    TimeclockBadge,
)
from workforce.services import timesheet_weeks
from workforce.services.timeclock import PunchError, _flag, grace_for

DEMO_PIN = "2468"

# code, name, roles that need it
TYPES = [
    ("RN", "State registered nurse licence", [RosterRole.NURSE]),
    ("BLS", "Basic Life Support", [RosterRole.NURSE, RosterRole.MEDICAL_ASSISTANT]),
    ("ACLS", "Advanced Cardiac Life Support", [RosterRole.PROVIDER]),
    ("DEA", "DEA controlled substance registration", [RosterRole.PROVIDER]),
    ("MD", "State medical licence", [RosterRole.PROVIDER]),
    ("CMA", "Certified medical assistant", []),
]


class Command(BaseCommand):
    help = "Demo time clock, timesheets and credentials (DEMO DATA)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, seed: int = 2026, **options: Any) -> None:
        rng = random.Random(seed + 16)  # noqa: S311 - demo data, not secrets
        pin_hash = make_password(DEMO_PIN)
        types = self._types()
        lapsed_done = False
        for index, clinic in enumerate(Clinic.objects.filter(is_active=True).order_by("pk")):
            if Punch.objects.filter(clinic=clinic, source=Punch.Source.DEMO).exists():
                continue
            with transaction.atomic():
                self._rule(clinic, index)
                people = self._pins(clinic, pin_hash)
                lapsed_done = self._credentials(people, types, rng, lapsed_done)
                count = self._punches(clinic, rng)
            self._timesheets(clinic)
            self.stdout.write(f"  {clinic.short_name or clinic.name}: {count} demo punches")

    def _types(self) -> dict[str, CredentialType]:
        out = {}
        for code, name, roles in TYPES:
            out[code], _ = CredentialType.objects.get_or_create(
                code=code, defaults={"name": name, "required_for": roles}
            )
        return out

    def _rule(self, clinic: Clinic, index: int) -> None:
        # The first clinic counts weekly overtime only; the second also daily (8 h, double
        # after 12 h), as some states require.
        OvertimeRule.objects.get_or_create(
            clinic=clinic,
            effective_from=date(2026, 1, 1),
            defaults={
                "week_start_day": 6,
                "week_start_hour": 0,
                "daily_minutes": 480 if index % 2 else None,
                "double_minutes": 720 if index % 2 else None,
            },
        )

    def _pins(self, clinic: Clinic, pin_hash: str) -> list[StaffContract]:
        contracts = list(
            StaffContract.objects.filter(staff__clinics=clinic, is_active=True)
            .select_related("staff__user")
            .order_by("staff__user__username")
        )
        tag = (clinic.short_name or f"c{clinic.pk}").upper().replace(" ", "")[:6]
        for i, c in enumerate(contracts):
            TimeclockBadge.objects.get_or_create(
                staff=c.staff,
                defaults={"pin_hash": pin_hash, "badge_code": f"{tag}-{c.staff_id:04d}-{i}"},
            )
        return contracts

    def _credentials(
        self,
        contracts: list[StaffContract],
        types: dict[str, CredentialType],
        rng: random.Random,
        lapsed_done: bool,
    ) -> bool:
        today = timezone.localdate()
        soon = [6, 25, 52]  # days left for a few: the 7, 30 and 60-day alerts
        for c in contracts:
            if Credential.objects.filter(staff=c.staff).exists():
                continue
            for code, t in types.items():
                if not c.roles & set(t.required_for):
                    continue
                issued = today - timedelta(days=rng.randint(300, 900))
                expires: date | None = today + timedelta(days=rng.randint(120, 700))
                if code == "BLS" and c.role == RosterRole.NURSE and not lapsed_done:
                    expires = today - timedelta(days=9)  # lapsed: blocks the roster
                    lapsed_done = True
                elif soon and rng.random() < 0.3:
                    expires = today + timedelta(days=soon.pop(0))
                elif code in ("RN", "MD"):
                    expires = date(today.year + 1, 12, 31)
                Credential.objects.create(
                    staff=c.staff,
                    type=t,
                    number=f"{code}-{c.staff_id:05d}",
                    issuer="State board" if code in ("RN", "MD") else "American Heart Association",
                    state="NY" if code in ("RN", "MD") else "",
                    issued_on=issued,
                    expires_on=expires,
                )
        return lapsed_done

    def _punches(self, clinic: Clinic, rng: random.Random) -> int:
        now = timezone.now()
        grace = grace_for(clinic.pk)
        self._clinic_id = clinic.pk
        shifts = list(
            Assignment.objects.filter(week__clinic=clinic, end__lt=now, week__version__gt=0)
            .select_related("template")
            .order_by("staff_id", "start")
        )
        long_days = {a.staff_id for a in shifts[:1]}  # one person stays late every day
        rows = []
        for a in shifts:
            roll = rng.random()
            if roll < 0.06:
                continue  # missed: no punch at all
            if roll < 0.2:
                offset = rng.randint(9, 25)  # late
            elif roll < 0.28:
                offset = -rng.randint(10, 20)  # early
            else:
                offset = rng.randint(-6, 4)
            start = a.start + timedelta(minutes=offset)
            extra = 120 if a.staff_id in long_days else (rng.choice([0, 0, 0, 45, 75]))
            end = a.end + timedelta(minutes=extra + rng.randint(-4, 4))
            rows.append(self._row(a, "in", start, grace))
            if a.break_minutes:
                mid = a.start + (a.end - a.start) / 2
                rows.append(self._row(a, "break_start", mid, grace))
                rows.append(
                    self._row(a, "break_end", mid + timedelta(minutes=a.break_minutes), grace)
                )
            rows.append(self._row(a, "out", end, grace))
        Punch.objects.bulk_create(rows)
        return len(rows)

    def _row(self, a: Assignment, kind: str, at: Any, grace: timedelta) -> Punch:
        return Punch(
            staff_id=a.staff_id,
            clinic_id=self._clinic_id,
            kind=kind,
            at=at,
            source=Punch.Source.DEMO,
            assignment=a,
            flag=_flag(kind, at, a, grace),
            request_key=uuid.uuid4(),
        )

    def _timesheets(self, clinic: Clinic) -> None:
        """The oldest full work week: everyone confirms; every other person is approved."""
        first = timesheets.work_week_of(clinic, timezone.now() - timedelta(days=14))
        for i, staff in enumerate(timesheets.people_in_week(clinic, first)):
            try:
                timesheet_weeks.confirm(actor=None, staff=staff, clinic=clinic, first_day=first)
                if i % 2 == 0:
                    timesheet_weeks.approve(actor=None, staff=staff, clinic=clinic, first_day=first)
            except PunchError:
                continue  # e.g. a missed clock-out: left for the manager
