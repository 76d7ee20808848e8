"""Every registered metric's weekly figure, checked against a straightforward computation.

For each metric in the registry (parametrized at collection, so a metric registered later is
picked up without touching this file) a seeded random clinic (two seeds) gets raw rows
(appointments with when each was booked, cancelled or marked a no-show, time off, closures,
stock ledger lines, visits and their steps) over five weeks: an ordinary week, an empty week,
a week of zero denominators, the week New York springs forward (2026-03-08) and the week it
falls back (2026-11-01). The engine rolls the days up; each week's figure must equal, to
rounding, a reference computed here from the raw rows in plain Python (local dates by
zoneinfo, no SQL aggregate, none of the app's own functions). Then late data lands (a status
changed days later, supplies logged late, retroactive time off) and the nightly re-roll must
pick it up; and each range function must give exactly the per-day function's parts.

A registered metric with no reference here fails loudly: add its reference to REFERENCES.
"""

from __future__ import annotations

import copy
import random
import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.db import transaction
from django.db.models import F

from clinicops.core.models import Clinic, Patient, Staff
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, StaffFactory
from clinicops.kpis import registry, selectors, services, tasks
from clinicops.kpis.registry import Kind, Metric, Unit

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
SEED = 20260202
# Monday -> what the week holds. 8 March and 1 November 2026 are New York's DST Sundays.
WEEKS = {
    date(2026, 2, 2): "normal",
    date(2026, 2, 9): "empty",
    date(2026, 2, 16): "zero",
    date(2026, 3, 2): "normal",
    date(2026, 10, 26): "normal",
}
ZERO_WEEK = date(2026, 2, 16)
LATE_DAY = date(2026, 2, 5)  # a Thursday of the first week: data about it arrives later
NIGHT_OF = date(2026, 2, 8)  # the nightly re-roll: yesterday and the trailing window
TNAA_HORIZON = 90


def days_of(monday: date) -> list[date]:
    return [monday + timedelta(days=i) for i in range(7)]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK).astimezone(UTC)


def local_day(moment: datetime) -> date:
    return moment.astimezone(NEW_YORK).date()


# --- the raw data -----------------------------------------------------------------------


