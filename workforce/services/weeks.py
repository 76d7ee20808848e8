"""Roster weeks: assigning and removing shifts, and publishing (with versions and overrides).

Every write locks the week's row first, so two managers editing one week serialise: neither
loses the other's assignment, and a publish snapshots exactly what was stored. A person's two
overlapping shifts are refused by the database (the exclusion constraint), across clinics.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from clinicops.audit import audit
from clinicops.core.models import Clinic, Staff
from clinicops.core.servicekit import lock_row, user_or_none, works_at

from .. import rules
from ..models import (
    Assignment,
    AssignmentChange,
    RosterVersion,
    RosterWeek,
    ShiftTemplate,
    local_span,
)


class RosterError(Exception):
    """A write refused, with the reason in plain words."""


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_for(clinic: Clinic, week_start: date) -> RosterWeek:
    """The clinic's week starting on the Monday of `week_start` (created as a draft)."""
    week, _ = RosterWeek.objects.get_or_create(clinic=clinic, week_start=monday_of(week_start))
    return week


def _describe(assignment: Assignment) -> str:
    start = assignment.start.astimezone(assignment.week.clinic.tz)
    end = assignment.end.astimezone(assignment.week.clinic.tz)
    return f"{assignment.template.name} {assignment.day:%a %d %b} {start:%H:%M}-{end:%H:%M}"


def _note_change(week: RosterWeek, staff_id: int, kind: str, text: str, actor: Any) -> None:
    if week.version > 0:
        AssignmentChange.objects.create(
            week=week,
            staff_id=staff_id,
            kind=kind,
            description=text,
            changed_by=user_or_none(actor),
        )
        if not week.changed_since_publish:
            week.changed_since_publish = True
            week.save(update_fields=["changed_since_publish", "updated_at"])


def add_assignment(
    *,
    actor: Any,
    week: RosterWeek,
    staff: Staff,
    template: ShiftTemplate,
    day: date,
    source: str = Assignment.Source.MANAGER,
) -> Assignment:
    """Put `staff` on `template` on `day`. Refused: another clinic's template or person, a day
    outside the week or not in the template's days, or a shift overlapping one they already
    work (anywhere)."""
    if not works_at(actor, week.clinic_id):
        raise RosterError("You do not work at this clinic.")
    if template.clinic_id != week.clinic_id or not template.is_active:
        raise RosterError("That shift template is not one of this clinic's.")
    if not staff.clinics.filter(pk=week.clinic_id).exists():
        raise RosterError(f"{staff} does not work at {week.clinic}.")
    if not (week.week_start <= day < week.week_start + timedelta(days=7)):
        raise RosterError(f"{day:%a %d %b} is not in the week of {week.week_start:%d %b}.")
    if day.weekday() not in template.weekdays:
        raise RosterError(f"The {template.name} shift does not run on {day:%A}s.")
    start, end = local_span(
        day, template.start_time, template.end_time, template.overnight, week.clinic.tz
    )
    reason = credential_refusal(staff, template, day, start, end, week.clinic_id)
    if reason:
        raise RosterError(f"{reason} Nothing was added.")
    with transaction.atomic():
        locked = lock_row(RosterWeek, week, related=["clinic"])
        try:
            with transaction.atomic():
                assignment = Assignment.objects.create(
                    week=locked,
                    staff=staff,
                    template=template,
                    role=template.role,
                    day=day,
                    start=start,
                    end=end,
                    break_minutes=template.break_minutes,
                    source=source,
                    created_by=user_or_none(actor),
                )
        except IntegrityError as exc:
            if "assignment_no_staff_overlap" in str(exc):
                raise RosterError(
                    f"{staff} already works a shift overlapping {template.name} on "
                    f"{day:%a %d %b}; nothing was added."
                ) from exc
            raise
        if locked.status == RosterWeek.Status.PUBLISHED:
            _note_change(
                locked,
                staff.pk,
                AssignmentChange.Kind.ADDED,
                f"Added: {_describe(assignment)}",
                actor,
            )
        audit.record(
            actor=actor,
            action="create",
            obj=assignment,
            clinic=locked.clinic_id,
            summary=f"Rostered {staff} on {_describe(assignment)}",
        )
    return assignment


