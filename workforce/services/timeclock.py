"""The time clock: punches from the kiosk or one's own session, and a manager's corrections.

Punches are append-only (a trigger refuses UPDATE and DELETE). Every punch write locks the
person's Staff row first, so one person's punches are decided one at a time whichever kiosk or
browser they come from; a resend (double tap, a retry after a lost answer) carries the request
key of the first attempt and gets the stored punch back instead of a second one
(docs/decisions 0030-punch-idempotency).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.core.models import Clinic, Staff
from clinicops.core.servicekit import lock_row, user_or_none, works_at
from clinicops.core.templatetags.formats import moment

from ..models import Assignment, Punch, RosterSettings, TimeclockBadge, TimesheetWeek
from .weeks import RosterError

PIN_LENGTHS = range(4, 7)
# How far before a rostered start a clock-in still belongs to that shift.
LINK_BEFORE = timedelta(hours=3)


class PunchError(RosterError):
    """A punch refused, with the reason in plain words."""


@dataclass(frozen=True)
class ClockState:
    """Where a person stands now: "out", "in" or "break", since when, at which clinic."""

    status: str
    since: datetime | None = None
    clinic_id: int | None = None
    open_in: Punch | None = None

    @property
    def allowed(self) -> list[str]:
        if self.status == "out":
            return [Punch.Kind.IN]
        if self.status == "in":
            return [Punch.Kind.BREAK_START, Punch.Kind.OUT]
        return [Punch.Kind.BREAK_END, Punch.Kind.OUT]


def effective(punches: list[Punch]) -> list[Punch]:
    """The punches that count: not cancelled or replaced by a correction, and not the VOID rows
    themselves; in time order."""
    replaced = {p.replaces_id for p in punches if p.replaces_id}
    kept = [p for p in punches if p.pk not in replaced and p.kind != Punch.Kind.VOID]
    return sorted(kept, key=lambda p: (p.at, p.pk or 0))


def next_state(state: ClockState, punch: Punch) -> ClockState | str:
    """The state after `punch`, or why the punch cannot follow `state` (plain words)."""
    if punch.kind not in state.allowed:
        # formatted only for a refusal: a year's overtime replays tens of thousands of punches
        when = moment(punch.at, punch.clinic.tz if punch.clinic_id else None)
        if punch.kind == Punch.Kind.IN:
            since = moment(state.since) if state.since else "earlier"
            return f"Already clocked in (since {since}) when clocking in at {when}."
        if punch.kind == Punch.Kind.BREAK_END:
            return f"A break end at {when} without a break start."
        if state.status == "break" and punch.kind == Punch.Kind.BREAK_START:
            return f"A break start at {when} while already on a break."
        return f"A {punch.get_kind_display().lower()} at {when} before any clock-in."
    if punch.kind == Punch.Kind.OUT:
        return ClockState("out", punch.at)
    if punch.kind == Punch.Kind.IN:
        return ClockState("in", punch.at, punch.clinic_id, punch)
    status = "break" if punch.kind == Punch.Kind.BREAK_START else "in"
    return ClockState(status, punch.at, state.clinic_id, state.open_in)


def current_state(staff: Staff, *, now: datetime | None = None) -> ClockState:
    """The person's clock state from their punches of the last two days (any clinic)."""
    now = now or timezone.now()
    rows = list(
        Punch.objects.filter(staff=staff, at__gte=now - timedelta(days=2), at__lte=now)
        .select_related("clinic")
        .order_by("at", "id")
    )
    state = ClockState("out")
    for punch in effective(rows):
        after = next_state(state, punch)
        state = after if isinstance(after, ClockState) else state
    return state


def _link(
    staff: Staff, clinic: Clinic, kind: str, at: datetime, state: ClockState
) -> Assignment | None:
    if kind != Punch.Kind.IN:
        return state.open_in.assignment if state.open_in is not None else None
    candidates = Assignment.objects.filter(
        staff=staff, week__clinic=clinic, start__lte=at + LINK_BEFORE, end__gt=at
    ).order_by("start")
    return min(candidates, key=lambda a: abs((a.start - at).total_seconds()), default=None)