@dataclass
class World:
    """A clinic in New York with two providers, a cart and a supply room, and a neighbour
    clinic whose rows must never count."""

    clinic: Clinic
    other: Clinic
    rng: random.Random
    providers: list[Staff] = field(default_factory=list)
    patients: list[Patient] = field(default_factory=list)
    types: list[Any] = field(default_factory=list)
    location_items: list[Any] = field(default_factory=list)
    other_items: list[Any] = field(default_factory=list)
    other_provider: Staff | None = None
    early_cancels_only: bool = False
    desk: list[Staff] = field(default_factory=list)
    neighbour: Staff | None = None

    @property
    def models(self) -> Any:
        return apps.get_model

    # -- scheduling --

    def build_schedule(self) -> None:
        AppointmentType = apps.get_model("scheduling", "AppointmentType")
        ScheduleTemplate = apps.get_model("scheduling", "ScheduleTemplate")
        TemplateBlock = apps.get_model("scheduling", "TemplateBlock")
        self.types = [
            AppointmentType.objects.create(
                clinic=self.clinic, name="Follow-up", duration_minutes=20
            ),
            AppointmentType.objects.create(
                clinic=self.clinic, name="New patient", duration_minutes=40
            ),
        ]
        AppointmentType.objects.create(
            clinic=self.clinic, name="Retired", duration_minutes=20, is_active=False
        )
        for index, provider in enumerate(self.providers):
            template = ScheduleTemplate.objects.create(
                clinic=self.clinic, provider=provider, effective_from=date(2025, 1, 1)
            )
            # written long before the weeks measured (TNAA reads templates as they stood)
            ScheduleTemplate.objects.filter(pk=template.pk).update(
                created_at=datetime(2024, 12, 1, tzinfo=UTC)
            )
            for weekday in range(5):
                for start, end, kind in (
                    (time(8), time(12), "regular"),
                    (time(12), time(13), "admin"),
                    (time(13), time(16), "regular"),
                    (time(16), time(17), "same_day_hold"),
                ):
                    TemplateBlock.objects.create(
                        template=template,
                        weekday=weekday,
                        start_time=start,
                        end_time=end,
                        slot_minutes=20,
                        kind=kind,
                    )
            if index == 0:
                block = TemplateBlock.objects.create(
                    template=template,
                    weekday=5,
                    start_time=time(9),
                    end_time=time(11),
                    slot_minutes=20,
                    kind="regular",
                )
                block.appointment_types.set([self.types[0]])  # Saturdays: follow-ups only
                TemplateBlock.objects.create(
                    template=template,
                    weekday=5,
                    start_time=time(11),
                    end_time=time(12),
                    slot_minutes=20,
                    kind="buffer",
                )

    def appointment(
        self, clinic: Clinic, provider: Staff, start: datetime, minutes: int, status: str
    ) -> Any:
        """An appointment with a booking history: booked 0-20 days ahead (sometimes after the
        morning of its own day), cancelled before its start, a no-show marked after it; some
        with status events (as the services write them), some without (imports)."""
        Appointment = apps.get_model("scheduling", "Appointment")
        AppointmentEvent = apps.get_model("scheduling", "AppointmentEvent")
        rng = self.rng
        cancelled = status == "cancelled"
        late = cancelled and rng.random() < 0.4 and not self.early_cancels_only
        booked_at = start - timedelta(hours=rng.choice([1, 5, 20, 30, 70, 200, 480]))
        cancelled_at = start - timedelta(hours=rng.choice([2, 30, 100])) if cancelled else None
        if cancelled_at is not None and cancelled_at < booked_at:
            cancelled_at = booked_at + timedelta(minutes=30)
        appointment = Appointment.objects.create(
            clinic=clinic,
            patient=rng.choice(self.patients) if clinic == self.clinic else self.far(),
            provider=provider,
            appointment_type=self.types[0] if clinic == self.clinic else self.other_type(),
            start=start,
            end=start + timedelta(minutes=minutes),
            status=status,
            late_cancel=late,
            cancel_reason=(rng.choice(["patient", "rescheduled", "provider"]) if cancelled else ""),
            cancelled_at=cancelled_at,
        )
        Appointment.objects.filter(pk=appointment.pk).update(created_at=booked_at)
        appointment.created_at = booked_at
        if rng.random() < 0.6:
            events = [("", "booked", booked_at)]
            if cancelled:
                events.append(("booked", "cancelled", cancelled_at))
            elif status == "no_show":
                marked = start + timedelta(minutes=rng.choice([10, 90]))
                events.append(("booked", "no_show", marked))
            elif status in ("arrived", "completed"):
                events.append(("booked", "arrived", start))
            for before, after, at in events:
                AppointmentEvent.objects.create(
                    appointment=appointment,
                    at=at,
                    actor_label="desk",
                    from_status=before,
                    to_status=after,
                )
        return appointment

    def far(self) -> Patient:
        return PatientFactory(clinic=self.other)

    def other_type(self) -> Any:
        AppointmentType = apps.get_model("scheduling", "AppointmentType")
        return AppointmentType.objects.get_or_create(
            clinic=self.other, name="Other visit", defaults={"duration_minutes": 20}
        )[0]

    def status(self) -> str:
        return self.rng.choices(
            ["booked", "confirmed", "arrived", "completed", "no_show", "cancelled"],
            weights=[15, 10, 5, 45, 10, 15],
        )[0]

    def seed_appointments(self, day: date, mode: str) -> None:
        if mode == "empty":
            return
        ClinicClosure = apps.get_model("scheduling", "ClinicClosure")
        ProviderTimeOff = apps.get_model("scheduling", "ProviderTimeOff")
        # A week of zero denominators: closed, and everything cancelled well ahead.
        self.early_cancels_only = mode == "zero"
        if mode == "zero":
            ClinicClosure.objects.create(clinic=self.clinic, day=day, reason="Flood")
        weekday_slots = [local(day, 8) + timedelta(minutes=20 * i) for i in range(12)] + [
            local(day, 13) + timedelta(minutes=20 * i) for i in range(9)
        ]
        slots = weekday_slots if day.weekday() < 5 else []
        for provider in self.providers:
            for start in slots:
                if self.rng.random() < 0.55:
                    status = "cancelled" if mode == "zero" else self.status()
                    self.appointment(self.clinic, provider, start, 20, status)
        # Around midnight and the small hours (the DST Sunday's 02:30 does not exist, and
        # 01:30 happens twice when the clocks go back): the local date decides the day.
        for hour, minute in ((0, 10), (1, 30), (2, 30), (23, 40)):
            if self.rng.random() < 0.5:
                status = "cancelled" if mode == "zero" else self.status()
                self.appointment(
                    self.clinic, self.providers[0], local(day, hour, minute), 20, status
                )
        if mode == "normal" and day.weekday() < 5 and self.rng.random() < 0.3:
            off = ProviderTimeOff.objects.create(
                provider=self.providers[1], start=local(day, 13), end=local(day, 15)
            )
            # recorded some days ahead, or on the day itself after the morning measurement
            created = local(day, 13) - timedelta(hours=self.rng.choice([2, 100]))
            ProviderTimeOff.objects.filter(pk=off.pk).update(created_at=created)
        if mode == "normal" and day != LATE_DAY and self.rng.random() < 0.1:
            ClinicClosure.objects.get_or_create(clinic=self.clinic, day=day)
        # The neighbour: its rows share our days but not our clinic.
        assert self.other_provider is not None
        for hour in (0, 9, 23):
            self.appointment(
                self.other, self.other_provider, local(day, hour, 20), 20, self.status()
            )

    # -- supplies --

    def build_supplies(self) -> None:
        from supplies.models import LocationItem, StockLocation, SupplyItem

        extra = [
            SupplyItem.objects.create(sku=f"X-{i}", name=f"Extra {i}", unit_cost=Decimal(1))
            for i in range(2)
        ]
        locations = [
            StockLocation.objects.create(
                clinic=self.clinic, name="Supply room", kind="supply_room"
            ),
            StockLocation.objects.create(clinic=self.clinic, name="Exam 1 cart"),
        ]
        items = [
            SupplyItem.objects.create(
                sku=f"C-{i:03d}",
                name=f"Item {i}",
                unit_cost=Decimal(self.rng.choice(["0.12", "0.45", "1.30", "12.75"])),
                is_critical=i % 3 == 0,
            )
            for i in range(6)
        ]
        self.location_items = [
            LocationItem.objects.create(
                location=loc, item=item, par=10, reorder_point=4, max_quantity=20
            )
            for loc in locations
            for item in items
        ]
        elsewhere = StockLocation.objects.create(clinic=self.other, name="Their cart")
        self.other_items = [
            LocationItem.objects.create(
                location=elsewhere, item=item, par=10, reorder_point=4, max_quantity=20
            )
            for item in items[:3]
        ]
        # Not tracked: par 0, and an item no longer stocked here.
        LocationItem.objects.create(location=locations[0], item=extra[0], par=0)
        retired = LocationItem.objects.create(
            location=locations[1], item=extra[1], par=5, max_quantity=5, is_active=False
        )
        # Opening balances: most items from before the first week, one only from its Thursday
        # (not tracked before it existed), one never stocked at all (not tracked).
        for index, location_item in enumerate([*self.location_items, *self.other_items]):
            if index == len(self.location_items) - 1:
                continue
            opened = date(2026, 2, 5) if index == 3 else date(2026, 1, 30)
            self.movement(location_item, local(opened, 7), "receive", size=self.rng.randint(3, 9))
        self.movement(retired, local(date(2026, 1, 30), 7), "receive", size=1)
        self.movement(retired, local(date(2026, 2, 3), 7), "use", size=1)

    def movement(
        self, location_item: Any, at: datetime, kind: str | None = None, size: int | None = None
    ) -> Any:
        from supplies.models import StockMovement

        kind = (
            kind
            or self.rng.choices(
                ["use", "return", "waste", "receive", "count_adjust"], weights=[65, 10, 10, 10, 5]
            )[0]
        )
        size = size or self.rng.randint(1, 4)
        if kind == "count_adjust":
            size = self.rng.choice([-2, -1, 1, 3])
        return StockMovement.objects.create(
            location_item=location_item,
            kind=kind,
            quantity=size if kind in ("return", "receive", "count_adjust") else -size,
            # the cost at the time: prices move, the ledger keeps each line's own
            unit_cost=location_item.item.unit_cost + Decimal(self.rng.choice(["0", "0.05"])),
            occurred_at=at,
            reason={"return": "unused", "waste": "damaged", "count_adjust": "miscounted"}.get(
                kind, ""
            ),
            patient=self.rng.choice(self.patients)
            if kind == "use" and self.rng.random() < 0.3
            else None,
        )

    def seed_supplies(self, day: date, mode: str) -> None:
        if mode == "empty":
            return
        for _ in range(self.rng.randint(4, 12)):
            at = local(day, 0) + timedelta(minutes=self.rng.randint(0, 23 * 60 + 59))
            self.movement(
                self.rng.choice(self.location_items), at, "use" if mode == "zero" else None
            )
        for hour, minute in ((0, 2), (23, 58)):
            self.movement(self.rng.choice(self.location_items), local(day, hour, minute), "use")
        self.movement(self.rng.choice(self.other_items), local(day, 12), "use")
        if mode != "zero" and self.rng.random() < 0.5:
            # a refill at the end of some days (and, on the DST Sundays, in the small hours)
            for location_item in self.rng.sample(self.location_items, 3):
                self.movement(location_item, local(day, 1, 30), "receive", size=6)

    # -- patient flow --

    def visit(self, appointment: Any, *, walk_in: bool = False) -> Any:
        """A visit for an arrived or completed appointment, with its step events: some leave
        early, some are still in the clinic, and some had a step undone and redone."""
        Visit = apps.get_model("patientflow", "Visit")
        VisitEvent = apps.get_model("patientflow", "VisitEvent")
        rng = self.rng
        checked_in = appointment.start + timedelta(
            minutes=0 if walk_in else rng.randint(-25, 15), seconds=rng.randint(0, 59)
        )
        steps = ["checked_in", "roomed", "with_provider", "ready_for_checkout", "checked_out"]
        if appointment.status == "arrived":
            # still in the clinic: waiting to be roomed, or to check out (a visit in a room
            # would need a room of its own; the metrics read the events either way)
            steps = steps[: rng.choice([1, 4])]
        elif rng.random() < 0.05:
            steps = ["checked_in", "left_without_being_seen"]
        visit = Visit.objects.create(
            clinic=appointment.clinic,
            appointment=appointment,
            patient=appointment.patient,
            is_walk_in=walk_in,
            step_since=checked_in,
            checked_in_at=checked_in,
        )
        at, previous = checked_in, ""
        for step in steps:
            if step != "checked_in":
                at += timedelta(minutes=rng.randint(1, 30), seconds=rng.randint(0, 59))
            if step == "with_provider" and rng.random() < 0.2:
                # a mistaken click, undone, then the real one a little later
                wrong = VisitEvent.objects.create(
                    visit=visit, from_step=previous, to_step=step, at=at, actor_label="nurse"
                )
                at += timedelta(minutes=rng.randint(1, 4))
                VisitEvent.objects.create(
                    visit=visit,
                    kind="undo",
                    undoes=wrong,
                    from_step=step,
                    to_step=previous,
                    at=at,
                    actor_label="nurse",
                    reason="Wrong patient",
                )
                at += timedelta(minutes=rng.randint(1, 10))
            VisitEvent.objects.create(
                visit=visit, from_step=previous, to_step=step, at=at, actor_label="nurse"
            )
            previous = step
        Visit.objects.filter(pk=visit.pk).update(
            step=previous, step_since=at, checked_out_at=at if previous == "checked_out" else None
        )
        return visit

    def seed_visits(self, day: date) -> None:
        Appointment = apps.get_model("scheduling", "Appointment")
        start, end = local(day, 0), local(day + timedelta(days=1), 0)
        for appointment in (
            Appointment.objects.filter(
                start__gte=start, start__lt=end, status__in=["arrived", "completed"]
            )
            .select_related("clinic", "patient")
            .order_by("start", "pk")
        ):
            # (in creation order: the default ordering goes by provider name, which the
            # factories draw at random, and would make the seeded world differ run to run)
            self.visit(appointment, walk_in=self.rng.random() < 0.1)

    # -- workforce --

    def build_roster(self) -> None:
        """Front desk needed one per two live bookings an hour (no fixed floor, so weeks with
        nothing booked have no data); two desk staff and an MA, who is not qualified for it."""
        CoverageRule = apps.get_model("workforce", "CoverageRule")
        StaffContract = apps.get_model("workforce", "StaffContract")
        CoverageRule.objects.create(
            clinic=self.clinic,
            role="front_desk",
            kind="per_patients",
            weekdays=list(range(7)),
            start_time=time(7),
            end_time=time(21),
            patients_per_person=2,
        )
        self.desk = [StaffFactory(clinics=[self.clinic]) for _ in range(3)]
        for staff, role in zip(self.desk, ("front_desk", "front_desk", "ma"), strict=True):
            StaffContract.objects.create(staff=staff, role=role)

    def shift(self, week: Any, staff: Staff, day: date, start: int, end: int) -> None:
        ShiftTemplate = apps.get_model("workforce", "ShiftTemplate")
        Assignment = apps.get_model("workforce", "Assignment")
        template, _ = ShiftTemplate.objects.get_or_create(
            clinic=self.clinic,
            name=f"Desk {start}-{end}",
            defaults={
                "role": "front_desk",
                "start_time": time(start),
                "end_time": time(end),
                "weekdays": list(range(7)),
            },
        )
        Assignment.objects.create(
            week=week,
            staff=staff,
            template=template,
            role="front_desk",
            day=day,
            start=local(day, start),
            end=local(day, end),
        )

    def seed_roster(self, monday: date) -> None:
        RosterWeek = apps.get_model("workforce", "RosterWeek")
        week = RosterWeek.objects.create(
            clinic=self.clinic, week_start=monday, status="published", version=1
        )
        for day in days_of(monday):
            self.shift(week, self.desk[0], day, 7, 15)
            if day != LATE_DAY:
                self.shift(week, self.desk[1], day, 12, 20)
            self.shift(week, self.desk[2], day, 9, 17)  # not qualified: never counts

    # -- workforce II: the time clock and credentials --

    def punch(self, staff: Staff, kind: str, at: datetime, clinic: Clinic | None = None) -> Any:
        Punch = apps.get_model("workforce", "Punch")
        return Punch.objects.create(
            staff=staff,
            clinic=clinic or self.clinic,
            kind=kind,
            at=at,
            source="demo",
            request_key=uuid.uuid4(),
        )

    def seed_punches(self, monday: date, mode: str) -> None:
        """Normal weeks: desk[0] 07:00 to about 15:30 every day, desk[1] 12:00 to about 20:00
        with a half-hour break, desk[2] overnight 22:00 to 06:00 (the DST nights are 7 and 9
        real hours); each week over 40 h in the Sunday-to-Saturday work week. A neighbour's
        person punches there. Its own random numbers: the other metrics' world stays as was."""
        if mode != "normal":
            return
        rng = random.Random(monday.toordinal() + 7)
        for day in days_of(monday):
            self.punch(self.desk[0], "in", local(day, 7, rng.randint(0, 9)))
            self.punch(self.desk[0], "out", local(day, 15, rng.randint(0, 59)))
            self.punch(self.desk[1], "in", local(day, 12))
            self.punch(self.desk[1], "break_start", local(day, 15, rng.randint(0, 20)))
            self.punch(self.desk[1], "break_end", local(day, 15, rng.randint(30, 50)))
            self.punch(self.desk[1], "out", local(day, 20, rng.randint(0, 30)))
            self.punch(self.desk[2], "in", local(day, 22))
            self.punch(self.desk[2], "out", local(day + timedelta(days=1), 6))
            if self.neighbour is not None:
                self.punch(self.neighbour, "in", local(day, 8), clinic=self.other)
                self.punch(self.neighbour, "out", local(day, 19), clinic=self.other)

    def seed_credentials(self) -> None:
        """BLS for the desk, CMA for medical assistants. desk[0]'s BLS lapses on Wednesday
        4 March and is renewed on the Saturday; desk[1]'s never expires; desk[2] has none."""
        CredentialType = apps.get_model("workforce", "CredentialType")
        Credential = apps.get_model("workforce", "Credential")
        bls = CredentialType.objects.create(code="BLS", name="BLS", required_for=["front_desk"])
        CredentialType.objects.create(code="CMA", name="CMA", required_for=["ma"])
        CredentialType.objects.create(code="DEA", name="DEA", required_for=[])
        for staff, issued, expires in (
            (self.desk[0], date(2025, 1, 1), date(2026, 3, 4)),
            (self.desk[0], date(2026, 3, 7), date(2028, 3, 6)),
            (self.desk[1], date(2024, 5, 1), None),
        ):
            Credential.objects.create(
                staff=staff,
                type=bls,
                number="B",
                issuer="AHA",
                issued_on=issued,
                expires_on=expires,
            )

    # -- revenue --

    def claim(self, visit: Any, first_scrubbed_at: datetime | None, clean: bool | None) -> Any:
        """A claim of a checked-out visit, first scrubbed at `first_scrubbed_at` (None: a
        self-pay claim, never scrubbed)."""
        Encounter = apps.get_model("revenue", "Encounter")
        Claim = apps.get_model("revenue", "Claim")
        encounter = Encounter.objects.create(
            visit=visit,
            clinic=visit.clinic,
            patient=visit.patient,
            service_date=local_day(visit.checked_in_at),
            status="ready",
        )
        (control,) = Claim.next_control_numbers(1)
        return Claim.objects.create(
            clinic=visit.clinic,
            encounter=encounter,
            patient=visit.patient,
            control_number=control,
            service_date=encounter.service_date,
            status="draft" if first_scrubbed_at is None else ("scrubbed" if clean else "held"),
            first_scrubbed_at=first_scrubbed_at,
            last_scrubbed_at=first_scrubbed_at,
            first_pass_clean=clean,
        )

    def seed_claims(self, day: date, mode: str) -> None:
        """Claims of the day's checked-out visits, first scrubbed from that evening to two days
        later (late at night too, so the local day matters); in the zero week none is scrubbed.
        Its own random numbers: the other metrics' world stays as it was."""
        Visit = apps.get_model("patientflow", "Visit")
        rng = random.Random(day.toordinal())
        ledger_rng = random.Random(day.toordinal() * 31 + 7)
        start, end = local(day, 0), local(day + timedelta(days=1), 0)
        for visit in (
            Visit.objects.filter(
                checked_in_at__gte=start, checked_in_at__lt=end, step="checked_out"
            )
            .select_related("clinic", "patient")
            .order_by("checked_in_at", "pk")
        ):
            if mode == "zero" or rng.random() < 0.1:
                self.claim(visit, None, None)
                continue
            at = local(day, 18) + timedelta(minutes=rng.randint(0, 60 * 48))
            self.bill(self.claim(visit, at, rng.random() < 0.8), ledger_rng)

    # -- remittances: the ledger --

    def submit(self, claim: Any, at: datetime, charges: list[Decimal]) -> list[Any]:
        """Claim lines with `charges`, and the claim submitted at `at` with their total."""
        ClaimLine = apps.get_model("revenue", "ClaimLine")
        Claim = apps.get_model("revenue", "Claim")
        lines = [
            ClaimLine.objects.create(
                claim=claim,
                position=position,
                line_id=f"{claim.control_number}-{position}",
                procedure_code="99213" if position == 1 else "36415",
                pointers=[1],
                charge=charge,
                service_date=claim.service_date,
            )
            for position, charge in enumerate(charges, start=1)
        ]
        total = sum(charges, Decimal(0))
        Claim.objects.filter(pk=claim.pk).update(
            status="submitted", submitted_at=at, total_charge=total, balance=total
        )
        claim.submitted_at, claim.total_charge = at, total
        return lines

    def post(
        self,
        claim: Any,
        at: datetime,
        rows: list[tuple[str, Decimal, str, str, Any]],
        *,
        first_denied: bool | None = None,
        reversal: bool = False,
        via_835: bool = True,
    ) -> None:
        """Ledger rows (kind, amount, group, reason, line) on `claim` posted at `at`, as the
        posting service writes them: from an 835 (a `Remittance`) or not (a write-off, a
        patient's payment), the claim's running totals moved, and on the claim's first
        remittance `first_denied` (what the payer said) recorded on the claim."""
        Claim = apps.get_model("revenue", "Claim")
        LedgerEntry = apps.get_model("revenue", "LedgerEntry")
        Remittance = apps.get_model("revenue", "Remittance")
        total: dict[str, Decimal] = defaultdict(Decimal)
        for kind, amount, *_rest in rows:
            total[kind] += amount
        remittance = (
            Remittance.objects.create(
                clinic=claim.clinic,
                payer_key="60054",
                payer_name="Correctness Health",
                trace_number=uuid.uuid4().hex,
                payment_date=local_day(at),
                total_paid=total["payment"],
                content="ISA*seeded~",
                sha256="0" * 64,
                imported_at=at,
                imported_by_label="correctness test",
            )
            if via_835
            else None
        )
        LedgerEntry.objects.bulk_create(
            LedgerEntry(
                clinic=claim.clinic,
                claim=claim,
                claim_line=line,
                patient_id=claim.patient_id,
                remittance=remittance,
                kind=kind,
                amount=amount,
                group_code=group,
                reason_code=reason,
                reversal=reversal,
                posted_at=at,
                posted_by_label="correctness test",
            )
            for kind, amount, group, reason, line in rows
        )
        reduces = sum(
            (total[k] for k in ("payment", "contractual", "other", "write_off", "patient_payment")),
            Decimal(0),
        )
        changes: dict[str, Any] = {
            "paid_amount": F("paid_amount") + total["payment"],
            "adjusted_amount": F("adjusted_amount") + total["contractual"] + total["other"],
            "balance": F("balance") - reduces,
            "patient_balance": F("patient_balance")
            + total["patient"]
            - total["transfer"]
            - total["patient_payment"],
        }
        if first_denied is not None:
            changes |= {"first_remitted_at": at, "first_remit_denied": first_denied}
        Claim.objects.filter(pk=claim.pk).update(**changes)

    def answer(self, lines: list[Any], outcome: float) -> tuple[list[Any], bool]:
        """What a payer's first 835 says about a claim of two lines, and whether it denied the
        claim in full or in part (a zero-paid line, or the claim, with a CO/PI/OA denial)."""
        cent = Decimal("0.01")

        def paid(line: Any) -> list[Any]:
            allowed = (line.charge * Decimal("0.7")).quantize(cent)
            patient = (allowed * Decimal("0.2")).quantize(cent)
            return [
                ("payment", allowed - patient, "", "", line),
                ("contractual", line.charge - allowed, "CO", "45", line),
                ("patient", patient, "PR", "2", line),
            ]

        one, two = lines
        if outcome < 0.55:
            return paid(one) + paid(two), False
        if outcome < 0.75:  # the second line denied in full (no authorisation)
            return [*paid(one), ("denial", two.charge, "CO", "197", two)], True
        if outcome < 0.85:  # part of a paid line denied: paid, so not a denial of the claim
            allowed = (one.charge * Decimal("0.7")).quantize(cent)
            return [
                ("payment", allowed - Decimal(12), "", "", one),
                ("contractual", one.charge - allowed, "CO", "45", one),
                ("denial", Decimal(10), "PI", "97", one),
                ("other", Decimal(2), "OA", "23", one),
                *paid(two),
            ], False
        if outcome < 0.92:  # the whole claim denied at claim level
            return [("denial", one.charge + two.charge, "CO", "16", None)], True
        # a zero-paid line that is the patient's deductible (PR-1): not a denial
        return [*paid(one), ("patient", two.charge, "PR", "1", two)], False

    def bill(self, claim: Any, rng: random.Random) -> None:
        """Most scrubbed claims are submitted within hours; most of those are answered one to
        three local days later at any hour (never in the zero week); then some denials are
        written off, some payments reversed (and some posted again), some patients pay."""
        if claim.first_scrubbed_at is None or rng.random() < 0.15:
            return
        submitted = claim.first_scrubbed_at + timedelta(hours=rng.randint(1, 12))
        charges = [
            rng.choice([Decimal("80.00"), Decimal("120.50"), Decimal("145.25")]),
            rng.choice([Decimal("20.00"), Decimal("35.10"), Decimal("60.00")]),
        ]
        lines = self.submit(claim, submitted, charges)
        if rng.random() < 0.15:
            return  # no answer yet: all of it outstanding
        hour, minute = rng.choice([(0, 5), (1, 30), (9, 0), (14, 0), (23, 50)])
        first_at = local(local_day(submitted) + timedelta(days=rng.randint(1, 3)), hour, minute)
        rows, denied = self.answer(lines, rng.random())
        self.post(claim, first_at, rows, first_denied=denied)
        later = first_at + timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 12))
        if denied and rng.random() < 0.4:
            written = sum((r[1] for r in rows if r[0] == "denial"), Decimal(0))
            self.post(claim, later, [("write_off", written, "", "", None)], via_835=False)
        elif not denied and rng.random() < 0.2:
            # CLP02 22: the payer takes it all back (negated amounts), then pays it again
            back = [(k, -a, g, r, line) for k, a, g, r, line in rows]
            self.post(claim, later, back, reversal=True)
            if rng.random() < 0.7:
                self.post(claim, later + timedelta(days=rng.randint(1, 5)), rows)
        if rng.random() < 0.25:
            owed = sum((r[1] for r in rows if r[0] == "patient"), Decimal(0))
            if owed:
                when = later + timedelta(days=1)
                self.post(claim, when, [("patient_payment", owed, "", "", None)], via_835=False)

    # -- compliance --

    def incident(self, clinic: Clinic, reported: datetime, closed: datetime | None) -> Any:
        """An incident reported at `reported`, closed at `closed` (None: still open)."""
        Incident = apps.get_model("compliance", "Incident")
        reporter = self.providers[0].user
        return Incident.objects.create(
            clinic=clinic,
            title="Correctness incident",
            description="Seeded",
            location="Somewhere",
            occurred_at=reported - timedelta(hours=2),
            category="fall",
            harm="no_harm",
            reported_by=reporter,
            reported_at=reported,
            status="closed" if closed else "investigating",
            closed_at=closed,
            close_reason="seeded" if closed else "",
        )

    def seed_incidents(self, day: date, mode: str) -> None:
        """Incidents closed on the day at any local hour (midnight and the DST small hours
        too), reported 0-40 days before at any hour; none in the empty and zero weeks. Its
        own random numbers: the other metrics' world stays as it was."""
        if mode != "normal":
            return
        rng = random.Random(day.toordinal() * 7 + 17)
        for _ in range(rng.choice([0, 1, 2, 3])):
            hour, minute = rng.choice([(0, 5), (1, 30), (2, 30), (9, 0), (16, 45), (23, 55)])
            reported_day = day - timedelta(days=rng.randint(0, 40))
            reported = local(reported_day, rng.randint(0, 23), rng.choice([0, 30, 59]))
            closed = max(local(day, hour, minute), reported + timedelta(minutes=5))
            self.incident(self.clinic, reported, closed)
        self.incident(self.clinic, local(day, 10), None)  # still open: never counts
        self.incident(self.other, local(day - timedelta(days=3), 9), local(day, 11))

    def seed(self) -> None:
        if apps.is_installed("compliance"):
            for monday, mode in WEEKS.items():
                for day in days_of(monday):
                    self.seed_incidents(day, mode)
        if apps.is_installed("workforce"):
            self.build_roster()
            for monday in WEEKS:
                self.seed_roster(monday)
            self.neighbour = StaffFactory(clinics=[self.other])
            self.seed_credentials()
            for monday, mode in WEEKS.items():
                self.seed_punches(monday, mode)
        for monday, mode in WEEKS.items():
            for day in days_of(monday):
                self.seed_appointments(day, mode)
                self.seed_supplies(day, mode)
                if apps.is_installed("patientflow"):
                    self.seed_visits(day)
                if apps.is_installed("revenue"):
                    self.seed_claims(day, mode)

    def add_late_data(self) -> None:
        """What arrives after the night that first rolled LATE_DAY up."""
        from supplies.models import LocationItem, StockLocation, SupplyItem

        Appointment = apps.get_model("scheduling", "Appointment")
        ProviderTimeOff = apps.get_model("scheduling", "ProviderTimeOff")
        start, end = local(LATE_DAY, 0), local(LATE_DAY + timedelta(days=1), 0)
        on_day = Appointment.objects.filter(clinic=self.clinic, start__gte=start, start__lt=end)
        booked = list(on_day.filter(status__in=["booked", "confirmed"]).order_by("start"))
        assert len(booked) >= 2, "the seed should leave bookings to correct"
        Appointment.objects.filter(pk=booked[0].pk).update(status="no_show")
        Appointment.objects.filter(pk=booked[1].pk).update(status="completed")
        self.appointment(self.clinic, self.providers[0], local(LATE_DAY, 19), 20, "completed")
        ProviderTimeOff.objects.create(
            provider=self.providers[0], start=local(LATE_DAY, 8), end=local(LATE_DAY, 10)
        )
        for _ in range(3):
            self.movement(self.rng.choice(self.location_items), local(LATE_DAY, 15), "use")
        late_item = LocationItem.objects.create(
            location=StockLocation.objects.create(clinic=self.clinic, name="Late cart"),
            item=SupplyItem.objects.create(sku="C-LATE", name="Late item", unit_cost=Decimal(2)),
            par=5,
            reorder_point=1,
            max_quantity=8,
        )
        # a cart stocked and emptied that day, entered in the ledger only later
        self.movement(late_item, local(LATE_DAY, 8), "receive", size=2)
        self.movement(late_item, local(LATE_DAY, 16), "use", size=2)
        if apps.is_installed("patientflow"):
            self.late_visit_events()
        if apps.is_installed("workforce"):
            RosterWeek = apps.get_model("workforce", "RosterWeek")
            week = RosterWeek.objects.get(clinic=self.clinic, week_start=date(2026, 2, 2))
            self.shift(week, self.desk[1], LATE_DAY, 12, 20)  # entered after the night
            # A manager's correction: desk[1] stayed two hours later on LATE_DAY.
            Punch = apps.get_model("workforce", "Punch")
            start, end = local(LATE_DAY, 0), local(LATE_DAY + timedelta(days=1), 0)
            out = Punch.objects.get(staff=self.desk[1], kind="out", at__gte=start, at__lt=end)
            Punch.objects.create(
                staff=self.desk[1],
                clinic=self.clinic,
                kind="out",
                at=out.at + timedelta(hours=2),
                source="manager",
                reason="stayed for the late clinic",
                replaces=out,
                request_key=uuid.uuid4(),
            )
            # desk[2]'s CMA, issued on 4 February, is recorded only now.
            Credential = apps.get_model("workforce", "Credential")
            CredentialType = apps.get_model("workforce", "CredentialType")
            Credential.objects.create(
                staff=self.desk[2],
                type=CredentialType.objects.get(code="CMA"),
                number="C",
                issuer="AAMA",
                issued_on=date(2026, 2, 4),
                expires_on=date(2027, 2, 4),
            )
        if apps.is_installed("revenue"):
            self.late_claims()
        if apps.is_installed("compliance"):
            # closings of that day entered after the night (long-running investigations)
            for hour in range(12):
                self.incident(
                    self.clinic, local(LATE_DAY - timedelta(days=300), 9), local(LATE_DAY, hour)
                )

    def late_claims(self) -> None:
        """Two claims first scrubbed on LATE_DAY, not clean, recorded after the night."""
        for hour in (20, 21):
            appointment = self.appointment(
                self.clinic,
                self.providers[1],
                local(LATE_DAY - timedelta(days=1), hour),
                20,
                "completed",
            )
            # The visit keeps the steps its events say (a raw checkout time that no event backs
            # would make the flow medians' reference and the visit's own times disagree).
            visit = self.visit(appointment)
            self.late_remittance(self.claim(visit, local(LATE_DAY, 9), False), hour)

    def late_remittance(self, claim: Any, hour: int) -> None:
        """A late claim submitted and denied on its first remittance on LATE_DAY (one in full
        at claim level, one a zero-paid line), posted after the night."""
        lines = self.submit(claim, local(LATE_DAY, 10), [Decimal("120.50"), Decimal("35.10")])
        outcome = 0.9 if hour == 20 else 0.6
        rows, denied = self.answer(lines, outcome)
        self.post(claim, local(LATE_DAY, hour - 5), rows, first_denied=denied)

    def late_visit_events(self) -> None:
        """A visit is checked out, and another's "with provider" undone, after the night."""
        Visit = apps.get_model("patientflow", "Visit")
        VisitEvent = apps.get_model("patientflow", "VisitEvent")
        start, end = local(LATE_DAY, 0), local(LATE_DAY + timedelta(days=1), 0)
        on_day = Visit.objects.filter(
            clinic=self.clinic, checked_in_at__gte=start, checked_in_at__lt=end
        )
        waiting = on_day.filter(step="ready_for_checkout").first()
        if waiting is None:
            appointment = self.appointment(
                self.clinic, self.providers[0], local(LATE_DAY, 20), 20, "arrived"
            )
            waiting = self.visit(appointment)
        last = waiting.events.order_by("at").last()
        VisitEvent.objects.create(
            visit=waiting,
            from_step=last.to_step,
            to_step="checked_out",
            at=last.at + timedelta(minutes=17),
            actor_label="desk",
        )
        Visit.objects.filter(pk=waiting.pk).update(
            step="checked_out", checked_out_at=last.at + timedelta(minutes=17)
        )
        seen = (
            VisitEvent.objects.filter(visit__in=on_day, to_step="with_provider", kind="advance")
            .exclude(undone_by__isnull=False)
            .order_by("at")
            .first()
        )
        assert seen is not None, "the seed should leave a visit seen by a provider"
        VisitEvent.objects.create(
            visit=seen.visit,
            kind="undo",
            undoes=seen,
            from_step="with_provider",
            to_step="roomed",
            at=seen.at + timedelta(hours=6),
            actor_label="manager",
            reason="Recorded on the wrong visit",
        )


