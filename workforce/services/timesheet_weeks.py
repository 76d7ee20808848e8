"""Timesheet sign-off: the person confirms their week, a manager approves it (and so locks it:
corrections into it are refused from then on), and payroll exports the approved weeks."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.core.models import Clinic, Staff
from clinicops.core.servicekit import lock_row, user_or_none, works_at

from .. import timesheets
from ..models import TimesheetWeek
from .timeclock import PunchError


def _record(staff: Staff, clinic: Clinic, first_day: date) -> TimesheetWeek:
    row, _ = TimesheetWeek.objects.get_or_create(staff=staff, clinic=clinic, week_start=first_day)
    return lock_row(TimesheetWeek, row, related=["clinic"])


def confirm(*, actor: Any, staff: Staff, clinic: Clinic, first_day: date) -> TimesheetWeek:
    """The person says their week is right (again: no change, no second event)."""
    with transaction.atomic():
        lock_row(Staff, staff, related=["user"])
        row = _record(staff, clinic, first_day)
        if row.status == TimesheetWeek.Status.APPROVED:
            raise PunchError("This week is already approved and locked.")
        if row.status == TimesheetWeek.Status.CONFIRMED:
            return row
        row.status = TimesheetWeek.Status.CONFIRMED
        row.confirmed_at = timezone.now()
        row.save(update_fields=["status", "confirmed_at"])
        audit.record(
            actor=actor,
            action="update",
            obj=row,
            clinic=clinic.pk,
            summary=f"{staff} confirmed the timesheet of the week of {first_day}",
        )
    return row


def approve(*, actor: Any, staff: Staff, clinic: Clinic, first_day: date) -> TimesheetWeek:
    """Approve and lock the week. Refused before the week is over, while a clock-in of the week
    has no clock-out, or before the person confirmed it."""
    if not works_at(actor, clinic.pk):
        raise PunchError("You do not work at this clinic.")
    with transaction.atomic():
        lock_row(
            Staff, staff, related=["user"]
        )  # no punch or correction of this person lands meanwhile
        row = _record(staff, clinic, first_day)
        if row.status == TimesheetWeek.Status.APPROVED:
            return row
        sheet = timesheets.sheet_for(staff, clinic, first_day)
        if not sheet.over:
            raise PunchError("The week is not over yet; approve it after it ends.")
        if sheet.issues:
            raise PunchError(f"{sheet.issues[0]} Nothing was approved.")
        if row.status != TimesheetWeek.Status.CONFIRMED:
            raise PunchError(f"{staff} has not confirmed this week yet. Nothing was approved.")
        row.status = TimesheetWeek.Status.APPROVED
        row.approved_at = timezone.now()
        row.approved_by = user_or_none(actor)
        row.totals = sheet.totals()
        row.save(update_fields=["status", "approved_at", "approved_by", "totals"])
        audit.record(
            actor=actor,
            action="update",
            obj=row,
            clinic=clinic.pk,
            summary=f"Approved {staff}'s timesheet, week of {first_day}: {row.totals['worked']} h",
            changes=row.totals,
        )
    return row


CSV_COLUMNS = (
    "staff_id",
    "username",
    "name",
    "clinic",
    "week_start",
    "worked_hours",
    "break_hours",
    "regular_hours",
    "overtime_hours",
    "double_time_hours",
    "rostered_hours",
    "approved_by",
    "approved_at",
)


def export_csv(*, actor: Any, clinic: Clinic, first_day: date) -> tuple[str, int]:
    """The approved timesheets of the week as CSV (the stored, approved figures)."""
    rows = list(
        TimesheetWeek.objects.filter(
            clinic=clinic, week_start=first_day, status=TimesheetWeek.Status.APPROVED
        )
        .select_related("staff__user", "approved_by")
        .order_by("staff__user__last_name", "staff__user__first_name")
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        t = r.totals
        writer.writerow(
            [
                r.staff_id,
                r.staff.user.username,
                _safe(r.staff.user.display_name),
                _safe(clinic.name),
                r.week_start.isoformat(),
                t.get("worked", ""),
                t.get("break", ""),
                t.get("regular", ""),
                t.get("overtime", ""),
                t.get("double", ""),
                t.get("rostered", ""),
                r.approved_by.username if r.approved_by else "",
                r.approved_at.isoformat() if r.approved_at else "",
            ]
        )
    audit.record(
        actor=actor,
        action="export",
        object_type="workforce.timesheetweek",
        clinic=clinic.pk,
        summary=f"Exported {len(rows)} approved timesheets, week of {first_day}",
    )
    return out.getvalue(), len(rows)


def _safe(text: str) -> str:
    """No spreadsheet formula injection from a name."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text