def _flag(kind: str, at: datetime, assignment: Assignment | None, grace: timedelta) -> str:
    if assignment is None:
        return Punch.Flag.UNROSTERED if kind == Punch.Kind.IN else Punch.Flag.NONE
    if kind == Punch.Kind.IN:
        mark = assignment.start
    elif kind == Punch.Kind.OUT:
        mark = assignment.end
    else:
        return Punch.Flag.NONE
    if at < mark - grace:
        return Punch.Flag.EARLY
    if at > mark + grace:
        return Punch.Flag.LATE
    return Punch.Flag.NONE


def grace_for(clinic_id: int) -> timedelta:
    settings = RosterSettings.objects.filter(clinic_id=clinic_id).first()
    return timedelta(minutes=settings.punch_grace_minutes if settings else 7)


def _on_staff(staff: Staff, clinic: Clinic) -> None:
    if not staff.clinics.filter(pk=clinic.pk).exists():
        raise PunchError(f"{staff} is not on staff at {clinic}; nothing was recorded.")


def _existing(request_key: uuid.UUID, staff: Staff) -> Punch | None:
    found = Punch.objects.filter(request_key=request_key).select_related("clinic").first()
    if found is not None and found.staff_id != staff.pk:
        raise PunchError("That request was already used for someone else; nothing was recorded.")
    return found


def punch(
    *,
    actor: Any,
    staff: Staff,
    clinic: Clinic,
    kind: str,
    request_key: uuid.UUID,
    source: str,
    at: datetime | None = None,
) -> tuple[Punch, bool]:
    """Record a clock in/out/break punch now (or `at`, for the seeder). Returns the punch and
    whether it is new (False: a resend of a punch already stored)."""
    if kind not in (Punch.Kind.IN, Punch.Kind.OUT, Punch.Kind.BREAK_START, Punch.Kind.BREAK_END):
        raise PunchError("Choose clock in, clock out, or start or end a break.")
    if not works_at(actor, clinic.pk):
        raise PunchError("You do not work at this clinic; nothing was recorded.")
    _on_staff(staff, clinic)
    with transaction.atomic():
        lock_row(Staff, staff, related=["user"])
        found = _existing(request_key, staff)
        if found is not None:
            return found, False
        at = at or timezone.now()
        state = current_state(staff, now=at)
        assignment = _link(staff, clinic, kind, at, state)
        row = Punch(
            staff=staff,
            clinic=clinic,
            kind=kind,
            at=at,
            source=source,
            assignment=assignment,
            flag=_flag(kind, at, assignment, grace_for(clinic.pk)),
            request_key=request_key,
            recorded_by=user_or_none(actor),
        )
        after = next_state(state, row)
        if isinstance(after, str):
            raise PunchError(_kiosk_refusal(staff, state, kind) + " Nothing was recorded.")
        if kind != Punch.Kind.IN and state.clinic_id not in (None, clinic.pk):
            raise PunchError(
                f"{staff} is clocked in at another clinic; clock out there. Nothing was recorded."
            )
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:  # the same key stored meanwhile (cannot pass the lock, but safe)
            again = _existing(request_key, staff)
            if again is None:
                raise
            return again, False
        audit.record(
            actor=actor,
            action="create",
            obj=row,
            clinic=clinic.pk,
            summary=f"{staff}: {row.get_kind_display().lower()} ({row.get_source_display()})",
        )
    return row, True


def _kiosk_refusal(staff: Staff, state: ClockState, kind: str) -> str:
    since = f" since {moment(state.since)}" if state.since else ""
    if kind == Punch.Kind.IN:
        return f"{staff} is already clocked in{since}."
    if state.status == "out":
        return f"{staff} is not clocked in; clock in first."
    if kind == Punch.Kind.BREAK_START:
        return f"{staff} is already on a break{since}."
    return f"{staff} is not on a break."


# ---------------------------------------------------------------------------------------------
# Corrections


def locked_week(staff: Staff, clinic: Clinic, at: datetime) -> TimesheetWeek | None:
    """The approved timesheet whose work week holds `at`, if any (corrections are refused)."""
    from .. import timesheets

    first = timesheets.work_week_of(clinic, at)
    return TimesheetWeek.objects.filter(
        staff=staff, clinic=clinic, week_start=first, status=TimesheetWeek.Status.APPROVED
    ).first()