@pytest.fixture(scope="module")
def seed(request: pytest.FixtureRequest) -> int:
    """The world's random seed. Tests parametrize it (module-scoped, by value) so that pytest
    groups them by seed and each world is built once per worker: [SEED, 4242] checks two
    worlds, [SEED] reuses the first."""
    return getattr(request, "param", SEED)


@pytest.fixture(scope="module")
def built_world(seed: int, django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """The world, built once per seed (and xdist worker) instead of once per test: seeding every
    module's rows takes seconds and this file has some sixty tests.

    It is built inside a transaction that stays open while the module's tests run and is rolled
    back after the last; pytest-django's `db` opens each test's transaction inside it (a
    savepoint), so what a test writes (rollups, late data) is gone before the next test. Higher
    scoped fixtures are set up first, so this transaction is always the outer one."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world(seed)
        transaction.set_rollback(True)


@pytest.fixture
def world(db: None, built_world: World) -> World:
    """This test's copy of the world: the rows are shared (rolled back after each test), the
    Python side is copied, so a test that adds late data leaves the next one the world as
    built."""
    return copy.deepcopy(built_world)


def _build_world(seed: int) -> World:
    rng = random.Random(seed)
    clinic = ClinicFactory(name="Correctness Clinic", time_zone="America/New_York")
    other = ClinicFactory(name="Neighbour Clinic", time_zone="America/New_York")
    built = World(clinic=clinic, other=other, rng=rng)
    built.providers = [StaffFactory(clinics=[clinic]) for _ in range(2)]
    built.other_provider = StaffFactory(clinics=[other])
    built.patients = [PatientFactory(clinic=clinic) for _ in range(8)]
    if apps.is_installed("scheduling"):
        built.build_schedule()
    if apps.is_installed("supplies"):
        built.build_supplies()
    built.seed()
    return built


# --- the references: each metric's definition (shared/KPIS.md), from the raw rows -------


def _clinic_appointments(world: World, first: date, last: date) -> list[Any]:
    Appointment = apps.get_model("scheduling", "Appointment")
    return [
        a
        for a in Appointment.objects.filter(clinic=world.clinic)
        if first <= local_day(a.start) <= last
    ]


def ratio(n: Decimal | int, d: Decimal | int, scale: int = 1) -> Decimal | None:
    return None if d == 0 else Decimal(n) / Decimal(d) * scale


def no_show_rate(world: World, first: date, last: date) -> Decimal | None:
    """No-shows / appointments starting in the period not cancelled before the late-cancel
    window (a rescheduled appointment counts through its replacement)."""
    no_shows = counted = 0
    for a in _clinic_appointments(world, first, last):
        if a.status == "no_show":
            no_shows += 1
        if a.status != "cancelled" or (a.late_cancel and a.cancel_reason != "rescheduled"):
            counted += 1
    return ratio(no_shows, counted, 100)


def _minutes(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 60)


def template_utilization(world: World, first: date, last: date) -> Decimal | None:
    """Minutes of appointments not cancelled (no-shows count) / bookable template minutes
    (regular, same-day hold and buffer blocks net of time off; no bookable minutes on a closure
    day, but its booked minutes still count)."""
    ClinicClosure = apps.get_model("scheduling", "ClinicClosure")
    ProviderTimeOff = apps.get_model("scheduling", "ProviderTimeOff")
    TemplateBlock = apps.get_model("scheduling", "TemplateBlock")
    closed = set(ClinicClosure.objects.filter(clinic=world.clinic).values_list("day", flat=True))
    blocks = list(
        TemplateBlock.objects.filter(template__clinic=world.clinic).select_related("template")
    )
    time_off = list(ProviderTimeOff.objects.all())
    booked = bookable = 0
    day = first
    while day <= last:
        if day not in closed:
            for block in blocks:
                if block.weekday != day.weekday() or block.kind == "admin":
                    continue
                if not block.template.covers(day):
                    continue
                start = datetime.combine(day, block.start_time, tzinfo=NEW_YORK)
                end = datetime.combine(day, block.end_time, tzinfo=NEW_YORK)
                minute = start.astimezone(UTC)
                while minute < end.astimezone(UTC):
                    off = any(
                        t.provider_id == block.template.provider_id and t.start <= minute < t.end
                        for t in time_off
                    )
                    bookable += 0 if off else 1
                    minute += timedelta(minutes=1)
        booked += sum(
            _minutes(a.start, a.end)
            for a in _clinic_appointments(world, day, day)
            if a.status != "cancelled"
        )
        day += timedelta(days=1)
    return ratio(booked, bookable, 100)


def _held(appointment: Any, events: list[Any], at: datetime) -> bool:
    """Whether the appointment held its slot at instant `at`: booked by then (its first event
    or its creation) and not yet cancelled or marked a no-show (its event, else the
    cancellation time, else, for a no-show, its end)."""
    booked = min([appointment.created_at, *(e.at for e in events)])
    freed = [e.at for e in events if e.to_status in ("cancelled", "no_show")]
    if freed:
        until = min(freed)
    elif appointment.status == "cancelled":
        until = appointment.cancelled_at or appointment.created_at
    elif appointment.status == "no_show":
        until = appointment.end
    else:
        return booked <= at
    return booked <= at < until


def _third_next_available(
    type_: Any,
    today: date,
    blocks: list[Any],
    appointments: list[Any],
    off: list[Any],
    closed: set[date],
    now: datetime,
) -> int:
    """Days from `today` to the third open slot for the type with the provider as things stood
    at `now`, by walking every slot of every day (holds excluded); the horizon when there are
    fewer than three."""
    busy = [(a.start, a.end) for a, events in appointments if _held(a, events, now)] + [
        (t.start, t.end) for t in off if t.created_at <= now
    ]
    found = 0
    for offset in range(TNAA_HORIZON):
        day = today + timedelta(days=offset)
        if day in closed:
            continue
        starts = []
        for block in blocks:
            if block.weekday != day.weekday() or block.kind != "regular":
                continue
            types = {t.pk for t in block.appointment_types.all()}
            if types and type_.pk not in types:
                continue
            start = local(day, block.start_time.hour, block.start_time.minute)
            end = local(day, block.end_time.hour, block.end_time.minute)
            while start + timedelta(minutes=type_.duration_minutes) <= end:
                starts.append(start)
                start += timedelta(minutes=block.slot_minutes)
        for start in sorted(starts):
            end = start + timedelta(minutes=type_.duration_minutes)
            if start < now or any(s < end and start < e for s, e in busy):
                continue
            found += 1
            if found == 3:
                return offset
    return TNAA_HORIZON


def tnaa_days(world: World, first: date, last: date) -> Decimal | None:
    """The mean over providers of each provider's mean daily third-next-available (per
    appointment type), measured at 07:00 local each day as the bookings stood then."""
    Appointment = apps.get_model("scheduling", "Appointment")
    ProviderTimeOff = apps.get_model("scheduling", "ProviderTimeOff")
    TemplateBlock = apps.get_model("scheduling", "TemplateBlock")
    ClinicClosure = apps.get_model("scheduling", "ClinicClosure")
    closed = set(ClinicClosure.objects.filter(clinic=world.clinic).values_list("day", flat=True))
    active = [t for t in world.types if t.is_active]
    by_provider: dict[int, list[int]] = defaultdict(list)
    for provider in world.providers:
        blocks = list(
            TemplateBlock.objects.filter(
                template__provider=provider, template__clinic=world.clinic
            ).prefetch_related("appointment_types")
        )
        appointments = [
            (a, list(a.events.all()))
            for a in Appointment.objects.filter(provider=provider).prefetch_related("events")
        ]
        off = list(ProviderTimeOff.objects.filter(provider=provider))
        regular = [b for b in blocks if b.kind == "regular"]
        offered = set()
        for block in regular:
            types = {t.pk for t in block.appointment_types.all()}
            offered |= types or {t.pk for t in active}
        day = first
        while day <= last:
            now = local(day, 7)
            for type_ in active:
                if type_.pk in offered:
                    by_provider[provider.pk].append(
                        _third_next_available(type_, day, regular, appointments, off, closed, now)
                    )
            day += timedelta(days=1)
    if not by_provider:
        return None
    means = [statistics.fmean(values) for values in by_provider.values()]
    return Decimal(repr(statistics.fmean(means)))


def supply_cost_per_visit(world: World, first: date, last: date) -> Decimal | None:
    """Cost of supplies logged as used (quantity x unit cost at the time, net of returns) /
    completed visits."""
    from supplies.models import StockMovement

    cost = sum(
        (
            -m.quantity * m.unit_cost
            for m in StockMovement.objects.filter(
                location_item__location__clinic=world.clinic, kind__in=["use", "return"]
            )
            if first <= local_day(m.occurred_at) <= last
        ),
        Decimal(0),
    )
    visits = sum(1 for a in _clinic_appointments(world, first, last) if a.status == "completed")
    return ratio(cost, visits)


def stockout_rate(world: World, first: date, last: date) -> Decimal | None:
    """Item-location-days at zero on hand at the local day's end / item-location-days tracked
    (par > 0, active, from its first ledger line), by summing the ledger line by line."""
    from supplies.models import LocationItem, StockMovement

    tracked = [
        li
        for li in LocationItem.objects.filter(location__clinic=world.clinic).select_related(
            "location", "item"
        )
        if li.par > 0 and li.is_active and li.location.is_active and li.item.is_active
    ]
    lines = defaultdict(list)
    for m in StockMovement.objects.all():
        lines[m.location_item_id].append(m)
    zero = days = 0
    day = first
    while day <= last:
        end = local(day + timedelta(days=1), 0)
        for li in tracked:
            before = [m.quantity for m in lines[li.pk] if m.occurred_at < end]
            if before:
                days += 1
                zero += sum(before) <= 0
        day += timedelta(days=1)
    return ratio(zero, days, 100)


def _effective_steps(events: list[Any]) -> list[tuple[str, datetime]]:
    """A visit's steps in order, leaving out every step that was undone."""
    undone = {e.undoes_id for e in events if e.kind == "undo"}
    return [
        (e.to_step, e.at)
        for e in sorted(events, key=lambda e: (e.at, e.pk))
        if e.kind == "advance" and e.pk not in undone
    ]


