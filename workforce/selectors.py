"""Workforce reads, scoped to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import QuerySet

from clinicops.core.models import Clinic, Staff

from . import rules
from .models import Assignment, RosterWeek, ShiftTemplate, StaffContract


def rostered_staff(clinic: Clinic) -> list[StaffContract]:
    return list(
        StaffContract.objects.filter(staff__clinics=clinic, is_active=True)
        .select_related("staff__user")
        .distinct()
        .order_by("role", "staff__user__last_name", "staff__user__first_name")
    )


def templates(clinic: Clinic) -> list[ShiftTemplate]:
    return list(ShiftTemplate.objects.filter(clinic=clinic, is_active=True))


@dataclass
class Row:
    contract: StaffContract
    cells: list[list[Assignment]]
    minutes: int

    @property
    def hours(self) -> str:
        return rules.hours_label(self.minutes)

    @property
    def over_contract(self) -> bool:
        return self.minutes > self.contract.contract_minutes_week


def week_grid(week: RosterWeek) -> list[Row]:
    """People x days: each person's assignments in this week, by day."""
    contracts = rostered_staff(week.clinic)
    assignments = list(
        Assignment.objects.filter(week=week).select_related("template", "staff__user")
    )
    index = {c.staff_id: i for i, c in enumerate(contracts)}
    rows = [Row(c, [[] for _ in range(7)], 0) for c in contracts]
    for a in assignments:
        i = index.get(a.staff_id)
        if i is None:
            continue
        rows[i].cells[(a.day - week.week_start).days].append(a)
        rows[i].minutes += a.paid_minutes
    return rows


def week_or_none(clinic: Clinic, week_start: date) -> RosterWeek | None:
    monday = week_start - timedelta(days=week_start.weekday())
    return RosterWeek.objects.filter(clinic=clinic, week_start=monday).first()


def my_assignments(staff: Staff, first: date, last: date) -> QuerySet[Assignment]:
    """A person's published shifts (any clinic) between two days."""
    return (
        Assignment.objects.filter(
            staff=staff,
            day__gte=first,
            day__lte=last,
            week__status=RosterWeek.Status.PUBLISHED,
        )
        .select_related("template", "week__clinic")
        .order_by("start")
    )
