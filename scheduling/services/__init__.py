"""The verbs of scheduling, one module a job: `booking`, `transitions` (confirm, arrive, complete,
no-show, cancel, reschedule), `waitlist`, `templates` (templates, time off, closures),
`reminders` (reminders, confirmation links, automatic no-shows); `common` holds what they share.
Each runs in one transaction with its audit entry inside.

No double booking is the database's job (exclusion constraints on the appointment table);
the booking service turns the constraint's error into `SlotTaken`. Counting rules that a
constraint cannot express (overbooks per block, a patient booked twice) take a lock first.

Callers import the module that does the job (`from scheduling.services import booking`). The one
thing re-exported here is the family of errors every service raises, so a caller catches
`services.SchedulingError` whichever job it called.
"""

from __future__ import annotations

from .common import (
    IllegalTransition,
    OverbookRefused,
    PatientDoubleBooked,
    RoomTaken,
    SchedulingError,
    SlotTaken,
)

__all__ = [
    "IllegalTransition",
    "OverbookRefused",
    "PatientDoubleBooked",
    "RoomTaken",
    "SchedulingError",
    "SlotTaken",
]
