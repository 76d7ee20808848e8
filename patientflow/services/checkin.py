"""Checking a patient in: a booked appointment's arrival, or a walk-in booked and checked in at
once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import servicekit
from clinicops.core.models import Clinic, Coverage, Patient, Staff, User
from scheduling import availability
from scheduling import services as scheduling
from scheduling.models import Appointment, AppointmentType, TemplateBlock
from scheduling.services import booking as scheduling_booking
from scheduling.services import transitions as scheduling_transitions

from ..models import (
    PaymentMethod,
    Step,
    Visit,
    VisitPayment,
)
from . import common
from .common import AlreadyCheckedIn, FlowError, PaymentInput

REUSED_KEY = "This form was already used for another booking; reload the screen and try again."


def billing_coverage(patient: Patient, day: Any) -> Coverage | None:
    """The coverage a visit on `day` is billed to: the highest-priority one in effect."""
    for coverage in patient.coverages.order_by("priority", "-effective_from"):
        if coverage.is_active_on(day):
            return coverage
    return None


def _arrival_text(visit: Visit) -> str:
    minutes = visit.arrival_minutes
    if minutes < 0:
        return f"{-minutes} min early"
    if minutes > 0:
        return f"{minutes} min late"
    return "on time"


def _open_visit(
    *,
    actor: User,
    appointment: Appointment,
    now: datetime,
    copay: PaymentInput | None,
    forms_signed: list[str],
    insurance_confirmed: bool,
    notes: str,
    is_walk_in: bool,
) -> Visit:
    clinic = appointment.clinic
    patient = appointment.patient
    visit = Visit.objects.create(
        clinic=clinic,
        appointment=appointment,
        patient=patient,
        is_walk_in=is_walk_in,
        step=Step.CHECKED_IN,
        step_since=now,
        checked_in_at=now,
        checked_in_by=servicekit.user_or_none(actor),
        coverage=billing_coverage(patient, now.astimezone(clinic.tz).date()),
        insurance_confirmed=insurance_confirmed,
        forms_signed=forms_signed,
        notes=notes.strip()[:255],
    )
    common.add_event(visit, actor=actor, at=now, from_step="")
    paid = ""
    if copay is not None:
        VisitPayment.objects.create(
            visit=visit,
            kind=VisitPayment.Kind.COPAY,
            amount=copay.amount,
            method=copay.method,
            receipt_number=copay.receipt_number,
            taken_at=now,
            taken_by=servicekit.user_or_none(actor),
        )
        paid = f"; copay {copay.amount} by {PaymentMethod(copay.method).label.lower()}"
    audit.record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        obj=visit,
        patient=patient,
        clinic=clinic,
        summary=f"Checked in{' (walk-in)' if is_walk_in else ''}, {_arrival_text(visit)}{paid}",
        changes={
            **audit.snapshot(visit, Visit.AUDITED_FIELDS),
            "appointment": appointment.pk,
            "coverage": visit.coverage_id,
            "copay": str(copay.amount) if copay else None,
        },
    )
    return visit


def check_in(
    *,
    actor: User,
    appointment: Appointment | int,
    copay: PaymentInput | None = None,
    forms_signed: Sequence[str] = (),
    insurance_confirmed: bool = False,
    notes: str = "",
    now: datetime | None = None,
) -> Visit:
    """The patient is at the desk: open their visit and mark the appointment arrived."""
    now = now or timezone.now()
    if copay is not None:
        copay = common.validate_payment(copay, field="copay_amount")
    forms = common.validate_forms(forms_signed)
    pk = appointment if isinstance(appointment, int) else appointment.pk
    with transaction.atomic():
        # The appointment row is the lock that makes two desks checking one patient in at
        # once open one visit: the second waits here, then finds the visit.
        appt = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("clinic", "patient")
            .get(pk=pk)
        )
        common.require_clinic(actor, appt.clinic_id)
        existing = Visit.objects.filter(appointment=appt).first()
        if existing is not None:
            raise AlreadyCheckedIn(
                f"{appt.patient} was already checked in at "
                f"{common.local_time(appt.clinic, existing.checked_in_at)}.",
                visit=existing,
            )
        try:
            scheduling_transitions.mark_arrived(actor=actor, appointment=appt, now=now)
        except scheduling.SchedulingError as error:
            raise FlowError(error.message, field="appointment") from error
        appt.refresh_from_db(fields=["status"])
        return _open_visit(
            actor=actor,
            appointment=appt,
            now=now,
            copay=copay,
            forms_signed=forms,
            insurance_confirmed=insurance_confirmed,
            notes=notes,
            is_walk_in=False,
        )


def _walk_in_starts(
    *, clinic: Clinic, provider: Staff, appointment_type: AppointmentType, now: datetime
) -> list[datetime]:
    """Where a walk-in could be booked: the slot running now, then today's next open ones."""
    tz = clinic.tz
    day = now.astimezone(tz).date()
    starts: list[datetime] = []
    templates = availability.load_templates(
        clinic=clinic, start=day, end=day, provider_ids=[provider.pk]
    )
    template = availability.template_for_day(templates.get(provider.pk, []), day)
    if template is not None:
        for block in template.blocks_by_weekday.get(day.weekday(), ()):
            if block.kind == TemplateBlock.Kind.ADMIN:
                continue
            block_start = availability.local_datetime(day, block.start_time, tz)
            block_end = availability.local_datetime(day, block.end_time, tz)
            if block_start <= now < block_end:
                start = block_start + ((now - block_start) // block.slot) * block.slot
                if start + appointment_type.duration <= block_end:
                    starts.append(start)
    for slot in availability.find_slots(
        clinic=clinic,
        appointment_type=appointment_type,
        provider=provider,
        count=5,
        start_date=day,
        end_date=day,
        now=now,
    ):
        if slot.start not in starts:
            starts.append(slot.start)
    return starts


def walk_in(
    *,
    actor: User,
    clinic: Clinic,
    patient: Patient,
    provider: Staff,
    appointment_type: AppointmentType,
    copay: PaymentInput | None = None,
    forms_signed: Sequence[str] = (),
    insurance_confirmed: bool = False,
    notes: str = "",
    overbook_reason: str = "",
    now: datetime | None = None,
    submission_key: str = "",
) -> Visit:
    """A patient without an appointment: book one through scheduling now, and check them in.

    The slot running now is tried first, then today's next open slots; with an overbook
    reason, a full day gets a declared overbook (scheduling checks the permission and limit).
    A repeat of the submission that booked (`submission_key`) raises `AlreadyCheckedIn` with
    the visit it opened, and books nothing.
    """
    now = now or timezone.now()
    common.require_clinic(actor, clinic.pk)
    if patient.clinic_id != clinic.pk:
        raise FlowError("This patient is not registered at this clinic.", field="patient")
    if copay is not None:
        copay = common.validate_payment(copay, field="copay_amount")
    forms = common.validate_forms(forms_signed)
    with transaction.atomic():
        try:
            earlier = scheduling_booking.booked_by_submission(
                actor=actor, submission_key=submission_key
            )
        except scheduling.SchedulingError as error:
            raise FlowError(error.message, field="submission_key") from error
        if earlier is not None:
            visit = Visit.objects.filter(appointment=earlier).first()
            if visit is None:  # the key of another form: not a walk-in sent twice
                raise FlowError(REUSED_KEY, field="submission_key")
            raise AlreadyCheckedIn(
                f"{earlier.patient} is already checked in as a walk-in, booked with "
                f"{earlier.provider} at {common.local_time(earlier.clinic, earlier.start)}. "
                "This was sent twice; nothing new was booked.",
                visit=visit,
            )
        starts = _walk_in_starts(
            clinic=clinic, provider=provider, appointment_type=appointment_type, now=now
        )
        if not starts:
            raise FlowError(
                f"{provider} has no schedule left today that takes a {appointment_type.name}. "
                "Choose another provider.",
                field="provider",
            )
        booking = None
        problem = ""
        for start in starts:
            try:
                booking = scheduling_booking.book_appointment(
                    actor=actor,
                    clinic=clinic,
                    patient=patient,
                    provider=provider,
                    appointment_type=appointment_type,
                    start=start,
                    notes="Walk-in",
                    allow_buffer=True,
                    now=now,
                    submission_key=submission_key,
                )
                break
            except scheduling.SchedulingError as error:
                problem = problem or error.message
        if booking is None and overbook_reason.strip():
            try:
                booking = scheduling_booking.book_appointment(
                    actor=actor,
                    clinic=clinic,
                    patient=patient,
                    provider=provider,
                    appointment_type=appointment_type,
                    start=starts[0],
                    notes="Walk-in",
                    overbook=True,
                    overbook_reason=overbook_reason.strip(),
                    allow_buffer=True,
                    now=now,
                    submission_key=submission_key,
                )
            except scheduling.SchedulingError as error:
                raise FlowError(error.message, field="overbook_reason") from error
        if booking is None:
            raise FlowError(
                f"{provider} has no open slot left today for a {appointment_type.name} "
                f"({problem.rstrip('.')}). Choose another provider, or give a reason to "
                "overbook.",
                field="provider",
            )
        appointment = booking.appointment
        try:
            scheduling_transitions.mark_arrived(actor=actor, appointment=appointment, now=now)
        except scheduling.SchedulingError as error:
            raise FlowError(error.message, field="appointment") from error
        appointment.refresh_from_db()
        return _open_visit(
            actor=actor,
            appointment=appointment,
            now=now,
            copay=copay,
            forms_signed=forms,
            insurance_confirmed=insurance_confirmed,
            notes=notes,
            is_walk_in=True,
        )
