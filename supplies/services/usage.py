"""Logging use at a location (the nurse's tablet), undoing a log, and the manager's review
of stock found at use."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Patient

from ..models import (
    FoundStockReview,
    LocationItem,
    StockLocation,
    StockMovement,
    SupplyItem,
    UsageSubmission,
)
from . import ledger
from .ledger import MAX_BULK_QUANTITY, SupplyError, UndoRefused

Kind = StockMovement.Kind
# Postgres's SQLSTATE for a NULL in a NOT NULL column.
NOT_NULL_VIOLATION = "23502"
Reason = StockMovement.Reason


@dataclass(frozen=True)
class UsageLine:
    """One tile or scan: an item, how many, and optionally the lot the nurse picked."""

    item_id: int
    quantity: int
    lot_id: int | None = None


@dataclass(frozen=True)
class LoggedLine:
    location_item_id: int
    item_name: str
    unit_of_use: str
    quantity: int
    on_hand: int
    reorder_point: int
    par: int
    lots: tuple[str, ...] = ()
    # Units used beyond what the books held, posted as found and flagged for review.
    found: int = 0
    # Expired units still on the books here (reported when some use had to be found).
    expired: int = 0

    @property
    def at_or_below_reorder_point(self) -> bool:
        return self.par > 0 and self.on_hand <= self.reorder_point


@dataclass(frozen=True)
class UsageResult:
    submission: UsageSubmission
    lines: tuple[LoggedLine, ...]
    replayed: bool = False

    @property
    def low_lines(self) -> tuple[LoggedLine, ...]:
        return tuple(line for line in self.lines if line.at_or_below_reorder_point)

    @property
    def found_lines(self) -> tuple[LoggedLine, ...]:
        return tuple(line for line in self.lines if line.found)


def _visit_ref(visit: Any) -> tuple[int | None, Patient | None]:
    """(visit id, the visit's patient) for a visit given as an id or (later) a Visit object."""
    if visit is None:
        return None, None
    if isinstance(visit, bool):
        raise SupplyError("That visit was not found.", field="visit")
    if isinstance(visit, int):
        return visit, None
    return visit.pk, getattr(visit, "patient", None)


def _merge_lines(lines: Iterable[UsageLine]) -> dict[tuple[int, int | None], int]:
    merged: dict[tuple[int, int | None], int] = defaultdict(int)
    for line in lines:
        ledger.check_id(line.item_id, field="item", what="item")
        if line.lot_id is not None:
            ledger.check_id(line.lot_id, field="lot", what="lot")
        # The per-item cap is checked once the items are loaded; this only keeps sums sane.
        ledger.check_quantity(line.quantity, cap=MAX_BULK_QUANTITY)
        merged[(line.item_id, line.lot_id)] += line.quantity
    if not merged:
        raise SupplyError("Add at least one item to log.", field="lines")
    return dict(merged)


def _stocked_items(location: StockLocation, item_ids: set[int]) -> dict[int, LocationItem]:
    """{item id: location-item (with its item)} at a location, in one plain query: this is
    the nurse's hot path, so it skips the ORM's query building."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT li.id, li.item_id, li.par, li.reorder_point, li.max_quantity, li.on_hand, "
            "li.is_active, i.sku, i.name, i.unit_of_use, i.pack_size, i.unit_cost, i.is_active, "
            "i.is_lot_tracked, i.max_use_quantity, i.is_critical, i.supplier_id "
            "FROM supplies_locationitem li JOIN supplies_supplyitem i ON i.id = li.item_id "
            "WHERE li.location_id = %s AND li.item_id = ANY(%s)",
            [location.pk, sorted(item_ids)],
        )
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        item = SupplyItem(
            id=row[1],
            sku=row[7],
            name=row[8],
            unit_of_use=row[9],
            pack_size=row[10],
            unit_cost=row[11],
            is_active=row[12],
            is_lot_tracked=row[13],
            max_use_quantity=row[14],
            is_critical=row[15],
            supplier_id=row[16],
        )
        li = LocationItem(
            id=row[0],
            location_id=location.pk,
            item_id=row[1],
            par=row[2],
            reorder_point=row[3],
            max_quantity=row[4],
            on_hand=row[5],
            is_active=row[6],
        )
        li.item = item
        li.location = location
        found[item.pk] = li
    return found


def _logged_line(
    li: LocationItem,
    quantity: int,
    on_hand: int,
    lots: tuple[str, ...] = (),
    *,
    found: int = 0,
    expired: int = 0,
) -> LoggedLine:
    return LoggedLine(
        location_item_id=li.pk,
        item_name=li.item.name,
        unit_of_use=li.item.unit_of_use,
        quantity=quantity,
        on_hand=on_hand,
        reorder_point=li.reorder_point,
        par=li.par,
        lots=lots,
        found=found,
        expired=expired,
    )


def _found_movement(
    *,
    li: LocationItem,
    quantity: int,
    actor: Any,
    now: datetime,
    operation: uuid.UUID,
    submission_id: int,
) -> StockMovement:
    """The automatic "found" line for use beyond the books: stock without a lot (nobody said
    which lot), tied to the log that needed it."""
    return StockMovement(
        location_item_id=li.pk,
        kind=Kind.FOUND,
        quantity=quantity,
        unit_cost=li.item.unit_cost,
        user=actor,
        occurred_at=now,
        reason=Reason.FOUND,
        note="Used beyond the books at logging; for review",
        operation_id=operation,
        submission_id=submission_id,
    )


def _checked_lines(
    location: StockLocation,
    wanted: dict[tuple[int, int | None], int],
    by_item: dict[int, LocationItem],
) -> dict[int, list[tuple[int | None, int]]]:
    """{location-item id: [(lot id, quantity)]} for the wanted lines, or the refusal."""
    per_li: dict[int, list[tuple[int | None, int]]] = defaultdict(list)
    for (item_id, lot_id), quantity in wanted.items():
        li = by_item.get(item_id)
        if li is None or not li.is_active or not li.item.is_active:
            raise SupplyError(f"That item is not stocked at {location.name}.", field="item")
        li.location = location
        cap = min(li.item.use_cap, MAX_BULK_QUANTITY)
        total = sum(q for (i, _), q in wanted.items() if i == item_id)
        if total > cap:
            raise SupplyError(
                f"{total} {li.item.unit_of_use} of {li.item.name} is over the limit of {cap} "
                "for one log; check the quantity.",
                field="quantity",
            )
        if lot_id is not None and not li.item.is_lot_tracked:
            raise SupplyError(f"{li.item.name} is not lot-tracked; do not pick a lot.", field="lot")
        per_li[li.pk].append((lot_id, quantity))
    return per_li


def _log_in_one_statement(
    *,
    actor: Any,
    location: StockLocation,
    wanted: dict[tuple[int, int | None], int],
    by_item: dict[int, LocationItem],
    key: str,
    fingerprint: str,
    now: datetime,
) -> UsageResult | None:
    """The common log (no patient, no lots, enough on the books) as one statement, so one
    round trip and no BEGIN or COMMIT; None when it is not that log (the caller takes the
    transaction's path, which refuses, replays or posts found stock as before).

    The statement claims the submission first (ON CONFLICT DO NOTHING waits for a concurrent
    twin, as `ledger.claim_submission` does), then takes each location-item in ascending id
    (each UPDATE runs only once the previous one returned its row: the lock order of 0004),
    then writes the ledger lines with the quantities the takes returned. A take that finds
    too few returns no row, so its ledger line has no quantity and the NOT NULL constraint
    fails the statement: nothing of it is kept, the claim included, and the log goes the
    transaction's way. A claim that finds the key taken takes nothing: a replay.
    """
    try:
        per_li = _checked_lines(location, wanted, by_item)
    except SupplyError:
        return None  # a replay of this key would still be answered: the transaction decides
    lis = {li.pk: li for li in by_item.values()}
    if any(lis[li_id].item.is_lot_tracked or lot for li_id in per_li for lot, _ in per_li[li_id]):
        return None
    totals = {li_id: sum(q for _, q in per_li[li_id]) for li_id in sorted(per_li)}
    operation = uuid.uuid4()
    takes, values = [], []
    params: list[Any] = [actor.pk, key, UsageSubmission.Kind.USE, location.pk, fingerprint, now]
    take_params: list[Any] = []
    value_params: list[Any] = []
    previous = "claim"
    # Only generated names (t0, t1, ...) are joined in; every value is a parameter.
    for n, (li_id, total) in enumerate(totals.items()):
        takes.append(
            f"t{n} AS (UPDATE supplies_locationitem SET on_hand = on_hand - %s WHERE id = %s "  # noqa: S608
            f"AND on_hand >= %s AND EXISTS (SELECT FROM {previous}) RETURNING on_hand)"
        )
        take_params += [total, li_id, total]
        values.append(f"(%s::bigint, (SELECT -%s::integer FROM t{n}), %s::numeric)")  # noqa: S608
        value_params += [li_id, total, lis[li_id].item.unit_cost]
        previous = f"t{n}"
    sql = (
        "WITH claim AS (INSERT INTO supplies_usagesubmission (user_id, idempotency_key, kind, "  # noqa: S608
        "location_id, fingerprint, created_at) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING id), "
        + ", ".join(takes)
        + ", logged AS (INSERT INTO supplies_stockmovement (location_item_id, kind, quantity, "
        "unit_cost, user_id, occurred_at, reason, note, operation_id, submission_id) "
        "SELECT v.li, %s, v.q, v.cost, %s, %s, '', '', %s, claim.id FROM claim, (VALUES "
        + ", ".join(values)
        + ") AS v (li, q, cost)) "
        "SELECT (SELECT id FROM claim), "
        + ", ".join(f"(SELECT on_hand FROM t{n})" for n in range(len(totals)))  # noqa: S608
    )
    params += [*take_params, Kind.USE, actor.pk, now, operation, *value_params]
    try:
        # Inside a caller's transaction a failed statement would abort it: a savepoint there.
        savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    except IntegrityError as error:
        if getattr(error.__cause__, "sqlstate", None) != NOT_NULL_VIOLATION:
            raise
        return None  # fewer on the books than were used: found stock, in the transaction
    submission_id, on_hands = row[0], row[1:]
    if submission_id is None:
        return _replay(actor=actor, key=key, fingerprint=fingerprint)
    submission = UsageSubmission(
        pk=submission_id,
        user=actor,
        idempotency_key=key,
        kind=UsageSubmission.Kind.USE,
        location=location,
        fingerprint=fingerprint,
        created_at=now,
    )
    lines = tuple(
        _logged_line(lis[li_id], total, on_hand)
        for (li_id, total), on_hand in zip(totals.items(), on_hands, strict=True)
    )
    return UsageResult(submission=submission, lines=lines)


def log_usage(
    *,
    actor: Any,
    location: StockLocation,
    lines: Sequence[UsageLine],
    visit: Any = None,
    patient: Patient | None = None,
    idempotency_key: str,
    now: datetime | None = None,
    location_items: Iterable[LocationItem] | None = None,
) -> UsageResult:
    """Log supplies used at a location, once per idempotency key, never below zero.

    `location_items`: the location's items as the caller has just read them (each with its
    item), so they are not read again; the tablet reads them for its form anyway.
    """
    key = ledger.check_key(idempotency_key)
    wanted = _merge_lines(lines)
    visit_id, visit_patient = _visit_ref(visit)
    patient = patient or visit_patient
    if patient is not None and patient.clinic_id != location.clinic_id:
        raise SupplyError("That patient is not registered at this clinic.", field="patient")
    now = now or timezone.now()
    fingerprint = ledger.fingerprint(
        [location.pk, getattr(patient, "pk", None), visit_id, sorted(wanted.items(), key=str)]
    )
    given = None
    if location_items is not None:
        given = {li.item_id: li for li in location_items if li.location_id == location.pk}
        if patient is None and visit_id is None:
            result = _log_in_one_statement(
                actor=actor,
                location=location,
                wanted=wanted,
                by_item=given,
                key=key,
                fingerprint=fingerprint,
                now=now,
            )
            if result is not None:
                return result

    with transaction.atomic():
        submission_id = ledger.claim_submission(
            actor=actor,
            key=key,
            kind=UsageSubmission.Kind.USE,
            location=location,
            patient=patient,
            visit_id=visit_id,
            fingerprint=fingerprint,
            now=now,
        )
        if submission_id is None:
            return _replay(actor=actor, key=key, fingerprint=fingerprint)

        by_item = (
            given
            if given is not None
            else _stocked_items(location, {item_id for item_id, _ in wanted})
        )
        per_li = _checked_lines(location, wanted, by_item)
        lis = {li.pk: li for li in by_item.values()}
        today = (
            timezone.localdate(now, timezone=location.clinic.tz)
            if any(lis[i].item.is_lot_tracked for i in per_li)
            else None
        )
        operation = uuid.uuid4()
        movements: list[StockMovement] = []
        logged: list[LoggedLine] = []
        for li_id in sorted(per_li):
            li = lis[li_id]
            requests = sorted(per_li[li_id], key=lambda r: (r[0] is None, r[0] or 0))
            total = sum(q for _, q in requests)
            if not li.item.is_lot_tracked:
                # The common case in one round trip: take the units and write the ledger line.
                on_hand = ledger.take_and_record(
                    li=li,
                    quantity=total,
                    actor=actor,
                    now=now,
                    operation=operation,
                    submission_id=submission_id,
                    patient_id=getattr(patient, "pk", None),
                    visit_id=visit_id,
                )
                if on_hand is not None:
                    logged.append(_logged_line(li, total, on_hand))
                    continue
                # Fewer on the books than were used: under the row's lock, post the
                # shortfall as found, then the use, so on hand lands on zero, not below.
                held = ledger.lock_on_hand(li)
                usable = held
            else:
                if today is None:  # pragma: no cover - set above whenever one is logged
                    raise RuntimeError("today is needed for lot-tracked items")
                held = ledger.lock_on_hand(li)
                expired = sum(
                    s.on_hand for s in ledger.lot_stocks(li_id) if s.lot.is_expired_on(today)
                )
                # Expired lots are never used: what is short of the in-date stock was found.
                usable = held - expired
            found = max(total - usable, 0)
            if found:
                movements.append(
                    _found_movement(
                        li=li,
                        quantity=found,
                        actor=actor,
                        now=now,
                        operation=operation,
                        submission_id=submission_id,
                    )
                )
            on_hand = held + found - total
            LocationItem.objects.filter(pk=li_id).update(on_hand=on_hand)
            if not li.item.is_lot_tracked:
                movements.append(
                    StockMovement(
                        location_item_id=li_id,
                        kind=Kind.USE,
                        quantity=-total,
                        unit_cost=li.item.unit_cost,
                        user=actor,
                        occurred_at=now,
                        operation_id=operation,
                        submission_id=submission_id,
                        patient=patient,
                        visit_id=visit_id,
                    )
                )
                logged.append(_logged_line(li, total, on_hand, found=found))
                continue
            if today is None:  # pragma: no cover - set above whenever one is logged
                raise RuntimeError("today is needed for lot-tracked items")
            before = held + found
            takes: list[ledger.Take] = []
            for lot_id, quantity in requests:
                part = ledger.allocate(
                    location_item=li,
                    quantity=quantity,
                    picked_lot_id=lot_id,
                    on_hand_before=before,
                    today=today,
                    verb="log",
                )
                ledger.apply_lot_takes(part, sign=-1)
                takes.extend(part)
                before -= quantity
            movements.extend(
                StockMovement(
                    location_item_id=li_id,
                    lot=take.lot,
                    kind=Kind.USE,
                    quantity=-take.quantity,
                    unit_cost=li.item.unit_cost,
                    user=actor,
                    occurred_at=now,
                    operation_id=operation,
                    submission_id=submission_id,
                    patient=patient,
                    visit_id=visit_id,
                )
                for take in takes
            )
            lots = tuple(t.lot.lot_number for t in takes if t.lot is not None)
            logged.append(
                _logged_line(li, total, on_hand, lots, found=found, expired=expired if found else 0)
            )
        if movements:
            StockMovement.objects.bulk_create(movements)
        found_lines = [line for line in logged if line.found]
        if found_lines:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.CREATE,
                object_type="supplies.stockmovement",
                object_id=str(operation),
                clinic=location.clinic_id,
                summary=(
                    f"Use beyond the books at {location.name}: "
                    + ", ".join(f"{line.found} {line.item_name}" for line in found_lines)
                    + " posted as found, for review"
                ),
                changes={
                    "found": [
                        {"item": line.item_name, "found": line.found, "used": line.quantity}
                        for line in found_lines
                    ]
                },
            )
        submission = UsageSubmission(
            pk=submission_id,
            user=actor,
            idempotency_key=key,
            kind=UsageSubmission.Kind.USE,
            location=location,
            patient=patient,
            visit_id=visit_id,
            fingerprint=fingerprint,
            created_at=now,
        )
        if patient is not None or visit_id is not None:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.CREATE,
                obj=submission,
                patient=patient,
                clinic=location.clinic_id,
                summary=f"Logged supply use at {location.name} for a patient visit",
                changes={
                    "visit_id": visit_id,
                    "lines": [
                        {"item": line.item_name, "quantity": line.quantity} for line in logged
                    ],
                },
            )
    return UsageResult(submission=submission, lines=tuple(logged))


def _replay(*, actor: Any, key: str, fingerprint: str) -> UsageResult:
    """The answer to a repeated submission: what the first one logged, logging nothing."""
    submission = UsageSubmission.objects.select_related("location").get(
        user=actor, idempotency_key=key
    )
    if submission.fingerprint != fingerprint:
        raise SupplyError(
            "This submission key was already used for a different log; reload the screen.",
            field="idempotency_key",
        )
    used: dict[int, int] = defaultdict(int)
    found: dict[int, int] = defaultdict(int)
    lots: dict[int, list[str]] = defaultdict(list)
    for movement in submission.movements.filter(
        kind__in=(Kind.USE, Kind.TRANSFER_IN, Kind.FOUND)
    ).select_related("lot"):
        if movement.kind == Kind.FOUND:
            found[movement.location_item_id] += movement.quantity
            continue
        used[movement.location_item_id] += abs(movement.quantity)
        if movement.lot is not None:
            lots[movement.location_item_id].append(movement.lot.lot_number)
    lis = LocationItem.objects.filter(pk__in=used).select_related("item").order_by("pk")
    lines = tuple(
        LoggedLine(
            location_item_id=li.pk,
            item_name=li.item.name,
            unit_of_use=li.item.unit_of_use,
            quantity=used[li.pk],
            on_hand=li.on_hand,
            reorder_point=li.reorder_point,
            par=li.par,
            lots=tuple(lots[li.pk]),
            found=found[li.pk],
        )
        for li in lis
    )
    return UsageResult(submission=submission, lines=lines, replayed=True)


def undo_usage(
    *, actor: Any, submission: UsageSubmission, now: datetime | None = None
) -> UsageResult:
    """Reverse a log within the undo window with compensating movements (nothing is deleted)."""
    now = now or timezone.now()
    window = timedelta(seconds=settings.SUPPLIES_UNDO_SECONDS)
    with transaction.atomic():
        locked = (
            UsageSubmission.objects.select_for_update(of=("self",))
            .select_related("location")
            .filter(pk=submission.pk)
            .first()
        )
        if locked is None:
            raise UndoRefused("That log was not found.", field="submission")
        if locked.user_id != actor.pk:
            raise UndoRefused("Only the person who logged it can undo it.", field="submission")
        if locked.kind != UsageSubmission.Kind.USE:
            raise UndoRefused("Only a log of use can be undone here.", field="submission")
        if locked.undone_at is not None:
            raise UndoRefused("That log was already undone.", field="submission")
        if now - locked.created_at > window:
            minutes = settings.SUPPLIES_UNDO_SECONDS // 60
            raise UndoRefused(
                f"Undo is possible for {minutes} minutes after logging; record a count instead.",
                field="submission",
            )
        originals = list(
            locked.movements.filter(kind=Kind.USE).select_related("lot").order_by("pk")
        )
        # Stock found only because this log needed it goes again with the log.
        found = list(locked.movements.filter(kind=Kind.FOUND).order_by("pk"))
        lis = ledger.lock_location_items(m.location_item_id for m in originals)
        back: dict[int, int] = defaultdict(int)
        reversals = []
        operation = uuid.uuid4()
        for movement in originals:
            back[movement.location_item_id] += -movement.quantity
            if movement.lot_id is not None:
                ledger.add_to_lot(movement.location_item_id, movement.lot_id, -movement.quantity)
            reversals.append(
                StockMovement(
                    location_item_id=movement.location_item_id,
                    lot_id=movement.lot_id,
                    kind=Kind.RETURN,
                    quantity=-movement.quantity,
                    unit_cost=movement.unit_cost,
                    user=actor,
                    occurred_at=now,
                    reason=Reason.UNDO,
                    operation_id=operation,
                    submission=locked,
                    reverses=movement,
                    patient_id=movement.patient_id,
                    visit_id=movement.visit_id,
                )
            )
        for movement in found:
            back[movement.location_item_id] -= movement.quantity
            reversals.append(
                StockMovement(
                    location_item_id=movement.location_item_id,
                    kind=Kind.COUNT_ADJUST,
                    quantity=-movement.quantity,
                    unit_cost=movement.unit_cost,
                    user=actor,
                    occurred_at=now,
                    reason=Reason.UNDO,
                    note="The log that found this stock was undone",
                    operation_id=operation,
                    submission=locked,
                    reverses=movement,
                )
            )
        logged = []
        for li_id in sorted(back):
            LocationItem.objects.filter(pk=li_id).update(on_hand=F("on_hand") + back[li_id])
            li = lis[li_id]
            logged.append(
                LoggedLine(
                    location_item_id=li_id,
                    item_name=li.item.name,
                    unit_of_use=li.item.unit_of_use,
                    quantity=back[li_id],
                    on_hand=li.on_hand + back[li_id],
                    reorder_point=li.reorder_point,
                    par=li.par,
                )
            )
        StockMovement.objects.bulk_create(reversals)
        locked.undone_at = now
        locked.undone_by = actor
        locked.save(update_fields=["undone_at", "undone_by"])
        if locked.patient_id is not None or locked.visit_id is not None:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.UPDATE,
                obj=locked,
                patient=locked.patient_id,
                clinic=locked.location.clinic_id,
                summary=f"Undid a supply log at {locked.location.name}",
                changes={"undone": [False, True]},
            )
    return UsageResult(submission=locked, lines=tuple(logged))


def review_found_stock(
    *, actor: Any, movement: StockMovement, now: datetime | None = None
) -> FoundStockReview:
    """Mark a "found at use" movement as reviewed by a manager (once)."""
    if movement.kind != Kind.FOUND:
        raise SupplyError("Only stock found at use is reviewed here.", field="movement")
    now = now or timezone.now()
    try:
        with transaction.atomic():
            review = FoundStockReview.objects.create(
                movement=movement, reviewed_by=actor, reviewed_at=now
            )
            li = movement.location_item
            audit.record(
                actor=actor,
                action=AuditEvent.Action.CREATE,
                obj=review,
                clinic=li.location.clinic_id,
                summary=(
                    f"Reviewed {movement.quantity} {li.item.name} found at use at "
                    f"{li.location.name}"
                ),
                changes={"movement": movement.pk, "quantity": movement.quantity},
            )
    except IntegrityError:
        raise SupplyError("That was already marked reviewed.", field="movement") from None
    return review
