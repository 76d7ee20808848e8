"""Counts: a count session of a location (start, record, post, cancel) and the tablet's
quick count of one item, each variance posted as a count adjustment with its reason."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent

from ..models import (
    CountLine,
    CountSession,
    LocationItem,
    Lot,
    LotStock,
    StockLocation,
    StockMovement,
)
from . import ledger
from .ledger import SupplyError

Kind = StockMovement.Kind
Reason = StockMovement.Reason
# Reasons a person may give for a count adjustment.
COUNT_REASONS = (Reason.MISCOUNTED, Reason.FOUND, Reason.EXPIRED, Reason.LOST, Reason.DAMAGED)


@dataclass(frozen=True)
class CountEntry:
    item_id: int
    counted: int
    lot_id: int | None = None


def start_count(
    *, actor: Any, location: StockLocation, now: datetime | None = None
) -> CountSession:
    """Open a count of a location (one open count per location)."""
    try:
        with transaction.atomic():
            return CountSession.objects.create(
                location=location, started_by=actor, started_at=now or timezone.now()
            )
    except IntegrityError:
        raise SupplyError(
            f"A count of {location.name} is already open; continue that one.", field="location"
        ) from None


def _expected(li: LocationItem, lot_id: int | None) -> int:
    """The system's quantity for a count line: one lot, or the stock held without a lot."""
    lots = dict(LotStock.objects.filter(location_item=li).values_list("lot_id", "on_hand"))
    if lot_id is not None:
        return lots.get(lot_id, 0)
    return li.on_hand - sum(lots.values())


def record_count(
    *, actor: Any, session: CountSession, entries: Sequence[CountEntry], now: datetime | None = None
) -> list[CountLine]:
    """Record counted quantities (a recount replaces the earlier figure) with their variance."""
    now = now or timezone.now()
    if not entries:
        raise SupplyError("Enter at least one counted quantity.", field="lines")
    for index, entry in enumerate(entries, start=1):
        ledger.check_id(entry.item_id, field=f"lines[{index}].item", what="item")
        if entry.lot_id is not None:
            ledger.check_id(entry.lot_id, field=f"lines[{index}].lot", what="lot")
        ledger.check_quantity(
            entry.counted, label="counted quantity", field=f"lines[{index}].counted", minimum=0
        )
    with transaction.atomic():
        locked = (
            CountSession.objects.select_for_update().select_related("location").get(pk=session.pk)
        )
        if locked.status != CountSession.Status.OPEN:
            raise SupplyError("That count is already closed.", field="session")
        by_item = {
            li.item_id: li
            for li in LocationItem.objects.filter(
                location=locked.location, item_id__in=[e.item_id for e in entries]
            ).select_related("item")
        }
        saved = []
        for index, entry in enumerate(entries, start=1):
            prefix = f"lines[{index}]."
            li = by_item.get(entry.item_id)
            if li is None:
                raise SupplyError(
                    f"That item is not stocked at {locked.location.name}.", field=f"{prefix}item"
                )
            counted = entry.counted
            lot_id = entry.lot_id
            if (
                lot_id is not None
                and not Lot.objects.filter(pk=lot_id, item_id=li.item_id).exists()
            ):
                raise SupplyError(
                    f"That lot is not one of {li.item.name}'s lots.", field=f"{prefix}lot"
                )
            line, _ = CountLine.objects.update_or_create(
                session=locked,
                location_item=li,
                lot_id=lot_id,
                defaults={
                    "expected": _expected(li, lot_id),
                    "counted": counted,
                    "counted_by": actor,
                    "counted_at": now,
                },
            )
            saved.append(line)
    return saved


