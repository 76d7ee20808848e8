"""The denial work queue's writes: assign (one or many), move a work item (new -> working ->
appealed -> won / lost / written off), notes, correct & resubmit (a frequency-7 claim through
the scrubber), appeal, write off (a WRITE_OFF ledger row), and the weekly digest to owners.
Each write locks its items, checks the clinic, and records its audit entry last."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from clinicops.core import servicekit
from clinicops.core.models import Clinic, User

from .. import claim_status
from ..models import Claim, ClaimStatus, DenialItem, LedgerEntry
from . import claims
from .common import RevenueError, record

S = DenialItem.Status
TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.WORKING, S.APPEALED, S.LOST, S.WRITTEN_OFF}),
    S.WORKING: frozenset({S.APPEALED, S.WON, S.LOST, S.WRITTEN_OFF}),
    S.APPEALED: frozenset({S.WORKING, S.WON, S.LOST, S.WRITTEN_OFF}),
    S.WON: frozenset(),
    S.LOST: frozenset({S.WRITTEN_OFF}),
    S.WRITTEN_OFF: frozenset(),
}
# Set through their own actions (a write-off posts to the ledger and needs its permission).
BY_ACTION = frozenset({S.WRITTEN_OFF})
NEEDS_REASON = frozenset({S.WON, S.LOST, S.WRITTEN_OFF})


def next_statuses(status: str) -> list[str]:
    allowed = TRANSITIONS.get(status, frozenset())
    return [s for s in S.values if s in allowed and s not in BY_ACTION]


def _lock(actor: Any, pk: int | DenialItem) -> DenialItem:
    item = servicekit.lock_row(DenialItem, pk, related=("claim",))
    if not servicekit.works_at(actor, item.clinic_id):
        raise DenialItem.DoesNotExist
    return item


def _audit(
    actor: Any, item: DenialItem, summary: str, changes: dict[str, Any] | None = None
) -> None:
    record(actor, item, summary[:255], changes=changes)


def assign(*, actor: Any, items: list[int], owner: User | None, clinic_id: int) -> int:
    """Give the open items (of one clinic) to `owner` (None: unassigned); how many changed."""
    if owner is not None and clinic_id not in owner.clinic_ids and not owner.is_superuser:
        raise RevenueError(f"{owner.get_full_name() or owner} does not work here.", field="owner")
    if not items:
        raise RevenueError("Tick the work items to assign.", field="items")
    with transaction.atomic():
        locked = list(
            DenialItem.objects.select_for_update()
            .filter(pk__in=items, clinic_id=clinic_id, status__in=DenialItem.OPEN)
            .order_by("pk")
        )
        changed = [i for i in locked if i.owner_id != (owner.pk if owner else None)]
        for item in changed:
            before = item.owner_id
            item.owner = owner
            item.save(update_fields=["owner", "updated_at"])
            _audit(
                actor,
                item,
                f"Assigned denial {item.pk} to {owner.get_username() if owner else 'nobody'}",
                {"owner": [before, owner.pk if owner else None]},
            )
        return len(changed)


def move(*, actor: Any, item: int | DenialItem, to_status: str, reason: str = "") -> DenialItem:
    reason = (reason or "").strip()
    if to_status not in S.values:
        raise RevenueError("Choose a status from the list.", field="status")
    if to_status in BY_ACTION:
        raise RevenueError("Write a denial off with the write-off action.", field="status")
    if to_status in NEEDS_REASON and not reason:
        raise RevenueError("Say why (won, lost and written off need a reason).", field="reason")
    with transaction.atomic():
        locked = _lock(actor, item)
        if to_status == locked.status:
            return locked  # the same request twice changes nothing
        if to_status not in TRANSITIONS[locked.status]:
            raise RevenueError(
                f"A {locked.get_status_display().lower()} denial cannot become "
                f"{S(to_status).label.lower()}.",
                field="status",
            )
        before = locked.status
        locked.status = to_status
        if reason:
            locked.resolution_reason = reason[:255]
        locked.save(update_fields=["status", "resolution_reason", "updated_at"])
        _audit(
            actor,
            locked,
            f"Denial {locked.pk}: {before} -> {to_status}" + (f" ({reason})" if reason else ""),
            {"status": [before, to_status]},
        )
        return locked


def add_note(
    *, actor: Any, item: int | DenialItem, text: str, now: dt.datetime | None = None
) -> DenialItem:
    text = (text or "").strip()
    if not text:
        raise RevenueError("Write the note.", field="note")
    if len(text) > 2000:
        raise RevenueError("A note is at most 2,000 characters.", field="note")
    with transaction.atomic():
        locked = _lock(actor, item)
        clinic_tz = Clinic.objects.get(pk=locked.clinic_id).tz
        stamp = (now or timezone.now()).astimezone(clinic_tz).strftime("%Y-%m-%d %H:%M")
        line = f"[{stamp} {servicekit.actor_label(actor)}] {text}"
        last = locked.notes.rsplit("\n", 1)[-1]
        if last.startswith(f"[{stamp[:13]}") and last.endswith(
            f" {servicekit.actor_label(actor)}] {text}"
        ):
            return locked  # the same note sent twice (a double click, a retry): kept once
        locked.notes = f"{locked.notes}\n{line}".strip()
        if locked.status == S.NEW:
            locked.status = S.WORKING
        locked.save(update_fields=["notes", "status", "updated_at"])
        _audit(actor, locked, f"Note on denial {locked.pk}")
        return locked


def appeal(*, actor: Any, item: int | DenialItem) -> DenialItem:
    """The item is appealed (the letter is printed from the item page); the claim too."""
    with transaction.atomic():
        locked = _lock(actor, item)
        if locked.status == S.APPEALED:
            return locked
        if S.APPEALED not in TRANSITIONS[locked.status]:
            raise RevenueError(
                f"A {locked.get_status_display().lower()} denial cannot be appealed.",
                field="status",
            )
        before = locked.status
        locked.status = S.APPEALED
        locked.save(update_fields=["status", "updated_at"])
        if claim_status.can_move(locked.claim.status, ClaimStatus.APPEALED):
            claims.transition(
                actor=actor,
                claim=locked.claim_id,
                to_status=ClaimStatus.APPEALED,
                reason=f"Denial {locked.pk} appealed",
            )
        _audit(actor, locked, f"Appealed denial {locked.pk}", {"status": [before, S.APPEALED]})
        return locked


def resubmit(*, actor: Any, item: int | DenialItem, reason: str) -> Claim:
    """Correct & resubmit: a corrected (frequency 7) claim for the denied one, scrubbed."""
    reason = (reason or "").strip()
    if not reason:
        raise RevenueError("Say what was corrected.", field="reason")
    with transaction.atomic():
        locked = _lock(actor, item)
        if not locked.is_open:
            raise RevenueError("This denial is closed.", field="status")
        pending = (
            Claim.objects.filter(original_id=locked.claim_id, frequency=Claim.Frequency.CORRECTED)
            .exclude(status__in=(ClaimStatus.CLOSED, ClaimStatus.REJECTED))
            .first()
        )
        if pending is not None:
            raise RevenueError(
                f"Corrected claim {pending.control_number} was already built for this claim "
                f"({pending.get_status_display().lower()}); work that one.",
                field="reason",
            )
        new = claims.replace_claim(
            actor=actor,
            claim=locked.claim_id,
            frequency=Claim.Frequency.CORRECTED,
            payer_claim_number=locked.claim.payer_claim_number,
            reason=reason,
        )
        locked.status = S.WORKING
        locked.notes = (
            f"{locked.notes}\n[{servicekit.actor_label(actor)}] Corrected claim "
            f"{new.control_number} built ({new.get_status_display().lower()}): {reason}"
        ).strip()
        locked.save(update_fields=["status", "notes", "updated_at"])
        _audit(actor, locked, f"Denial {locked.pk}: corrected claim {new.control_number}")
        return new


def write_off(*, actor: Any, item: int | DenialItem, reason: str) -> DenialItem:
    """Write the denied amount off: a WRITE_OFF ledger row; the claim's balance drops by it."""
    reason = (reason or "").strip()
    if not reason:
        raise RevenueError("Say why the amount is written off.", field="reason")
    with transaction.atomic():
        locked = _lock(actor, item)
        if locked.status == S.WRITTEN_OFF:
            return locked
        if S.WRITTEN_OFF not in TRANSITIONS[locked.status]:
            raise RevenueError(
                f"A {locked.get_status_display().lower()} denial cannot be written off.",
                field="status",
            )
        claim = servicekit.lock_row(Claim, locked.claim_id, related=("clinic",))
        LedgerEntry.objects.create(
            clinic_id=locked.clinic_id,
            claim=claim,
            claim_line_id=locked.claim_line_id,
            patient_id=locked.patient_id,
            payer_id=locked.payer_id,
            kind=LedgerEntry.Kind.WRITE_OFF,
            amount=locked.amount,
            posted_at=timezone.now(),
            posted_by_label=servicekit.actor_label(actor),
            note=f"Denial {locked.pk}: {reason}"[:255],
        )
        claim.balance -= locked.amount
        claim.adjusted_amount += locked.amount
        claim.save(update_fields=["balance", "adjusted_amount"])
        before = locked.status
        locked.status = S.WRITTEN_OFF
        locked.resolution_reason = reason[:255]
        locked.save(update_fields=["status", "resolution_reason", "updated_at"])
        _audit(
            actor,
            locked,
            f"Wrote off {locked.amount} of claim {claim.control_number}: {reason}",
            {"status": [before, S.WRITTEN_OFF], "amount": str(locked.amount)},
        )
        return locked


