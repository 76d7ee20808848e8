"""`manage.py seed_scheduling`: a lived-in schedule for the demo clinics (DEMO DATA).

Per demo clinic: appointment types, a weekly template per provider from 13 weeks ago, clinic
closures on public holidays, and bookings from 12 weeks ago to 3 weeks ahead: past days about
three quarters full and settled (completed, ~6 % no-shows, ~8 % cancelled, some of them late),
today as the clock stands where the clinic is, the weeks ahead filling less the further out they
are, and a few patients on the waitlist with offers of freed slots. Today's appointments that
ended over an hour ago are settled; the others wait for the front desk, and patientflow's
seed_flow checks some of them in, so that the schedule and the flow board agree.

Templates, closures, the waitlist and its offers go through the scheduling services. The history
cannot (a booking must end in the future), so the appointments are written in bulk, generated
from the template's own slots one after the other: the exclusion constraints that forbid a
provider's or a room's overlapping appointments hold for them as for any booking. Each batch
leaves one audit entry, as seed_demo's patients do.

Idempotent: a clinic that already has appointment types is left alone. Deterministic for a
given --seed, day and time.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.demo import CLINICS
from clinicops.core.models import Clinic, Patient, Room, Staff, User
from scheduling.availability import local_datetime
from scheduling.models import (
    Appointment,
    AppointmentEvent,
    AppointmentType,
    TemplateBlock,
    WaitlistEntry,
)
from scheduling.services import templates, transitions
from scheduling.services import waitlist as waitlist_services

DEFAULT_SEED = 2026
WEEKS_BACK = 12
WEEKS_AHEAD = 3
TEMPLATE_WEEKS_BACK = 13
SLOT_MINUTES = 10
# An unbooked stretch is left this long: one follow-up's worth of open time.
GAP_MINUTES = 20
# Appointments that ended this long ago are settled (completed, no-show); later ones still wait
# for the front desk. The automatic no-show's default hour, so it finds nothing seeded to mark.
SETTLED_AFTER = timedelta(minutes=60)
BATCH_SIZE = 2000

Status = Appointment.Status
Reason = Appointment.CancelReason


@dataclass(frozen=True)
class TypeSpec:
    name: str
    minutes: int
    color: str
    kind: str
    room_kind: str
    # Share of bookings, (family practice, pediatrics).
    weight: tuple[int, int]


TYPES: tuple[TypeSpec, ...] = (
    TypeSpec("New patient", 40, "#2563eb", AppointmentType.Kind.NEW_PATIENT, "", (12, 10)),
    TypeSpec("Follow-up", 20, "#16a34a", AppointmentType.Kind.FOLLOW_UP, "", (46, 40)),
    TypeSpec("Annual physical", 40, "#7c3aed", AppointmentType.Kind.OTHER, "", (14, 30)),
    TypeSpec("Procedure", 30, "#ea580c", AppointmentType.Kind.OTHER, Room.Kind.PROCEDURE, (10, 0)),
    TypeSpec("Telehealth", 20, "#0891b2", AppointmentType.Kind.OTHER, "", (18, 20)),
)

# (start, end, kind) of every weekday, Monday to Friday, local time.
DAY_BLOCKS: tuple[tuple[time, time, str], ...] = (
    (time(8, 0), time(12, 0), TemplateBlock.Kind.REGULAR),
    (time(12, 0), time(13, 0), TemplateBlock.Kind.ADMIN),
    (time(13, 0), time(16, 30), TemplateBlock.Kind.REGULAR),
    (time(16, 30), time(17, 0), TemplateBlock.Kind.SAME_DAY_HOLD),
)
# Same-day holds open at 07:30 or so on their own day.
HOLD_RELEASE_HOURS = 9

CANCEL_NOTES = {
    Reason.PATIENT_REQUEST: ("", "Work conflict", "Childcare fell through", "Will call back"),
    Reason.PATIENT_ILL: ("", "Fever", "Stomach bug"),
    Reason.PROVIDER_UNAVAILABLE: ("Provider called in sick",),
    Reason.OTHER: ("Transport fell through", "Weather"),
}


def us_holidays(first: date, last: date) -> dict[date, str]:
    """Federal holidays a clinic closes for, on weekdays between `first` and `last`."""

    def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
        day = date(year, month, 1)
        day += timedelta(days=(weekday - day.weekday()) % 7)
        return day + timedelta(weeks=n - 1)

    def last_monday(year: int, month: int) -> date:
        day = date(year, month + 1, 1) - timedelta(days=1)
        return day - timedelta(days=day.weekday())

    found: dict[date, str] = {}
    for year in range(first.year, last.year + 1):
        for day, name in (
            (date(year, 1, 1), "New Year's Day"),
            (last_monday(year, 5), "Memorial Day"),
            (date(year, 7, 4), "Independence Day"),
            (nth_weekday(year, 9, 0, 1), "Labor Day"),
            (nth_weekday(year, 11, 3, 4), "Thanksgiving"),
            (date(year, 12, 25), "Christmas Day"),
        ):
            if first <= day <= last and day.weekday() < 5:
                found[day] = name
    return found


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def demo_clinics() -> list[Clinic]:
    """The demo clinics seed_demo made; real clinics never get demo bookings."""
    return list(Clinic.objects.filter(name__in=[spec.name for spec in CLINICS]).order_by("pk"))


def staff_user(clinic: Clinic, role: str) -> User | None:
    return (
        User.objects.filter(groups__name=role, staff__clinics=clinic, is_active=True)
        .order_by("pk")
        .first()
    )


class Command(BaseCommand):
    help = (
        "Create demo scheduling data (DEMO DATA) for the demo clinics: types, templates, "
        "12 weeks of history and 3 weeks of bookings. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help="Random seed, for repeatable data."
        )

    def handle(self, *args: Any, seed: int, **options: Any) -> None:
        clinics = demo_clinics()
        if not clinics:
            self.stdout.write("No demo clinics: run seed_demo first.")
            return
        for clinic in clinics:
            if AppointmentType.objects.filter(clinic=clinic).exists():
                self.stdout.write(f"{clinic}: scheduling seeded before, left as it is.")
                continue
            rng = random.Random(f"{seed}:{clinic.name}")  # noqa: S311 - demo data, not secrets
            # One transaction per clinic: a failure leaves nothing half-seeded.
            with transaction.atomic():
                summary = ClinicSeeder(clinic, rng).run()
            self.stdout.write(f"{clinic}: {summary}")


@dataclass
class Planned:
    """One generated appointment, before its status is settled."""

    provider: Staff
    type: AppointmentType
    start: datetime
    end: datetime
    room_id: int | None
    is_hold: bool


class ClinicSeeder:
    """Seeds one clinic from one seeded generator; `run` returns a line for the console."""

    def __init__(self, clinic: Clinic, rng: random.Random, *, now: datetime | None = None) -> None:
        self.clinic = clinic
        self.rng = rng
        self.tz = clinic.tz
        self.now = now or timezone.now()
        self.today = self.now.astimezone(self.tz).date()
        self.first_day = week_start(self.today) - timedelta(weeks=WEEKS_BACK)
        self.last_day = self.today + timedelta(weeks=WEEKS_AHEAD)
        self.pediatric = any(spec.name == clinic.name and spec.pediatric for spec in CLINICS)
        self.desk = staff_user(clinic, roles.FRONT_DESK)
        self.procedure_rooms = list(
            Room.objects.filter(clinic=clinic, kind=Room.Kind.PROCEDURE, is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        # Templates and closures are a manager's to set; without one they record as "system".
        self.manager: Any = staff_user(clinic, roles.MANAGER)

    def run(self) -> str:
        providers = list(
            Staff.objects.filter(clinics=self.clinic, user__groups__name=roles.PROVIDER)
            .select_related("user")
            .order_by("pk")
        )
        patient_ids = list(
            Patient.objects.filter(clinic=self.clinic, is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        types = self.create_types()
        for provider in providers:
            templates.create_template(
                actor=self.manager,
                clinic=self.clinic,
                provider=provider,
                effective_from=week_start(self.today) - timedelta(weeks=TEMPLATE_WEEKS_BACK),
                blocks=[
                    templates.BlockSpec(
                        weekday=weekday,
                        start_time=start,
                        end_time=end,
                        slot_minutes=SLOT_MINUTES,
                        kind=kind,
                        hold_release_hours=HOLD_RELEASE_HOURS,
                    )
                    for weekday in range(5)
                    for start, end, kind in DAY_BLOCKS
                ],
                name="Standard week",
            )
        closed = us_holidays(
            week_start(self.today) - timedelta(weeks=TEMPLATE_WEEKS_BACK), self.last_day
        )
        for day, name in closed.items():
            templates.add_closure(actor=self.manager, clinic=self.clinic, day=day, reason=name)
        if not providers or not patient_ids:
            return f"{len(types)} types and {len(providers)} templates; no patients to book."

        planned = self.plan(providers, types, set(closed))
        appointments = self.settle(planned, patient_ids, types)
        self.write(appointments)
        waiting = self.waitlist(patient_ids, types)
        counts = Counter(
            Appointment.objects.filter(clinic=self.clinic).values_list("status", flat=True)
        )
        spread = ", ".join(f"{counts[s]} {Status(s).label.lower()}" for s in Status.values)
        return (
            f"{len(types)} types, {len(providers)} templates, {len(closed)} holiday closures, "
            f"{sum(counts.values())} appointments ({spread}), {waiting} on the waitlist."
        )

    def create_types(self) -> dict[str, AppointmentType]:
        """The clinic's visit types; a type that needs a kind of room the clinic lacks is left
        out (nobody could ever book it)."""
        types = {}
        for spec in TYPES:
            if spec.room_kind == Room.Kind.PROCEDURE and not self.procedure_rooms:
                continue
            types[spec.name] = AppointmentType.objects.create(
                clinic=self.clinic,
                name=spec.name,
                duration_minutes=spec.minutes,
                color=spec.color,
                kind=spec.kind,
                room_kind=spec.room_kind,
            )
        return types

    # --- the slots ------------------------------------------------------------------------

    def fill(self, day: date, kind: str) -> float:
        """How much of a block's time is booked: settled days are about 80 % booked (so about
        75 % once cancellations are out), tomorrow nearly as much, three weeks out a fifth."""
        ahead = (day - self.today).days
        if kind == TemplateBlock.Kind.SAME_DAY_HOLD:
            return 0.6 if ahead <= 0 else 0.0  # holds are booked on the day, never ahead
        if ahead < 0:
            return min(0.95, max(0.65, self.rng.gauss(0.86, 0.05)))
        if ahead == 0:
            return 0.82
        return max(0.12, 0.78 - 0.03 * ahead)

    def plan(
        self, providers: list[Staff], types: dict[str, AppointmentType], closed: set[date]
    ) -> list[Planned]:
        """Walk each provider's bookable blocks slot by slot, day by day, placing a visit or
        leaving a gap; no two visits of a provider, or of a room, overlap."""
        weights = [(types[s.name], s.weight[self.pediatric]) for s in TYPES if s.name in types]
        type_list = [t for t, w in weights if w]
        cum_weights = [w for _, w in weights if w]
        follow_up = types["Follow-up"]
        average = sum(t.duration_minutes * w for t, w in zip(type_list, cum_weights, strict=True))
        average /= sum(cum_weights)
        planned: list[Planned] = []
        day = self.first_day
        while day <= self.last_day:
            if day.weekday() < 5 and day not in closed:
                room_busy: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
                for provider in providers:
                    for block_start, block_end, kind in DAY_BLOCKS:
                        if kind == TemplateBlock.Kind.ADMIN:
                            continue
                        fill = self.fill(day, kind)
                        # The chance to book a slot that gives `fill` of the block's time.
                        chance = fill * GAP_MINUTES / (average * (1 - fill) + fill * GAP_MINUTES)
                        cursor = local_datetime(day, block_start, self.tz)
                        end_of_block = local_datetime(day, block_end, self.tz)
                        while cursor < end_of_block:
                            if self.rng.random() >= chance:
                                cursor += timedelta(minutes=GAP_MINUTES)
                                continue
                            kind_of_visit = self.rng.choices(type_list, weights=cum_weights)[0]
                            placed = self.place(
                                provider, kind_of_visit, cursor, end_of_block, kind, room_busy
                            ) or self.place(
                                provider, follow_up, cursor, end_of_block, kind, room_busy
                            )
                            if placed is None:
                                break
                            planned.append(placed)
                            cursor = placed.end
            day += timedelta(days=1)
        return planned

    def place(
        self,
        provider: Staff,
        kind_of_visit: AppointmentType,
        start: datetime,
        end_of_block: datetime,
        block_kind: str,
        room_busy: dict[int, list[tuple[datetime, datetime]]],
    ) -> Planned | None:
        end = start + kind_of_visit.duration
        if end > end_of_block:
            return None
        room_id = None
        if kind_of_visit.room_kind:
            room_id = next(
                (
                    room
                    for room in self.procedure_rooms
                    if all(e <= start or end <= s for s, e in room_busy[room])
                ),
                None,
            )
            if room_id is None:
                return None
            room_busy[room_id].append((start, end))
        return Planned(
            provider=provider,
            type=kind_of_visit,
            start=start,
            end=end,
            room_id=room_id,
            is_hold=block_kind == TemplateBlock.Kind.SAME_DAY_HOLD,
        )

    # --- who comes, and what became of it ------------------------------------------------------

    def settle(
        self, planned: list[Planned], patient_ids: list[int], types: dict[str, AppointmentType]
    ) -> list[tuple[Appointment, list[AppointmentEvent]]]:
        """A patient and a status for each visit, with the events that led to that status."""
        rng = self.rng
        with_email = set(
            Patient.objects.filter(pk__in=patient_ids)
            .exclude(email="")
            .values_list("pk", flat=True)
        )
        unseen = patient_ids[:]
        rng.shuffle(unseen)
        booked_on: dict[int, set[date]] = defaultdict(set)
        new_patient = types["New patient"]
        result = []
        for visit in planned:
            day = visit.start.astimezone(self.tz).date()
            patient_id = None
            if visit.type == new_patient and unseen:
                patient_id = unseen.pop()
            else:
                for _ in range(5):  # one visit a day per patient, where the panel allows
                    candidate = rng.choice(patient_ids)
                    if day not in booked_on[candidate]:
                        patient_id = candidate
                        break
            if patient_id is None:
                continue
            booked_on[patient_id].add(day)
            result.append(self.story(visit, patient_id, patient_id in with_email))
        return result

    def story(
        self, visit: Planned, patient_id: int, has_email: bool
    ) -> tuple[Appointment, list[AppointmentEvent]]:
        rng, now = self.rng, self.now
        if visit.is_hold:
            lead = timedelta(minutes=rng.randint(30, 6 * 60))
        else:
            lead = timedelta(days=rng.choice((1, 2, 3, 5, 7, 10, 14, 21, 28, 35)))
        booked_at = min(visit.start - lead, now - timedelta(minutes=rng.randint(5, 600)))
        booked_at -= timedelta(minutes=rng.randint(0, 59))
        appointment = Appointment(
            clinic=self.clinic,
            patient_id=patient_id,
            provider=visit.provider,
            room_id=visit.room_id,
            appointment_type=visit.type,
            start=visit.start,
            end=visit.end,
            booked_by=self.desk,
            created_at=booked_at,
        )
        events = [self.event(appointment, booked_at, "", Status.BOOKED, actor=self.desk)]
        settled = visit.end <= now - SETTLED_AFTER
        roll = rng.random()
        if roll < (0.08 if settled else 0.04):
            self.cancel(appointment, events, booked_at)
            return appointment, events

        remind_at = visit.start - timedelta(hours=48)
        if has_email and booked_at < remind_at <= now:
            appointment.reminder_sent_at = remind_at
        confirmed_at = None
        if rng.random() < 0.55:
            after = max(booked_at, remind_at) + timedelta(minutes=rng.randint(10, 20 * 60))
            if after < min(visit.start, now):
                confirmed_at = after
                appointment.confirmed_at = after
                appointment.status = Status.CONFIRMED
                via = "link" if appointment.reminder_sent_at else "staff"
                events.append(
                    self.event(
                        appointment,
                        after,
                        Status.BOOKED,
                        Status.CONFIRMED,
                        actor=None if via == "link" else self.desk,
                        note=f"confirmed by {via}",
                    )
                )
        if not settled:
            return appointment, events
        before = appointment.status
        if roll < 0.14:
            appointment.status = Status.NO_SHOW
            events.append(
                self.event(
                    appointment,
                    visit.end + timedelta(minutes=60),
                    before,
                    Status.NO_SHOW,
                    actor=None,
                    note="automatic: no check-in",
                )
            )
            return appointment, events
        arrived = visit.start + timedelta(minutes=rng.randint(-15, 10))
        if confirmed_at is not None and arrived <= confirmed_at:
            arrived = confirmed_at + timedelta(minutes=1)
        appointment.status = Status.COMPLETED
        events.append(self.event(appointment, arrived, before, Status.ARRIVED, actor=self.desk))
        events.append(
            self.event(
                appointment,
                visit.end + timedelta(minutes=rng.randint(0, 25)),
                Status.ARRIVED,
                Status.COMPLETED,
                actor=self.desk,
            )
        )
        return appointment, events

    def cancel(
        self, appointment: Appointment, events: list[AppointmentEvent], booked_at: datetime
    ) -> None:
        rng = self.rng
        start = appointment.start
        late = rng.random() < 0.35
        if late:
            cancelled_at = start - timedelta(minutes=rng.randint(60, 20 * 60))
        else:
            cancelled_at = start - timedelta(hours=rng.randint(26, 8 * 24))
        cancelled_at = min(cancelled_at, self.now - timedelta(minutes=rng.randint(5, 120)))
        if cancelled_at <= booked_at:
            cancelled_at = booked_at + (min(start, self.now) - booked_at) / 2
        reason = rng.choices(
            (Reason.PATIENT_REQUEST, Reason.PATIENT_ILL, Reason.PROVIDER_UNAVAILABLE, Reason.OTHER),
            weights=(60, 25, 5, 10),
        )[0]
        note = rng.choice(CANCEL_NOTES[reason])
        window = timedelta(hours=24)  # SchedulingSettings' default late-cancel window
        appointment.status = Status.CANCELLED
        appointment.cancel_reason = reason
        appointment.cancel_note = note
        appointment.cancelled_at = cancelled_at
        appointment.late_cancel = cancelled_at > start - window
        events.append(
            self.event(
                appointment,
                cancelled_at,
                Status.BOOKED,
                Status.CANCELLED,
                actor=self.desk,
                note=Reason(reason).label + (f": {note}" if note else ""),
            )
        )

    def event(
        self,
        appointment: Appointment,
        at: datetime,
        from_status: str,
        to_status: str,
        *,
        actor: User | None,
        note: str = "",
    ) -> AppointmentEvent:
        return AppointmentEvent(
            appointment=appointment,
            at=at,
            actor=actor,
            actor_label=actor.get_username() if actor else "system",
            from_status=from_status,
            to_status=to_status,
            note=note,
        )

    # --- writing --------------------------------------------------------------------------

    def write(self, stories: list[tuple[Appointment, list[AppointmentEvent]]]) -> None:
        """Insert the appointments and their events in bulk, with one audit entry per batch."""
        for first in range(0, len(stories), BATCH_SIZE):
            batch = stories[first : first + BATCH_SIZE]
            appointments = [appointment for appointment, _ in batch]
            booked_at = [appointment.created_at for appointment in appointments]
            Appointment.objects.bulk_create(appointments)
            # bulk_create stamps created_at with now; the booking happened earlier.
            for appointment, at in zip(appointments, booked_at, strict=True):
                appointment.created_at = at
            Appointment.objects.bulk_update(appointments, ["created_at"])
            AppointmentEvent.objects.bulk_create([event for _, events in batch for event in events])
            audit.record(
                actor="seed_scheduling",
                action=AuditEvent.Action.CREATE,
                object_type="scheduling.appointment",
                clinic=self.clinic,
                summary=f"DEMO DATA: seed_scheduling booked {len(batch)} fictitious appointments",
                changes={
                    "ids": [appointments[0].pk, appointments[-1].pk],
                    "from": min(a.start for a in appointments).astimezone(UTC),
                    "to": max(a.start for a in appointments).astimezone(UTC),
                },
            )

    def waitlist(self, patient_ids: list[int], types: dict[str, AppointmentType]) -> int:
        """A few patients waiting for an earlier slot, and two freed slots offered to them."""
        if self.desk is None:
            return 0
        wanted = [types["Follow-up"], types["New patient"], types["Annual physical"]]
        waiting = []
        for index, patient_id in enumerate(self.rng.sample(patient_ids, min(4, len(patient_ids)))):
            waiting.append(
                waitlist_services.add_to_waitlist(
                    actor=self.desk,
                    clinic=self.clinic,
                    patient=Patient.objects.get(pk=patient_id),
                    appointment_type=wanted[index % len(wanted)],
                    earliest=self.today,
                    latest=self.today + timedelta(days=self.rng.choice((10, 14, 21))),
                    time_of_day=(
                        WaitlistEntry.TimeOfDay.ANY,
                        WaitlistEntry.TimeOfDay.MORNING,
                        WaitlistEntry.TimeOfDay.AFTERNOON,
                    )[index % 3],
                    notes="Wants the first opening" if index == 0 else "",
                )
            )
        # Two patients call to cancel: their slots go to the waitlist as offers.
        soon = (
            Appointment.objects.filter(
                clinic=self.clinic,
                status__in=(Status.BOOKED, Status.CONFIRMED),
                appointment_type=wanted[0],
                start__gte=self.now + timedelta(days=2),
                start__lt=self.now + timedelta(days=9),
            )
            .exclude(patient_id__in=[entry.patient_id for entry in waiting])
            .order_by("start")
        )
        for appointment in list(soon[:2]):
            transitions.cancel_appointment(
                actor=self.desk,
                appointment=appointment,
                reason=Reason.PATIENT_REQUEST,
                note="Moving out of the area",
                now=self.now,
            )
        return len(waiting)