def _minutes_to_hundredth(start: datetime, end: datetime) -> Decimal:
    seconds = Decimal(str((end - start).total_seconds()))
    return max(Decimal(0), (seconds / 60).quantize(Decimal("0.01")))


def _visit_minutes(world: World, first: date, last: date, measure: Callable[..., Any]) -> list:
    Visit = apps.get_model("patientflow", "Visit")
    values = []
    for visit in Visit.objects.filter(clinic=world.clinic).select_related("appointment"):
        if first <= local_day(visit.checked_in_at) <= last:
            steps = _effective_steps(list(visit.events.all()))
            value = measure(visit, dict(reversed(steps)))  # the first time each step began
            if value is not None:
                values.append(value)
    return values


def _median(values: list[Decimal]) -> Decimal | None:
    return Decimal(str(statistics.median(values))) if values else None


def door_to_provider_min(world: World, first: date, last: date) -> Decimal | None:
    """Median minutes from check-in to first "with provider", of the visits checked in."""

    def measure(visit: Any, began: dict[str, datetime]) -> Decimal | None:
        seen = began.get("with_provider")
        return _minutes_to_hundredth(visit.checked_in_at, seen) if seen else None

    return _median(_visit_minutes(world, first, last, measure))


def cycle_time_min(world: World, first: date, last: date) -> Decimal | None:
    """Median minutes from check-in (or the scheduled start, for a patient who came early)
    to checkout; a walk-in counts from check-in."""

    def measure(visit: Any, began: dict[str, datetime]) -> Decimal | None:
        out = began.get("checked_out")
        if out is None:
            return None
        start = visit.checked_in_at
        if not visit.is_walk_in and visit.appointment.start > start:
            start = visit.appointment.start
        return _minutes_to_hundredth(start, out)

    return _median(_visit_minutes(world, first, last, measure))


