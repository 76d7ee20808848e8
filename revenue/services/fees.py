"""Fee schedules in force: the charge of a procedure on a date of service."""

from __future__ import annotations

from datetime import date

from django.db.models import Q

from clinicops.core.models import Clinic, Payer

from ..models import FeeSchedule, FeeScheduleItem


def schedule_in_force(
    clinic: Clinic | int, payer: Payer | int | None, on: date
) -> FeeSchedule | None:
    """The payer's schedule in force on `on`, else the clinic's default one, else None."""
    in_force = FeeSchedule.objects.filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=on),
        clinic=clinic,
        effective_from__lte=on,
    ).order_by("-effective_from")
    if payer is not None:
        found = in_force.filter(payer=payer).first()
        if found is not None:
            return found
    return in_force.filter(payer__isnull=True).first()


def fee_for(
    clinic: Clinic | int, payer: Payer | int | None, code: str, modifiers: list[str], on: date
) -> FeeScheduleItem | None:
    """The fee of `code` (with its first modifier when the schedule prices it, else bare)."""
    schedule = schedule_in_force(clinic, payer, on)
    if schedule is None:
        return None
    items = {(i.modifier): i for i in schedule.items.filter(procedure_code=code)}
    for modifier in modifiers:
        if modifier in items:
            return items[modifier]
    return items.get("")