def post_count(
    *,
    actor: Any,
    session: CountSession,
    reasons: dict[int, str] | None = None,
    now: datetime | None = None,
) -> list[StockMovement]:
    """Post a count: each variance becomes a count adjustment with its reason."""
    now = now or timezone.now()
    reasons = reasons or {}
    with transaction.atomic():
        locked = (
            CountSession.objects.select_for_update().select_related("location").get(pk=session.pk)
        )
        if locked.status != CountSession.Status.OPEN:
            raise SupplyError("That count is already closed.", field="session")
        lines = list(locked.lines.select_related("location_item__item", "lot"))
        if not lines:
            raise SupplyError("Nothing has been counted yet.", field="lines")
        movements = _post_lines(actor=actor, lines=lines, reasons=reasons, now=now)
        locked.status = CountSession.Status.POSTED
        locked.posted_by = actor
        locked.posted_at = now
        locked.save(update_fields=["status", "posted_by", "posted_at"])
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=locked,
            clinic=locked.location.clinic_id,
            summary=f"Posted a count of {locked.location.name}: {len(movements)} adjustments",
            changes={
                "adjustments": [
                    {"item": m.location_item.item.sku, "quantity": m.quantity, "reason": m.reason}
                    for m in movements
                ]
            },
        )
    return movements


def _post_lines(
    *, actor: Any, lines: Sequence[CountLine], reasons: dict[int, str], now: datetime
) -> list[StockMovement]:
    for line in lines:
        reason = reasons.get(line.pk, line.reason)
        if line.variance and reason not in COUNT_REASONS:
            raise SupplyError(
                f"Give a reason for the variance of {line.variance:+d} on "
                f"{line.location_item.item.name} "
                "(miscounted, found, expired, lost or damaged).",
                field=f"reason[{line.pk}]",
            )
        line.reason = reason if line.variance else ""
    changing = [line for line in lines if line.variance]
    locked = ledger.lock_location_items(line.location_item_id for line in changing)
    operation = uuid.uuid4()
    movements = []
    for line in sorted(changing, key=lambda ln: (ln.location_item_id, ln.lot_id or 0)):
        li = locked[line.location_item_id]
        delta = line.variance
        if _expected(li, line.lot_id) + delta < 0:
            raise SupplyError(
                f"{li.item.name} was used since it was counted; count it again.",
                field=f"reason[{line.pk}]",
            )
        LocationItem.objects.filter(pk=li.pk).update(on_hand=F("on_hand") + delta)
        li.on_hand += delta
        if line.lot_id is not None:
            ledger.add_to_lot(li.pk, line.lot_id, delta)
        movements.append(
            StockMovement(
                location_item=li,
                lot=line.lot,
                kind=Kind.COUNT_ADJUST,
                quantity=delta,
                unit_cost=li.item.unit_cost,
                user=actor,
                occurred_at=now,
                reason=line.reason,
                operation_id=operation,
                count_line=line,
            )
        )
        CountLine.objects.filter(pk=line.pk).update(reason=line.reason)
    StockMovement.objects.bulk_create(movements)
    return movements


@dataclass(frozen=True)
class LotCount:
    """How one lot (None: the stock held without a lot) came out of a quick count."""

    lot: Lot | None
    before: int
    after: int


@dataclass(frozen=True)
class QuickCountResult:
    """What a quick count stored: on hand before and after (re-read after the write)."""

    before: int
    after: int
    lots: tuple[LotCount, ...]
    movements: tuple[StockMovement, ...]


def _spread_count(
    li: LocationItem, counted: int, *, today: date
) -> list[tuple[Lot | None, int, int]]:
    """[(lot, expected, counted)] for a count of the whole of a location-item held in lots.

    A count of lots (the count screen) counts each lot; a quick count gives only the total, so
    the total is spread over the lots the way stock leaves a location: a shortfall comes off
    the lots in the order use takes them (`ledger.allocate`: in-date lots first-expiring first, then
    the stock held without a lot), since the usual cause of a shortfall is use nobody logged;
    expired lots come off last (use never takes them, so they are most likely still there and
    the expiry screen keeps asking for them to be wasted). A surplus is held without a lot:
    which lot it is, nobody said. Call under the location-item's lock."""
    stocks = ledger.lot_stocks(li.pk)
    unlotted = li.on_hand - sum(s.on_hand for s in stocks)
    in_date = [s for s in stocks if not s.lot.is_expired_on(today)]
    expired = [s for s in stocks if s.lot.is_expired_on(today)]
    figures: dict[int | None, int] = {s.lot_id: s.on_hand for s in stocks}
    figures[None] = unlotted
    if counted >= li.on_hand:
        figures[None] += counted - li.on_hand
    else:
        missing = li.on_hand - counted
        for key in [*(s.lot_id for s in in_date), None, *(s.lot_id for s in expired)]:
            take = min(figures[key], missing)
            figures[key] -= take
            missing -= take
    lines: list[tuple[Lot | None, int, int]] = [
        (s.lot, s.on_hand, figures[s.lot_id]) for s in stocks
    ]
    if unlotted or figures[None]:
        lines.append((None, unlotted, figures[None]))
    return lines


