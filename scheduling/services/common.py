"""What the scheduling services share: the error types, result types, the appointment row lock and
the appointment's event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection
from django.utils import timezone

from clinicops.core import servicekit
from clinicops.core.models import Clinic

from ..models import (
    Appointment,
    AppointmentEvent,
    WaitlistOffer,
)


class SchedulingError(Exception):
    """A booking or status change refused for a reason the user can act on."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class SlotTaken(SchedulingError):
    """Someone else booked the time (or the room) first."""


class RoomTaken(SlotTaken):
    pass


class PatientDoubleBooked(SchedulingError):
    pass


class OverbookRefused(SchedulingError):
    pass


class IllegalTransition(SchedulingError):
    pass


@dataclass
class BookingResult:
    appointment: Appointment
    warnings: list[str] = field(default_factory=list)
    # True when this was a repeat of a submission that had already booked `appointment`.
    replayed: bool = False


@dataclass
class CancelResult:
    appointment: Appointment
    offers: list[WaitlistOffer] = field(default_factory=list)
    # True when the appointment was already cancelled for this reason (the same request twice).
    replayed: bool = False


@dataclass
class AffectedResult:
    """Something that removes slots, and the booked appointments now to be moved."""

    obj: Any
    affected: list[Appointment] = field(default_factory=list)


def require_clinic(actor: Any, clinic_id: int) -> None:
    if not servicekit.works_at(actor, clinic_id):
        raise SchedulingError("You do not work at this clinic.", field="clinic")


def local(clinic: Clinic, moment: datetime) -> str:
    return f"{moment.astimezone(clinic.tz):%a %d %b %Y %H:%M}"


# pg_advisory_xact_lock(namespace, id) namespaces: arbitrary fixed numbers, so these locks never
# collide with other advisory locks.
PATIENT_LOCK_NAMESPACE = 0x5343  # "SC": this patient is being booked
PROVIDER_LOCK_NAMESPACE = 0x5350  # "SP": this provider's time is being taken
ROOM_LOCK_NAMESPACE = 0x5352  # "SR": this room's time is being taken


def lock_patient(patient_id: int) -> None:
    """Serialise bookings of one patient, so two desks cannot both miss each other's booking."""
    _advisory_lock(PATIENT_LOCK_NAMESPACE, patient_id)


def lock_time(*, provider_id: int, room_id: int | None = None) -> None:
    """Serialise whatever makes an appointment hold a provider's (and a room's) time.

    The exclusion constraints alone would refuse the second of two clashing writes, but two
    transactions that write at the same moment each find the other's uncommitted row and wait for
    each other, and Postgres ends that with "deadlock detected" instead of the constraint's error
    (execIndexing.c says so). Taken after the patient lock, provider before room, and rooms in
    ascending order, these locks make the second writer wait for the first's commit and then meet
    its row as a plain constraint violation. Decision 0041.
    """
    _advisory_lock(PROVIDER_LOCK_NAMESPACE, provider_id)
    if room_id is not None:
        _advisory_lock(ROOM_LOCK_NAMESPACE, room_id)


def _advisory_lock(namespace: int, key: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])


def constraint_name(error: IntegrityError) -> str:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


def add_event(appointment: Appointment, *, actor: Any, from_status: str, note: str = "") -> None:
    AppointmentEvent.objects.create(
        appointment=appointment,
        at=timezone.now(),
        actor=servicekit.user_or_none(actor),
        actor_label=servicekit.actor_label(actor),
        from_status=from_status,
        to_status=appointment.status,
        note=note[:255],
    )


def lock(appointment: Appointment | int) -> Appointment:
    return servicekit.lock_row(
        Appointment,
        appointment,
        related=("clinic", "patient", "provider__user", "appointment_type"),
    )
