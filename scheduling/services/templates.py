"""What makes slots and takes them away: schedule templates, provider time off, clinic closures."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, time

from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import servicekit
from clinicops.core.models import Clinic, Staff, User

from .. import availability
from ..models import (
    Appointment,
    AppointmentType,
    ClinicClosure,
    ProviderTimeOff,
    ScheduleTemplate,
    TemplateBlock,
)
from . import common
from .common import AffectedResult, SchedulingError

Status = Appointment.Status


@dataclass(frozen=True)
class BlockSpec:
    weekday: int
    start_time: time
    end_time: time
    slot_minutes: int = 15
    kind: str = TemplateBlock.Kind.REGULAR
    appointment_type_ids: tuple[int, ...] = ()
    hold_release_hours: int = 24
    overbook_limit: int = 0


def create_template(
    *,
    actor: User,
    clinic: Clinic,
    provider: Staff,
    effective_from: date,
    blocks: list[BlockSpec],
    effective_to: date | None = None,
    name: str = "",
) -> ScheduleTemplate:
    """A provider's weekly pattern from a date; it takes over from any older template then."""
    common.require_clinic(actor, clinic.pk)
    if not provider.clinics.filter(pk=clinic.pk).exists():
        raise SchedulingError("This provider does not work at this clinic.", field="provider")
    if effective_to is not None and effective_to < effective_from:
        raise SchedulingError("The template must end on or after its start.", field="effective_to")
    if ScheduleTemplate.objects.filter(
        clinic=clinic, provider=provider, effective_from=effective_from
    ).exists():
        raise SchedulingError(
            "This provider already has a template starting that day.", field="effective_from"
        )
    type_ids = set(AppointmentType.objects.filter(clinic=clinic).values_list("pk", flat=True))
    by_day: dict[int, list[BlockSpec]] = {}
    for spec in blocks:
        if spec.weekday not in range(7):
            raise SchedulingError("A block's weekday is 0 (Monday) to 6.", field="blocks")
        if spec.end_time <= spec.start_time:
            raise SchedulingError("A block must end after it starts.", field="blocks")
        if not 5 <= spec.slot_minutes <= 240:
            raise SchedulingError("A slot lasts 5 to 240 minutes.", field="blocks")
        if spec.kind not in TemplateBlock.Kind.values:
            raise SchedulingError("Unknown block kind.", field="blocks")
        if not set(spec.appointment_type_ids) <= type_ids:
            raise SchedulingError("A block names a type of another clinic.", field="blocks")
        by_day.setdefault(spec.weekday, []).append(spec)
    for specs in by_day.values():
        specs.sort(key=lambda s: s.start_time)
        for before, after in itertools.pairwise(specs):
            if after.start_time < before.end_time:
                raise SchedulingError(
                    f"Blocks overlap on weekday {before.weekday}: "
                    f"{before.start_time:%H:%M}-{before.end_time:%H:%M} and "
                    f"{after.start_time:%H:%M}-{after.end_time:%H:%M}.",
                    field="blocks",
                )
    with transaction.atomic():
        template = ScheduleTemplate.objects.create(
            clinic=clinic,
            provider=provider,
            effective_from=effective_from,
            effective_to=effective_to,
            name=name,
        )
        for spec in blocks:
            block = TemplateBlock.objects.create(
                template=template,
                weekday=spec.weekday,
                start_time=spec.start_time,
                end_time=spec.end_time,
                slot_minutes=spec.slot_minutes,
                kind=spec.kind,
                hold_release_hours=spec.hold_release_hours,
                overbook_limit=spec.overbook_limit,
            )
            if spec.appointment_type_ids:
                block.appointment_types.set(spec.appointment_type_ids)
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=template,
            clinic=clinic,
            summary=f"Schedule template for {provider} from {effective_from}",
        )
        return template


def add_time_off(
    *, actor: User, provider: Staff, start: datetime, end: datetime, reason: str = ""
) -> AffectedResult:
    """Record a provider's time off; return their booked appointments that now need moving."""
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise SchedulingError("Times need a time zone.", field="start")
    if end <= start:
        raise SchedulingError("The end must be after the start.", field="end")
    user = servicekit.user_or_none(actor)
    if (
        user is not None
        and not user.is_superuser
        and not provider.clinics.filter(pk__in=user.clinic_ids).exists()
    ):
        raise SchedulingError("This provider does not work at your clinics.", field="provider")
    with transaction.atomic():
        time_off = ProviderTimeOff.objects.create(
            provider=provider, start=start, end=end, reason=reason, created_by=user
        )
        affected = list(
            Appointment.objects.filter(
                provider=provider, status__in=(Status.BOOKED, Status.CONFIRMED)
            )
            .overlapping(start, end)
            .select_related("patient", "clinic", "appointment_type")
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=time_off,
            summary=f"Time off for {provider}: {len(affected)} appointment(s) to move",
        )
        return AffectedResult(time_off, affected)


def add_closure(*, actor: User, clinic: Clinic, day: date, reason: str = "") -> AffectedResult:
    """Close the clinic for a day; return the booked appointments that now need moving."""
    common.require_clinic(actor, clinic.pk)
    with transaction.atomic():
        closure, created = ClinicClosure.objects.get_or_create(
            clinic=clinic, day=day, defaults={"reason": reason}
        )
        if not created:
            raise SchedulingError("The clinic is already closed that day.", field="day")
        start, end = availability.day_bounds_utc(day, clinic.tz)
        affected = list(
            Appointment.objects.filter(clinic=clinic, status__in=(Status.BOOKED, Status.CONFIRMED))
            .overlapping(start, end)
            .select_related("patient", "provider__user", "appointment_type")
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=closure,
            clinic=clinic,
            summary=f"Clinic closed {day}: {len(affected)} appointment(s) to move",
        )
        return AffectedResult(closure, affected)