def quick_count(
    *,
    actor: Any,
    location_item: LocationItem,
    counted: int,
    reason: str = "",
    lot: Lot | None = None,
    now: datetime | None = None,
) -> QuickCountResult:
    """Count one item where it stands and post the adjustment at once (the tablet's
    "record a count"). Without a lot the count is the item's total here: for stock held in
    lots it is spread over them (`_spread_count`) and posted as a count of lots is."""
    now = now or timezone.now()
    counted = ledger.check_quantity(counted, label="counted quantity", field="counted", minimum=0)
    if lot is not None and lot.item_id != location_item.item_id:
        raise SupplyError("That lot is not one of this item's lots.", field="lot")
    with transaction.atomic():
        li = ledger.lock_location_items([location_item.pk])[location_item.pk]
        before = li.on_hand
        session = CountSession.objects.create(
            location=li.location,
            status=CountSession.Status.POSTED,
            started_by=actor,
            started_at=now,
            posted_by=actor,
            posted_at=now,
        )
        if lot is not None:
            planned = [(lot, _expected(li, lot.pk), counted)]
        else:
            today = timezone.localdate(now, timezone=li.location.clinic.tz)
            planned = _spread_count(li, counted, today=today)
            if not planned:  # nothing held in lots: the whole is the stock without a lot
                planned = [(None, _expected(li, None), counted)]
        lines = CountLine.objects.bulk_create(
            CountLine(
                session=session,
                location_item=li,
                lot=lot_counted,
                expected=expected,
                counted=figure,
                reason=reason if reason in COUNT_REASONS else "",
                counted_by=actor,
                counted_at=now,
            )
            for lot_counted, expected, figure in planned
        )
        for line in lines:
            line.location_item = li
        movements = _post_lines(
            actor=actor, lines=lines, reasons={line.pk: reason for line in lines}, now=now
        )
        # What was stored, read back: the message is built from this, not from the input.
        after = LocationItem.objects.values_list("on_hand", flat=True).get(pk=li.pk)
        lot_counts = tuple(
            LotCount(lot=line.lot, before=line.expected, after=line.counted)
            for line in lines
            if line.lot is not None or len(lines) > 1
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=session,
            clinic=li.location.clinic_id,
            summary=f"Counted {li.item.name} at {li.location.name}: {after} (was {before})",
            changes={
                "on_hand": [before, after],
                "reason": lines[0].reason if len(lines) == 1 else reason,
                "lots": [
                    {
                        "lot": c.lot.lot_number if c.lot else None,
                        "on_hand": [c.before, c.after],
                    }
                    for c in lot_counts
                ],
            },
        )
    location_item.on_hand = after
    return QuickCountResult(before=before, after=after, lots=lot_counts, movements=tuple(movements))


def cancel_count(*, actor: Any, session: CountSession) -> CountSession:
    """Abandon an open count; nothing is adjusted."""
    with transaction.atomic():
        locked = CountSession.objects.select_for_update().get(pk=session.pk)
        if locked.status != CountSession.Status.OPEN:
            raise SupplyError("That count is already closed.", field="session")
        locked.status = CountSession.Status.CANCELLED
        locked.save(update_fields=["status"])
    return locked
