"""Time-off requests: asked by anyone for themselves, decided by a manager.

A provider's approved request is written to scheduling's ProviderTimeOff, the one source of
truth for provider absence (their slots disappear there too); the request keeps its id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.core.models import Clinic, Staff
from clinicops.core.servicekit import lock_row, user_or_none, works_at
from scheduling.models import ProviderTimeOff

from ..models import RosterRole, StaffContract, TimeOffRequest
from .weeks import RosterError


def request_time_off(
    *, actor: Any, staff: Staff, clinic: Clinic, first_day: date, last_day: date, reason: str = ""
) -> TimeOffRequest:
    if last_day < first_day:
        raise RosterError("The last day is before the first day.")
    if (last_day - first_day).days > 60:
        raise RosterError("A request covers at most 61 days; split a longer absence.")
    with transaction.atomic():
        req = TimeOffRequest.objects.create(
            staff=staff, clinic=clinic, first_day=first_day, last_day=last_day, reason=reason
        )
        audit.record(
            actor=actor,
            action="create",
            obj=req,
            clinic=clinic.pk,
            summary=f"{staff} asked for time off {first_day}..{last_day}",
        )
    return req


def _is_provider(staff: Staff) -> bool:
    contract = StaffContract.objects.filter(staff=staff).first()
    if contract is not None:
        return bool(contract.role == RosterRole.PROVIDER)
    return bool(staff.npi)


def decide(*, actor: Any, request: TimeOffRequest, approve: bool, note: str = "") -> TimeOffRequest:
    if not works_at(actor, request.clinic_id):
        raise RosterError("You do not work at this clinic.")
    with transaction.atomic():
        req = lock_row(TimeOffRequest, request, related=["staff__user", "clinic"])
        if req.status != TimeOffRequest.Status.PENDING:
            raise RosterError(f"This request was already {req.get_status_display().lower()}.")
        req.status = TimeOffRequest.Status.APPROVED if approve else TimeOffRequest.Status.DECLINED
        req.decided_by = user_or_none(actor)
        req.decided_at = timezone.now()
        req.decision_note = note[:200]
        if approve and _is_provider(req.staff):
            tz = req.clinic.tz
            off = ProviderTimeOff.objects.create(
                provider=req.staff,
                start=datetime.combine(req.first_day, time(0), tzinfo=tz).astimezone(UTC),
                end=datetime.combine(
                    req.last_day + timedelta(days=1), time(0), tzinfo=tz
                ).astimezone(UTC),
                reason=(req.reason or "Approved time off")[:120],
                created_by=user_or_none(actor),
            )
            req.provider_time_off_id = off.pk
        req.save()
        audit.record(
            actor=actor,
            action="update",
            obj=req,
            clinic=req.clinic_id,
            summary=(
                f"{req.get_status_display()} time off for {req.staff} "
                f"{req.first_day}..{req.last_day}"
            ),
        )
    return req