def credential_refusal(
    staff: Staff, template: ShiftTemplate, day: date, start: Any, end: Any, clinic_id: int
) -> str | None:
    """Why the registered credential rules keep `staff` off this shift (a lapsed or missing
    required credential), or None."""
    from ..credentials import statuses_for
    from ..models import StaffContract

    contract = StaffContract.objects.filter(staff=staff).first()
    roles = contract.roles if contract else frozenset([template.role])
    person = rules.Person(
        staff.pk,
        staff.user.display_name,
        roles,
        credentials=statuses_for({staff.pk: roles | {template.role}}).get(staff.pk, ()),
    )
    shift = rules.Shift(
        key="new",
        staff_id=staff.pk,
        clinic_id=clinic_id,
        role=template.role,
        day=day,
        start=start,
        end=end,
        label=template.name,
    )
    for rule in rules._CREDENTIAL_RULES:
        reason = rule(shift, person)
        if reason:
            return reason
    return None


def remove_assignment(*, actor: Any, assignment: Assignment) -> str:
    """Take a shift off the roster; returns what was removed, in words."""
    if not works_at(actor, assignment.week.clinic_id):
        raise RosterError("You do not work at this clinic.")
    with transaction.atomic():
        week = lock_row(RosterWeek, assignment.week_id, related=["clinic"])
        current = (
            Assignment.objects.filter(pk=assignment.pk)
            .select_related("staff__user", "template", "week__clinic")
            .first()
        )
        if current is None:
            raise RosterError("That shift was already removed.")
        text = f"{current.staff}: {_describe(current)}"
        staff_id = current.staff_id
        audit.record(
            actor=actor,
            action="delete",
            obj=current,
            clinic=week.clinic_id,
            summary=f"Removed {text}",
        )
        current.delete()
        if week.status == RosterWeek.Status.PUBLISHED:
            _note_change(week, staff_id, AssignmentChange.Kind.REMOVED, f"Removed: {text}", actor)
    return text


def violations(week: RosterWeek) -> list[rules.Violation]:
    return rules.load_week(week).check()


def publish(*, actor: Any, week: RosterWeek, override_reason: str = "") -> RosterVersion:
    """Publish the week as a new version. Rule violations block it unless `override_reason`
    is given (the caller checks the override permission); the override is audited."""
    if not works_at(actor, week.clinic_id):
        raise RosterError("You do not work at this clinic.")
    override_reason = override_reason.strip()
    with transaction.atomic():
        locked = lock_row(RosterWeek, week, related=["clinic"])
        found = violations(locked)
        if found and not override_reason:
            raise RosterError(
                f"{len(found)} rule violation{'s' if len(found) != 1 else ''} block publishing: "
                "fix them, or override with a reason."
            )
        assignments = list(locked.assignments.select_related("staff__user", "template"))
        locked.version += 1
        locked.status = RosterWeek.Status.PUBLISHED
        locked.changed_since_publish = False
        locked.save(update_fields=["version", "status", "changed_since_publish", "updated_at"])
        version = RosterVersion.objects.create(
            week=locked,
            number=locked.version,
            published_by=user_or_none(actor),
            assignments=[
                {
                    "id": a.pk,
                    "staff_id": a.staff_id,
                    "staff": str(a.staff),
                    "template": a.template.name,
                    "day": a.day.isoformat(),
                    "start": a.start.isoformat(),
                    "end": a.end.isoformat(),
                }
                for a in assignments
            ],
            violations=[v.as_dict() for v in found] if override_reason else [],
            override_reason=override_reason if found else "",
        )
        summary = f"Published {locked} as version {version.number} ({len(assignments)} shifts)"
        if found:
            summary += f", overriding {len(found)} rule violations: {override_reason}"[:200]
        audit.record(
            actor=actor,
            action="update",
            obj=locked,
            clinic=locked.clinic_id,
            summary=summary[:255],
            changes={"override_reason": override_reason, "violations": len(found)}
            if found
            else None,
        )
    return version