def correct(
    *,
    actor: Any,
    staff: Staff,
    clinic: Clinic,
    kind: str,
    at: datetime | None,
    reason: str,
    request_key: uuid.UUID,
    replaces: Punch | None = None,
) -> tuple[Punch, bool]:
    """A manager's correction: a new punch (optionally replacing one), or a VOID cancelling
    `replaces`. The week's punches must still make sense afterwards (no clock-out before its
    clock-in); an approved week refuses corrections."""
    from .. import timesheets

    reason = reason.strip()
    if not reason:
        raise PunchError("Reason: say why the timesheet is corrected. Nothing was recorded.")
    if not works_at(actor, clinic.pk):
        raise PunchError("You do not work at this clinic; nothing was recorded.")
    _on_staff(staff, clinic)
    if kind == Punch.Kind.VOID:
        if replaces is None:
            raise PunchError("Choose the punch to cancel. Nothing was recorded.")
        at = replaces.at
    if at is None:
        raise PunchError("Time: give the time of the punch. Nothing was recorded.")
    if replaces is not None and (replaces.staff_id != staff.pk or replaces.clinic_id != clinic.pk):
        raise PunchError("That punch is not this person's at this clinic. Nothing was recorded.")
    if at > timezone.now():
        raise PunchError("Time: a correction cannot be in the future. Nothing was recorded.")
    with transaction.atomic():
        lock_row(Staff, staff, related=["user"])
        found = _existing(request_key, staff)
        if found is not None:
            return found, False
        if replaces is not None and Punch.objects.filter(replaces=replaces).exists():
            raise PunchError("That punch was already corrected. Nothing was recorded.")
        for moment_ in {at, replaces.at} if replaces is not None else {at}:
            if locked_week(staff, clinic, moment_) is not None:
                raise PunchError(
                    "That week's timesheet is approved and locked; nothing was recorded."
                )
        first = timesheets.work_week_of(clinic, at)
        rule = timesheets.rule_for(clinic, first)
        from ..overtime import workday_bounds

        bounds = workday_bounds(first, rule, clinic.tz)
        window = list(
            Punch.objects.filter(
                staff=staff,
                at__gte=bounds[0] - timedelta(days=1),
                at__lt=bounds[7] + timedelta(days=1),
            ).select_related("clinic")
        )
        row = Punch(
            staff=staff,
            clinic=clinic,
            kind=kind,
            at=at,
            source=Punch.Source.MANAGER,
            replaces=replaces,
            reason=reason[:300],
            request_key=request_key,
            recorded_by=user_or_none(actor),
        )
        if kind != Punch.Kind.VOID:
            prior = ClockState("out")
            for p in effective([*window, row]):
                if p.at <= at and p is not row:
                    step = next_state(prior, p)
                    prior = step if isinstance(step, ClockState) else prior
            row.assignment = _link(staff, clinic, kind, at, prior)
            row.flag = _flag(kind, at, row.assignment, grace_for(clinic.pk))
        state = ClockState("out")
        for p in effective([*window, row]):
            step = next_state(state, p)
            if isinstance(step, str):
                raise PunchError(f"After this correction: {step} Nothing was recorded.")
            state = step
        row.save()
        what = "cancelled" if kind == Punch.Kind.VOID else f"added {row.get_kind_display().lower()}"
        audit.record(
            actor=actor,
            action="create",
            obj=row,
            clinic=clinic.pk,
            summary=f"Timesheet correction for {staff}: {what} at {moment(at, clinic.tz)}",
            changes={"reason": row.reason, "replaces": replaces.pk if replaces else None},
        )
    return row, True


# ---------------------------------------------------------------------------------------------
# PINs and badges


def set_pin(*, actor: Any, staff: Staff, pin: str, badge_code: str | None = None) -> TimeclockBadge:
    if not (pin.isascii() and pin.isdigit() and len(pin) in PIN_LENGTHS):
        raise PunchError("PIN: use 4 to 6 digits.")
    with transaction.atomic():
        badge, _ = TimeclockBadge.objects.select_for_update().get_or_create(
            staff=staff, defaults={"pin_hash": make_password(pin)}
        )
        badge.pin_hash = make_password(pin)
        if badge_code is not None:
            badge.badge_code = badge_code.strip() or None
        badge.save()
        audit.record(
            actor=actor,
            action="update",
            obj=badge,
            summary=f"Time clock PIN set for {staff}",
        )
    return badge


def pin_matches(staff: Staff, pin: str) -> bool:
    badge = TimeclockBadge.objects.filter(staff=staff).first()
    if badge is None or not pin:
        return False
    return bool(check_password(pin, badge.pin_hash))


def new_key() -> uuid.UUID:
    return uuid.uuid4()
