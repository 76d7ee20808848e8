"""The claim status machine: every allowed move, in one place.

draft -> scrubbed (clean) / held (failed edits) -> submitted -> accepted / rejected ->
paid / partially paid / denied -> appealed -> closed. A held or rejected claim is fixed and
scrubbed again; `revenue.services.claims.transition` is the only writer of `Claim.status`.
"""

from __future__ import annotations

from .models import ClaimStatus as S

TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SCRUBBED, S.HELD, S.CLOSED}),
    S.HELD: frozenset({S.SCRUBBED, S.HELD, S.CLOSED}),
    S.SCRUBBED: frozenset({S.SCRUBBED, S.HELD, S.SUBMITTED, S.CLOSED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED}),
    S.REJECTED: frozenset({S.SCRUBBED, S.HELD, S.CLOSED}),
    S.ACCEPTED: frozenset({S.PAID, S.PARTIALLY_PAID, S.DENIED, S.CLOSED}),
    # A remittance may reverse a payment (back to accepted) or pay a denied claim on review.
    S.PAID: frozenset({S.CLOSED, S.ACCEPTED}),
    S.PARTIALLY_PAID: frozenset({S.APPEALED, S.PAID, S.DENIED, S.ACCEPTED, S.CLOSED}),
    S.DENIED: frozenset({S.APPEALED, S.PAID, S.PARTIALLY_PAID, S.ACCEPTED, S.CLOSED}),
    S.APPEALED: frozenset({S.PAID, S.PARTIALLY_PAID, S.DENIED, S.ACCEPTED, S.CLOSED}),
    S.CLOSED: frozenset(),
}

# Statuses in which the scrubber may run (the claim is ours to fix).
SCRUBBABLE = frozenset({S.DRAFT, S.HELD, S.SCRUBBED, S.REJECTED})
# Statuses a biller sets by hand on the claim page (the others are set by the scrubber/export).
MANUAL = frozenset(
    {S.ACCEPTED, S.REJECTED, S.PAID, S.PARTIALLY_PAID, S.DENIED, S.APPEALED, S.CLOSED}
)
# A claim the payer has (or may have) on file: a corrected (7) or void (8) claim may replace it.
REPLACEABLE = frozenset(
    {S.SUBMITTED, S.ACCEPTED, S.PAID, S.PARTIALLY_PAID, S.DENIED, S.APPEALED, S.REJECTED}
)


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def next_statuses(from_status: str, *, manual_only: bool = True) -> list[str]:
    allowed = TRANSITIONS.get(from_status, frozenset())
    return [s for s in S.values if s in allowed and (not manual_only or s in MANUAL)]
