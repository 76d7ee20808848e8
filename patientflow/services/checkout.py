"""Checking a patient out (with the payment) and booking the follow-up."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.core import servicekit
from clinicops.core.models import Staff, User
from scheduling import services as scheduling
from scheduling.models import AppointmentType
from scheduling.services import booking as scheduling_booking
from scheduling.services import common as scheduling_common
from scheduling.services import transitions as scheduling_transitions

from ..models import (
    PaymentMethod,
    Step,
    Visit,
    VisitPayment,
)
from . import checkin, common, moves
from .common import FlowError, IllegalStep, PaymentInput


def check_out(
    *,
    actor: User,
    visit: Visit | int,
    expected_step: str = Step.READY_FOR_CHECKOUT,
    balance: PaymentInput | None = None,
    now: datetime | None = None,
) -> Visit:
    """The patient leaves: take any balance, complete the appointment, close the visit."""
    now = now or timezone.now()
    if balance is not None:
        balance = common.validate_payment(balance, field="balance_amount")
    with transaction.atomic():
        locked = common.lock(visit)
        common.require_clinic(actor, locked.clinic_id)
        common.expect(locked, expected_step)
        if locked.step != Step.READY_FOR_CHECKOUT:
            raise moves.illegal(locked.step, Step.CHECKED_OUT)
        before = audit.snapshot(locked, Visit.AUDITED_FIELDS)
        try:
            scheduling_transitions.complete_appointment(
                actor=actor, appointment=locked.appointment_id
            )
        except scheduling.SchedulingError as error:
            raise FlowError(error.message, field="step") from error
        paid = ""
        if balance is not None:
            VisitPayment.objects.create(
                visit=locked,
                kind=VisitPayment.Kind.BALANCE,
                amount=balance.amount,
                method=balance.method,
                receipt_number=balance.receipt_number,
                taken_at=now,
                taken_by=servicekit.user_or_none(actor),
            )
            paid = f"; balance {balance.amount} by {PaymentMethod(balance.method).label.lower()}"
        from_step = locked.step
        locked.step = Step.CHECKED_OUT
        locked.step_since = now
        locked.checked_out_at = now
        locked.save(update_fields=["step", "step_since", "checked_out_at"])
        common.add_event(locked, actor=actor, at=now, from_step=from_step)
        common.record(actor, locked, f"Checked out{paid}", before)
        return locked


def book_follow_up(
    *,
    actor: User,
    visit: Visit | int,
    provider: Staff,
    appointment_type: AppointmentType,
    start: datetime,
    now: datetime | None = None,
    submission_key: str = "",
) -> scheduling_common.BookingResult:
    """Book the visit's follow-up through scheduling (its rules decide) and remember it.

    A repeat of the submission that booked it gets that appointment back (`replayed`).
    """
    now = now or timezone.now()
    with transaction.atomic():
        earlier = scheduling_booking.booked_by_submission(
            actor=actor, submission_key=submission_key
        )
        locked = common.lock(visit)
        if earlier is not None:
            if locked.follow_up_id != earlier.pk:  # the key of another form
                raise FlowError(checkin.REUSED_KEY, field="start")
            return scheduling_common.BookingResult(earlier, replayed=True)
        common.require_clinic(actor, locked.clinic_id)
        if locked.follow_up_id is not None:
            raise FlowError("A follow-up is already booked for this visit.", field="start")
        if locked.step in (Step.LEFT_WITHOUT_BEING_SEEN, Step.SENT_ELSEWHERE):
            raise IllegalStep("This patient was not seen here; book from the schedule.")
        tz = locked.clinic.tz
        result = scheduling_booking.book_appointment(
            actor=actor,
            clinic=locked.clinic,
            patient=locked.patient,
            provider=provider,
            appointment_type=appointment_type,
            start=start,
            notes=f"Follow-up of the visit on {locked.checked_in_at.astimezone(tz):%m/%d/%Y}",
            now=now,
            submission_key=submission_key,
        )
        before = audit.snapshot(locked, Visit.AUDITED_FIELDS)
        locked.follow_up = result.appointment
        locked.save(update_fields=["follow_up"])
        local = start.astimezone(tz)
        common.record(
            actor, locked, f"Follow-up booked {local:%m/%d/%Y %H:%M} with {provider}", before
        )
        return result
