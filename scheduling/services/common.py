"""What the scheduling services share: the error types, result types, the appointment row lock and
the appointment's event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError
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
