"""The verbs of patient flow, one module a job: `checkin` (arrival and walk-in), `moves` (steps,
rooms, undo), `checkout` (payment and follow-up), `housekeeping` (room cleaned, thresholds, board
view); `common` holds what they share. Each runs in one transaction with its audit entry inside.

A visit's step changes only here, with the visit row locked (SELECT ... FOR UPDATE) and the
caller's idea of the current step checked under that lock: when two people move one patient
at the same moment, the second waits for the first, finds the step changed, and gets
`AlreadyMoved` naming the new step. Two patients in one room is refused by the database
(a partial unique index on room turns), not by a Python check.

Callers import the module that does the job (`from patientflow.services import moves`). The one
thing re-exported here is the family of errors every service raises, so a caller catches
`services.FlowError` whichever job it called.
"""

from __future__ import annotations

from .common import AlreadyCheckedIn, AlreadyMoved, FlowError, IllegalStep, RoomUnavailable

__all__ = ["AlreadyCheckedIn", "AlreadyMoved", "FlowError", "IllegalStep", "RoomUnavailable"]