def shift_fill_rate(world: World, first: date, last: date) -> Decimal | None:
    """Required role-hours filled by a qualified person rostered through the whole hour in a
    published week / required role-hours. Required per role and local hour: the larger of the
    fixed minimums and one per N live appointments starting in that hour. (The world seeds no
    per-provider rules; a reference for them is still to write, so one fails here.)"""
    CoverageRule = apps.get_model("workforce", "CoverageRule")
    Assignment = apps.get_model("workforce", "Assignment")
    StaffContract = apps.get_model("workforce", "StaffContract")
    rules = list(CoverageRule.objects.filter(clinic=world.clinic, is_active=True))
    assert not any(r.kind == "per_provider" for r in rules), "no reference for per-provider rules"
    live = ("booked", "confirmed", "arrived", "completed")
    starts = [a.start for a in _clinic_appointments(world, first, last) if a.status in live]
    roles = {
        c.staff_id: {c.role, *c.also_covers} for c in StaffContract.objects.filter(is_active=True)
    }
    shifts = [
        a
        for a in Assignment.objects.filter(week__clinic=world.clinic, week__version__gt=0)
        if first <= a.day <= last and a.role in roles.get(a.staff_id, set())
    ]
    required = filled = 0
    day = first
    while day <= last:
        hour = local(day, 0)
        while local_day(hour) == day:
            end = hour + timedelta(hours=1)
            local_hour = hour.astimezone(NEW_YORK)
            for role in {r.role for r in rules}:
                fixed = ratio_need = 0
                for r in rules:
                    if r.role != role or local_hour.weekday() not in r.weekdays:
                        continue
                    if not (r.start_time <= local_hour.time() < r.end_time):
                        continue
                    if r.kind == "fixed":
                        fixed = max(fixed, r.count)
                    else:
                        booked = sum(1 for s in starts if hour <= s < end)
                        ratio_need += -(-booked // r.patients_per_person)
                need = max(fixed, ratio_need)
                have = sum(1 for a in shifts if a.role == role and a.start <= hour and a.end >= end)
                required += need
                filled += min(need, have)
            hour = end
        day += timedelta(days=1)
    return ratio(filled, required, 100)


def clean_claim_rate(world: World, first: date, last: date) -> Decimal | None:
    """Claims clean on their first pass / claims that entered the scrubber, by the local day
    of the first scrub."""
    Claim = apps.get_model("revenue", "Claim")
    entered = [
        c
        for c in Claim.objects.filter(clinic=world.clinic)
        if c.first_scrubbed_at is not None and first <= local_day(c.first_scrubbed_at) <= last
    ]
    return ratio(sum(1 for c in entered if c.first_pass_clean), len(entered), 100)


def _ledger(world: World) -> list[Any]:
    LedgerEntry = apps.get_model("revenue", "LedgerEntry")
    return list(LedgerEntry.objects.filter(clinic=world.clinic, claim__isnull=False))


def _submitted_claims(world: World) -> list[Any]:
    Claim = apps.get_model("revenue", "Claim")
    return [c for c in Claim.objects.filter(clinic=world.clinic) if c.submitted_at is not None]


def initial_denial_rate(world: World, first: date, last: date) -> Decimal | None:
    """Claims whose first remittance (the earliest 835 posting that is not a reversal) has a
    zero-paid line, or pays nothing at all, with a CO/PI/OA denial on that line (or at claim
    level) / claims first remitted, by the local day of that first remittance."""
    postings: dict[int, list[Any]] = defaultdict(list)
    for e in _ledger(world):
        if e.remittance_id is not None and not e.reversal:
            postings[e.claim_id].append(e)
    denied = remitted = 0
    for rows in postings.values():
        earliest = min(rows, key=lambda e: (e.posted_at, e.pk))
        if not first <= local_day(earliest.posted_at) <= last:
            continue
        remitted += 1
        answer = [e for e in rows if e.remittance_id == earliest.remittance_id]
        claim_paid = sum(e.amount for e in answer if e.kind == "payment")
        paid: dict[int | None, Decimal] = defaultdict(Decimal)
        for e in answer:
            if e.kind == "payment":
                paid[e.claim_line_id] += e.amount
        denied += any(
            e.kind == "denial"
            and e.group_code in ("CO", "PI", "OA")
            and e.amount > 0
            and (claim_paid if e.claim_line_id is None else paid[e.claim_line_id]) == 0
            for e in answer
        )
    return ratio(denied, remitted, 100)


def days_in_ar(world: World, first: date, last: date) -> Decimal | None:
    """Each day: outstanding A/R at the end of the local day (submitted claims' charges minus
    payments, contractual and other adjustments and write-offs posted by then; denials and
    patient responsibility stay) and the net charges (charges minus contractual adjustments
    posted by then) of the claims submitted by then with a date of service in the 90 days
    ending that day, over 90; the period's figure is the days' A/R over their daily charges."""
    claims = _submitted_claims(world)
    rows = _ledger(world)
    reduce = ("payment", "contractual", "other", "write_off", "patient_payment")
    outstanding = daily_charges = Decimal(0)
    day = first
    while day <= last:
        end = local(day + timedelta(days=1), 0)
        ar = {c.pk: c for c in claims if c.submitted_at < end}
        window = {pk for pk, c in ar.items() if day - timedelta(days=90) < c.service_date <= day}
        posted = [e for e in rows if e.claim_id in ar and e.posted_at < end]
        outstanding += sum(c.total_charge for c in ar.values()) - sum(
            e.amount for e in posted if e.kind in reduce
        )
        net = sum(ar[pk].total_charge for pk in window) - sum(
            e.amount for e in posted if e.kind == "contractual" and e.claim_id in window
        )
        daily_charges += Decimal(net) / 90
        day += timedelta(days=1)
    return ratio(outstanding, daily_charges)


def net_collection_rate(world: World, first: date, last: date) -> Decimal | None:
    """(Payer and patient payments, reversals netted) / (charges - contractual adjustments)
    of the submitted claims with a date of service in the period, whenever posted."""
    cohort = {c.pk: c for c in _submitted_claims(world) if first <= c.service_date <= last}
    rows = [e for e in _ledger(world) if e.claim_id in cohort]
    paid = sum(e.amount for e in rows if e.kind in ("payment", "patient_payment"))
    contractual = sum(e.amount for e in rows if e.kind == "contractual")
    charges = sum(c.total_charge for c in cohort.values())
    return ratio(paid, charges - contractual, 100)


def incident_closure_days(world: World, first: date, last: date) -> Decimal | None:
    """Median clinic-local calendar days from report to close, of the incidents closed (on
    their local closing day) in the period."""
    Incident = apps.get_model("compliance", "Incident")
    values = [
        Decimal((local_day(i.closed_at) - local_day(i.reported_at)).days)
        for i in Incident.objects.filter(clinic=world.clinic, status="closed")
        if first <= local_day(i.closed_at) <= last
    ]
    return _median(values)


def overtime_pct(world: World, first: date, last: date) -> Decimal | None:
    """Overtime minutes / worked minutes at the clinic on the local days, minute by minute:
    each person's punches (corrections replacing what they replace) give worked minutes; a
    minute is overtime once the person has worked 40 h (at any clinic) in the local
    Sunday-00:00 work week (the default rule: no daily overtime)."""
    Punch = apps.get_model("workforce", "Punch")
    rows = list(Punch.objects.order_by("staff_id", "at", "pk"))
    replaced = {p.replaces_id for p in rows if p.replaces_id}
    by_staff: dict[int, list[Any]] = defaultdict(list)
    for p in rows:
        if p.pk not in replaced and p.kind != "void":
            by_staff[p.staff_id].append(p)
    worked = overtime = 0
    for punches in by_staff.values():
        intervals = []
        mark = None
        for p in sorted(punches, key=lambda p: (p.at, p.pk)):
            if p.kind in ("in", "break_end"):
                mark = p
            elif mark is not None:
                intervals.append((mark.at, p.at, mark.clinic_id))
                mark = None
        week_minutes: dict[date, int] = defaultdict(int)
        for start, end, clinic_id in sorted(intervals):
            for m in range(int((end - start).total_seconds()) // 60):
                moment = (start + timedelta(minutes=m)).astimezone(NEW_YORK)
                sunday = moment.date() - timedelta(days=(moment.weekday() + 1) % 7)
                week_minutes[sunday] += 1
                if clinic_id == world.clinic.pk and first <= moment.date() <= last:
                    worked += 1
                    overtime += week_minutes[sunday] > 40 * 60
    return ratio(overtime, worked, 100)


def credential_currency(world: World, first: date, last: date) -> Decimal | None:
    """Pair-days valid / pair-days required: every day, each person with an active contract at
    the clinic and each credential type one of their roles requires; valid when a credential
    of the type they hold was issued on or before the day and expires on or after it."""
    StaffContract = apps.get_model("workforce", "StaffContract")
    CredentialType = apps.get_model("workforce", "CredentialType")
    Credential = apps.get_model("workforce", "Credential")
    roles = {
        c.staff_id: {c.role, *c.also_covers}
        for c in StaffContract.objects.filter(is_active=True, staff__clinics=world.clinic)
    }
    types = [t for t in CredentialType.objects.filter(is_active=True) if t.required_for]
    held = list(Credential.objects.all())
    valid = required = 0
    day = first
    while day <= last:
        for staff_id, mine in roles.items():
            for t in types:
                if not mine & set(t.required_for):
                    continue
                required += 1
                valid += any(
                    c.staff_id == staff_id
                    and c.type_id == t.pk
                    and c.issued_on <= day
                    and (c.expires_on is None or day <= c.expires_on)
                    for c in held
                )
        day += timedelta(days=1)
    return ratio(valid, required, 100)


Reference = Callable[[World, date, date], Decimal | None]
REFERENCES: dict[str, Reference] = {
    "shift_fill_rate": shift_fill_rate,
    "no_show_rate": no_show_rate,
    "template_utilization": template_utilization,
    "tnaa_days": tnaa_days,
    "supply_cost_per_visit": supply_cost_per_visit,
    "stockout_rate": stockout_rate,
    "door_to_provider_min": door_to_provider_min,
    "cycle_time_min": cycle_time_min,
    "clean_claim_rate": clean_claim_rate,
    "initial_denial_rate": initial_denial_rate,
    "days_in_ar": days_in_ar,
    "net_collection_rate": net_collection_rate,
    "incident_closure_days": incident_closure_days,
    "overtime_pct": overtime_pct,
    "credential_currency": credential_currency,
}


def _provisional() -> dict[str, Metric]:
    """Metrics whose functions exist but which no app registers yet, defined the way
    shared/KPIS.md names them, so their references are exercised today. A registered metric
    of the same key replaces its provisional one."""
    if not apps.is_installed("patientflow"):
        return {}
    from patientflow import kpis as flow

    return {
        "door_to_provider_min": Metric(
            key="door_to_provider_min",
            label="Door-to-provider (median)",
            unit=Unit.MINUTES,
            kind=Kind.MEDIAN,
            default_target=20,
            compute=flow.door_to_provider_minutes,
        ),
        "cycle_time_min": Metric(
            key="cycle_time_min",
            label="Visit cycle time (median)",
            unit=Unit.MINUTES,
            kind=Kind.MEDIAN,
            default_target=45,
            compute=flow.cycle_time_minutes,
        ),
    }


# --- the checks -----------------------------------------------------------------------------


def registered_keys() -> list[str]:
    return [m.key for m in registry.all_metrics()]


def keys_to_check() -> list[str]:
    return sorted(set(registered_keys()) | set(_provisional()))


def roll(clinic: Clinic) -> None:
    days = [day for monday in WEEKS for day in days_of(monday)]
    services.rollup_clinic_days(clinic=clinic, days=days)


def weekly(clinic: Clinic, key: str) -> dict[date, Decimal | None]:
    return {
        monday: selectors.figure(clinic, key, monday, monday + timedelta(days=6))
        for monday in WEEKS
    }


def assert_same(found: Decimal | None, expected: Decimal | None, what: str) -> None:
    if expected is None:
        assert found is None, f"{what}: the engine says {found}, the raw rows say no data"
        return
    assert found is not None, f"{what}: the engine says no data, the raw rows say {expected}"
    tolerance = Decimal("1e-9") * max(Decimal(1), abs(expected))
    assert abs(Decimal(found) - expected) <= tolerance, f"{what}: {found} != {expected}"


@pytest.fixture
def only(request: pytest.FixtureRequest) -> Iterator[Metric]:
    """The metric under test, alone in the registry (the others need not be computed)."""
    key = request.param
    reference = REFERENCES.get(key)
    if reference is None:
        pytest.fail(
            f"Metric {key!r} is registered but has no reference computation: add one to "
            f"REFERENCES in {__name__} (a plain-Python computation from its raw rows).",
            pytrace=False,
        )
    metric = registry.get(key) if registry.is_registered(key) else _provisional()[key]
    with registry.swapped([metric]):
        yield metric


@pytest.mark.parametrize("seed", [SEED, 4242], indirect=True, scope="module")
@pytest.mark.parametrize("only", keys_to_check(), indirect=True)
def test_each_weeks_figure_equals_a_straightforward_computation_from_the_raw_rows(
    world: World, only: Metric
) -> None:
    reference = REFERENCES[only.key]
    roll(world.clinic)

    found = weekly(world.clinic, only.key)

    for monday, mode in WEEKS.items():
        expected = reference(world, monday, monday + timedelta(days=6))
        assert_same(found[monday], expected, f"{only.key}, {mode} week of {monday}")
    # (credentials are held, or not, whether or not anything is booked or worked: currency
    # has a denominator every day a contract exists, like stock on the shelves)
    # (nor is A/R: the last 90 days' charges are outstanding, or were, in a quiet week)
    if only.kind == Kind.RATIO and only.key not in (
        "stockout_rate",
        "credential_currency",
        "days_in_ar",
    ):
        # the week of zero denominators (nothing counted: all cancelled early, closed, no
        # completed visits) is "no data" on the tile, never 0 (stock is on the shelves, and
        # counted, every day once an item is stocked)
        assert found[ZERO_WEEK] is None
        assert only.format(found[ZERO_WEEK]) == "no data"
    # the figure of a custom range is recomputed from the parts too, not from the weeks
    first, last = date(2026, 2, 4), date(2026, 2, 20)
    assert_same(
        selectors.figure(world.clinic, only.key, first, last),
        reference(world, first, last),
        f"{only.key}, {first} to {last}",
    )


@pytest.mark.parametrize("seed", [SEED], indirect=True, scope="module")
@pytest.mark.parametrize("only", keys_to_check(), indirect=True)
def test_late_data_is_picked_up_by_the_nightly_re_roll(world: World, only: Metric) -> None:
    reference = REFERENCES[only.key]
    monday = date(2026, 2, 2)
    roll(world.clinic)
    before = weekly(world.clinic, only.key)[monday]

    world.add_late_data()
    for day in tasks.days_to_roll(NIGHT_OF, 7):
        services.rollup_clinic_day(clinic_id=world.clinic.pk, day=day)

    after = weekly(world.clinic, only.key)[monday]
    if only.point_in_time:
        # measured once, as the schedule stood that morning: a later booking is not history
        assert after == before
        return
    expected = reference(world, monday, monday + timedelta(days=6))
    assert_same(after, expected, f"{only.key} after late data")
    assert after != before, "the late data should have moved this week's figure"


def test_every_registered_metric_has_a_reference_computation() -> None:
    missing = sorted(set(registered_keys()) - set(REFERENCES))
    assert missing == [], f"add reference computations for {missing} to {__name__}.REFERENCES"


@pytest.mark.parametrize("seed", [SEED], indirect=True, scope="module")
@pytest.mark.parametrize("only", keys_to_check(), indirect=True)
def test_a_range_function_gives_exactly_the_parts_of_the_per_day_function(
    only: Metric, world: World
) -> None:
    if only.compute_range is None:
        pytest.skip(f"{only.key} has no range function: the rollup calls it day by day")
    days = [day for monday in WEEKS for day in days_of(monday)]

    ranged = only.parts_for_days(world.clinic, days)

    assert {day: only.parts(world.clinic, day) for day in days} == ranged


def test_every_registered_metric_says_how_it_is_computed() -> None:
    """Each tile's "how this is computed" is the definition in force, and says where it
    differs from shared/KPIS.md (docs/decisions/0017-kpi-definitions.md)."""
    missing = [m.key for m in registry.all_metrics() if len(m.definition) < 80]
    assert missing == [], f"{missing} have no definition text"
    said = {
        "no_show_rate": "reschedule",  # rescheduled late cancels leave the denominator
        "cycle_time_min": "walk-in",  # walk-ins from check-in
        "supply_cost_per_visit": "returns",  # returns netted, completed appointments
        "tnaa_days": "scores 90",  # the horizon as a floor
        "template_utilization": "closure day",  # booked minutes of a closure day count
        "stockout_rate": "ledger",
    }
    for key, phrase in said.items():
        if registry.is_registered(key):
            assert phrase in registry.get(key).definition, key
