"""`manage.py seed_flow`: today's patients moving through the first demo clinic (DEMO DATA).

Run by seed_demo after seed_scheduling. Today's appointments that have begun (or begin within
the quarter hour) and are still waiting for the desk are walked through patientflow's services,
each step at the time it would have happened (`now=`): the earliest are checked out, the next
ready for checkout, with their provider, roomed, and the latest just checked in; a few have not
arrived yet. Rooms are cleaned a few minutes after a patient leaves them, so the room board shows
rooms in use, waiting for cleaning, and free. Steps happen in clock order across all visits,
so a patient is roomed only when a room is free, as on a real morning.

Idempotent per day: a clinic with visits today is left alone. Nothing happens outside the
clinic's day (before the first appointment or after the last).

The past: for every demo clinic, `seed_history` walks a few of each past day's completed
appointments (HISTORY_VISITS_PER_DAY, over HISTORY_WEEKS weeks) through the same services at
that day's times, so the KPI dashboard's door-to-provider and cycle time have a history.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from clinicops.core import roles
from clinicops.core.demo import CLINICS
from clinicops.core.models import Clinic, Room, User
from patientflow import selectors
from patientflow.models import PaymentMethod, Step, Visit
from patientflow.services import checkin, checkout, common, housekeeping, moves
from scheduling.availability import day_bounds_utc
from scheduling.models import Appointment

DEFAULT_SEED = 2026
# Appointments starting up to this far ahead may already be at the desk.
EARLY_ARRIVALS = timedelta(minutes=15)
# Share of the patients due by now who have not turned up (yet).
NOT_ARRIVED = 0.1
TELEHEALTH = "Telehealth"  # seed_scheduling's video visit type
# Past weeks of visits (as many as the KPI dashboard shows) and how many of each day's completed
# appointments are walked through the flow: enough for believable weekly medians of door-to-
# provider and cycle time, few enough that seeding stays quick (each step is audited).
HISTORY_WEEKS = 12
HISTORY_VISITS_PER_DAY = 3


@dataclass(order=True)
class Action:
    at: datetime
    sequence: int  # ties keep the order the actions were planned in
    name: str = field(compare=False)
    appointment: Appointment = field(compare=False)
    room: Room | None = field(default=None, compare=False)


class Command(BaseCommand):
    help = "Walk today's patients at the first demo clinic through the flow (DEMO DATA)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help="Random seed, for repeatable data."
        )
        parser.add_argument(
            "--history-weeks",
            type=int,
            default=HISTORY_WEEKS,
            help=f"Weeks of past visits to walk through the flow (default {HISTORY_WEEKS}).",
        )

    def handle(self, *args: Any, seed: int, **options: Any) -> None:
        clinic = (
            Clinic.objects.filter(name__in=[spec.name for spec in CLINICS], is_active=True)
            .order_by("pk")
            .first()
        )
        if clinic is None:
            self.stdout.write("No demo clinic: run seed_demo first.")
            return
        rng = random.Random(f"{seed}:{clinic.name}:flow")  # noqa: S311 - demo data, not secrets
        with transaction.atomic():
            summary = FlowSeeder(clinic, rng).run()
        self.stdout.write(f"{clinic}: {summary}")
        for demo_clinic in Clinic.objects.filter(
            name__in=[spec.name for spec in CLINICS], is_active=True
        ).order_by("pk"):
            history_rng = random.Random(f"{seed}:{demo_clinic.name}:history")  # noqa: S311
            seeded = seed_history(demo_clinic, history_rng, weeks=options["history_weeks"])
            self.stdout.write(f"{demo_clinic}: {seeded}")


class FlowSeeder:
    """Today's flow at one clinic, as of `now`; `run` returns a line for the console."""

    def __init__(self, clinic: Clinic, rng: random.Random, *, now: datetime | None = None) -> None:
        self.clinic = clinic
        self.rng = rng
        self.now = now or timezone.now()
        self.today = self.now.astimezone(clinic.tz).date()
        self.desk = self._user(roles.FRONT_DESK)
        self.nurse = self._user(roles.NURSE) or self.desk
        self.sequence = itertools.count()
        self.queue: list[Action] = []

    def _user(self, role: str) -> User | None:
        return (
            User.objects.filter(groups__name=role, staff__clinics=self.clinic, is_active=True)
            .order_by("pk")
            .first()
        )

    def run(self) -> str:
        start, end = day_bounds_utc(self.today, self.clinic.tz)
        today = Visit.objects.filter(
            clinic=self.clinic, checked_in_at__gte=start, checked_in_at__lt=end
        )
        if today.exists():
            return "today's flow seeded before, left as it is."
        if self.desk is None:
            return "no front desk to check patients in."
        due = list(
            Appointment.objects.filter(
                clinic=self.clinic,
                start__gte=start,
                start__lt=min(end, self.now + EARLY_ARRIVALS),
                status__in=(Appointment.Status.BOOKED, Appointment.Status.CONFIRMED),
            )
            # The demo's video visits never come through the door.
            .exclude(appointment_type__name=TELEHEALTH)
            .select_related("patient", "provider__user", "appointment_type")
            .order_by("start", "pk")
        )
        for appointment in due:
            if self.rng.random() >= NOT_ARRIVED:
                for action in self.timeline(appointment):
                    self.schedule(action)
        visits: dict[int, Visit] = {}
        while self.queue:
            self.perform(heapq.heappop(self.queue), visits)
        steps = Counter(today.values_list("step", flat=True))
        shown = ", ".join(
            f"{steps[step]} {Step(step).label.lower()}" for step in Step.values if steps[step]
        )
        return (
            f"{len(visits)} visits today ({shown or 'none'}), {len(due) - len(visits)} not arrived."
        )

    def schedule(self, action: Action) -> None:
        """Queue an action, if its time has come."""
        if action.at <= self.now:
            heapq.heappush(self.queue, action)

    def timeline(self, appointment: Appointment) -> list[Action]:
        """When this patient reaches each step, if nothing held them up."""
        rng = self.rng
        at = appointment.start + timedelta(minutes=rng.randint(-12, 8))
        length = appointment.end - appointment.start
        plan = [("check_in", at)]
        for name, minutes in (
            ("room", rng.randint(4, 14)),
            ("with_provider", rng.randint(3, 12)),
            ("ready", int(length.total_seconds() // 60 * rng.uniform(0.6, 1.0))),
            ("check_out", rng.randint(2, 9)),
        ):
            at += timedelta(minutes=minutes)
            plan.append((name, at))
        return [
            Action(at=when, sequence=next(self.sequence), name=name, appointment=appointment)
            for name, when in plan
        ]

    def perform(self, action: Action, visits: dict[int, Visit]) -> None:
        appointment = action.appointment
        if action.name == "clean" and action.room is not None:
            housekeeping.mark_room_clean(actor=self.nurse, room=action.room, now=action.at)
            return
        visit = visits.get(appointment.pk)
        if action.name == "check_in":
            visits[appointment.pk] = checkin.check_in(
                actor=self.desk,
                appointment=appointment,
                copay=self.copay(appointment),
                forms_signed=["consent", "privacy", "financial"],
                insurance_confirmed=True,
                now=action.at,
            )
            return
        if visit is None:
            return
        visit.refresh_from_db(fields=["step", "room"])
        provider = appointment.provider.user
        if action.name == "room":
            room = self.free_room(appointment)
            if room is None:
                return  # every room is taken: the patient waits in the lobby
            visits[appointment.pk] = moves.move_visit(
                actor=self.nurse,
                visit=visit,
                to_step=Step.ROOMED,
                expected_step=Step.CHECKED_IN,
                room=room,
                now=action.at,
            )
        elif action.name == "with_provider" and visit.step == Step.ROOMED:
            visits[appointment.pk] = moves.move_visit(
                actor=provider,
                visit=visit,
                to_step=Step.WITH_PROVIDER,
                expected_step=Step.ROOMED,
                now=action.at,
            )
        elif action.name == "ready" and visit.step == Step.WITH_PROVIDER:
            room = visit.room
            visits[appointment.pk] = moves.move_visit(
                actor=provider,
                visit=visit,
                to_step=Step.READY_FOR_CHECKOUT,
                expected_step=Step.WITH_PROVIDER,
                now=action.at,
            )
            self.schedule(
                Action(
                    at=action.at + timedelta(minutes=self.rng.randint(3, 10)),
                    sequence=next(self.sequence),
                    name="clean",
                    appointment=appointment,
                    room=room,
                )
            )
        elif action.name == "check_out" and visit.step == Step.READY_FOR_CHECKOUT:
            visits[appointment.pk] = checkout.check_out(actor=self.desk, visit=visit, now=action.at)

    def free_room(self, appointment: Appointment) -> Room | None:
        """The room booked for the visit if it is free, else the first free room of its kind."""
        free = {room.pk: room for room in selectors.free_rooms(clinic=self.clinic)}
        if appointment.room_id is not None:
            return free.get(appointment.room_id)
        kind = appointment.appointment_type.room_kind or Room.Kind.EXAM
        return next(
            (room for room in sorted(free.values(), key=lambda r: r.name) if room.kind == kind),
            None,
        )

    def copay(self, appointment: Appointment) -> common.PaymentInput | None:
        if self.rng.random() < 0.5:
            return None
        amount = self.rng.choice((Decimal("20.00"), Decimal("25.00"), Decimal("40.00")))
        method = self.rng.choice((PaymentMethod.CARD, PaymentMethod.CARD, PaymentMethod.CASH))
        return common.PaymentInput(amount, method, f"R{appointment.pk:07d}")


def seed_history(
    clinic: Clinic,
    rng: random.Random,
    *,
    weeks: int = HISTORY_WEEKS,
    per_day: int = HISTORY_VISITS_PER_DAY,
    today: Any = None,
) -> str:
    """Walk some of each past day's completed appointments through the flow, at that day's
    times, so the KPI history has door-to-provider and cycle-time figures.

    seed_scheduling writes the past settled (completed) in bulk, since a booking cannot be made
    in the past; here a sample of each day's completed appointments is set back to booked and
    taken through patientflow's services (check in, room, provider, ready, check out, room
    cleaned) with `now=` at the day's times, by the same `FlowSeeder` as today's board:
    checkout completes the appointment again. A sampled patient who does not arrive (a tenth)
    gets their completed status back. Idempotent per day: a day with visits is left alone.
    """
    today = today or clinic.today()
    days = [today - timedelta(days=n) for n in range(weeks * 7, 0, -1)]
    visits = seeded_days = 0
    for day in days:
        start, end = day_bounds_utc(day, clinic.tz)
        if Visit.objects.filter(
            clinic=clinic, checked_in_at__gte=start, checked_in_at__lt=end
        ).exists():
            continue
        completed = list(
            Appointment.objects.filter(
                clinic=clinic,
                start__gte=start,
                start__lt=end,
                status=Appointment.Status.COMPLETED,
            )
            .exclude(appointment_type__name=TELEHEALTH)
            .order_by("start", "pk")
            .values_list("pk", flat=True)
        )
        if not completed:
            continue
        sample = sorted(rng.sample(completed, min(per_day, len(completed))))
        with transaction.atomic():
            Appointment.objects.filter(pk__in=sample).update(status=Appointment.Status.BOOKED)
            seeder = FlowSeeder(clinic, rng, now=end - timedelta(minutes=1))
            seeder.run()
            Appointment.objects.filter(pk__in=sample, status=Appointment.Status.BOOKED).update(
                status=Appointment.Status.COMPLETED
            )
        visits += Visit.objects.filter(
            clinic=clinic, checked_in_at__gte=start, checked_in_at__lt=end
        ).count()
        seeded_days += 1
    return f"{visits} past visits over {seeded_days} days walked through the flow."