def send_weekly_digest(*, today: dt.date | None = None) -> int:
    """Mail each owner their open denials (overdue first); how many mails went out."""
    today = today or timezone.localdate()
    items = (
        DenialItem.objects.filter(status__in=DenialItem.OPEN, owner__isnull=False)
        .select_related("owner", "claim", "payer")
        .order_by("due_date", "pk")
    )
    by_owner: dict[int, list[DenialItem]] = defaultdict(list)
    owners: dict[int, Any] = {}
    for item in items:
        if item.owner_id is None:
            continue
        by_owner[item.owner_id].append(item)
        owners[item.owner_id] = item.owner
    sent = 0
    for owner_id, mine in by_owner.items():
        owner = owners[owner_id]
        if not owner.email:
            continue
        overdue = [i for i in mine if i.due_date < today]
        total = sum((i.amount for i in mine), Decimal("0"))
        lines = [
            f"{'OVERDUE ' if i.due_date < today else ''}due {i.due_date:%Y-%m-%d}  "
            f"claim {i.claim.control_number}  {', '.join(i.carcs)}  ${i.amount:,.2f}  "
            f"{i.get_status_display()}"
            for i in mine
        ]
        # Claim numbers, codes and amounts only: no patient names in a mail.
        EmailMessage(
            subject=f"ClinicOps: {len(mine)} open denials ({len(overdue)} overdue)",
            body=(
                f"Your open denials as of {today:%Y-%m-%d}: {len(mine)} worth ${total:,.2f}, "
                f"{len(overdue)} past their appeal deadline.\n\n" + "\n".join(lines)
            ),
            to=[owner.email],
        ).send()
        sent += 1
    return sent
