"""The incident state machine: the one place its moves are listed.

    reported ──triage──▶ triaged ──investigate──▶ investigating ──plan──▶ acting ──close──▶ closed
        │                   │                          │                    ▲                │
        └──── close with a stated reason (any open state) ───────────────────┘                │
                                                       ▲                                       │
                                                       └──────────── reopen (a reason) ◀───────┘

Closing from "acting" needs every corrective action verified effective or cancelled (and at
least one verified); otherwise, and from any earlier state, closing needs a stated reason.
"""

from __future__ import annotations

from .models import Incident

S = Incident.Status

# move name -> (states it may start from, the state it ends in, what the button says)
MOVES: dict[str, tuple[frozenset[str], str, str]] = {
    "triage": (frozenset({S.REPORTED}), S.TRIAGED, "Triage"),
    "investigate": (frozenset({S.TRIAGED}), S.INVESTIGATING, "Start the investigation"),
    "plan": (frozenset({S.INVESTIGATING}), S.ACTING, "Analysis done: carry out the actions"),
    "close": (
        frozenset({S.REPORTED, S.TRIAGED, S.INVESTIGATING, S.ACTING}),
        S.CLOSED,
        "Close",
    ),
    "reopen": (frozenset({S.CLOSED}), S.INVESTIGATING, "Reopen"),
}

# The states in which corrective actions may be added or changed.
ACTION_STATES = frozenset({S.TRIAGED, S.INVESTIGATING, S.ACTING})
# The states in which the root-cause analysis may be edited.
ANALYSIS_STATES = frozenset({S.TRIAGED, S.INVESTIGATING, S.ACTING})


class IllegalMove(Exception):
    """A move the state machine does not allow from the incident's state; says why."""


def target(move: str) -> str:
    return MOVES[move][1]


def check(move: str, status: str) -> None:
    """Raise IllegalMove (with a message for the officer) unless `move` may start at `status`."""
    if move not in MOVES:
        raise IllegalMove(f"“{move}” is not something an incident can do.")
    starts, _, label = MOVES[move]
    if status not in starts:
        now = Incident.Status(status).label.lower()
        allowed = ", ".join(sorted(Incident.Status(s).label.lower() for s in starts))
        raise IllegalMove(
            f"{label} is not possible: the incident is {now}. {label} works from: {allowed}."
        )


def moves_from(status: str) -> list[str]:
    """The moves open from `status`, in the order the page offers them."""
    return [name for name, (starts, _, _) in MOVES.items() if status in starts]
