"""The waitlist: adding and removing entries, offering a freed slot, accepting or declining an
offer."""

from __future__ import annotations

from datetime import date, datetime

from django.db import models, transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, Patient, Staff, User

from ..models import (
    Appointment,
    AppointmentType,
    WaitlistEntry,
    WaitlistOffer,
)
from . import booking, common
from .common import BookingResult, SchedulingError


def add_to_waitlist(
    *,
    actor: User,
    clinic: Clinic,
    patient: Patient,
    appointment_type: AppointmentType,
    earliest: date,
    latest: date,
    provider: Staff | None = None,
    time_of_day: str = WaitlistEntry.TimeOfDay.ANY,
    notes: str = "",
) -> WaitlistEntry:
    """Put a patient on the waitlist for a type (and provider) between two dates."""
    common.require_clinic(actor, clinic.pk)
    if patient.clinic_id != clinic.pk:
        raise SchedulingError("This patient is not registered at this clinic.", field="patient")
    if appointment_type.clinic_id != clinic.pk or not appointment_type.is_active:
        raise SchedulingError(
            "This appointment type is not offered at this clinic.", field="appointment_type"
        )
    if provider is not None and not provider.clinics.filter(pk=clinic.pk).exists():
        raise SchedulingError("This provider does not work at this clinic.", field="provider")
    if latest < earliest:
        raise SchedulingError("The latest date must not be before the earliest.", field="latest")
    if latest < clinic.today():
        raise SchedulingError("The latest date has already passed.", field="latest")
    if time_of_day not in WaitlistEntry.TimeOfDay.values:
        raise SchedulingError("Choose a time of day.", field="time_of_day")
    with transaction.atomic():
        entry = WaitlistEntry.objects.create(
            clinic=clinic,
            patient=patient,
            appointment_type=appointment_type,
            provider=provider,
            earliest=earliest,
            latest=latest,
            time_of_day=time_of_day,
            notes=notes,
            created_by=actor,
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=entry,
            patient=patient,
            clinic=clinic,
            summary=f"Waitlisted for {appointment_type.name} {earliest} to {latest}",
        )
        return entry


def remove_from_waitlist(*, actor: User, entry: WaitlistEntry) -> WaitlistEntry:
    """Take a patient off the waitlist (they found a slot elsewhere, or no longer need one)."""
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
        common.require_clinic(actor, entry.clinic_id)
        if entry.status != WaitlistEntry.Status.WAITING:
            return entry
        entry.status = WaitlistEntry.Status.REMOVED
        entry.save(update_fields=["status"])
        entry.offers.filter(status=WaitlistOffer.Status.OPEN).update(
            status=WaitlistOffer.Status.EXPIRED, resolved_at=timezone.now()
        )
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=entry,
            patient=entry.patient_id,
            clinic=entry.clinic_id,
            summary="Removed from the waitlist",
        )
        return entry


def offer_freed_slot(appt: Appointment, *, now: datetime) -> list[WaitlistOffer]:
    """Offer a cancelled appointment's slot to the waiting patients it suits."""
    if appt.start <= now:
        return []
    local_start = appt.start.astimezone(appt.clinic.tz)
    entries = (
        WaitlistEntry.objects.filter(
            clinic_id=appt.clinic_id,
            status=WaitlistEntry.Status.WAITING,
            appointment_type_id=appt.appointment_type_id,
            earliest__lte=local_start.date(),
            latest__gte=local_start.date(),
        )
        .filter(models.Q(provider__isnull=True) | models.Q(provider_id=appt.provider_id))
        .exclude(patient_id=appt.patient_id)
        .order_by("created_at")
    )
    offers = [
        WaitlistOffer(
            entry=entry,
            freed_by=appt,
            provider_id=appt.provider_id,
            start=appt.start,
            end=appt.end,
        )
        for entry in entries
        if entry.accepts_time(local_start.time())
    ]
    return WaitlistOffer.objects.bulk_create(offers) if offers else []


def accept_waitlist_offer(
    *, actor: User, offer: WaitlistOffer, now: datetime | None = None
) -> BookingResult:
    """Book the offered slot for the waiting patient; the entry's other offers lapse."""
    now = now or timezone.now()
    failure: SchedulingError | None = None
    with transaction.atomic():
        offer = (
            WaitlistOffer.objects.select_for_update(of=("self",))
            .select_related("entry__clinic", "entry__patient", "entry__appointment_type")
            .get(pk=offer.pk)
        )
        entry = offer.entry
        common.require_clinic(actor, entry.clinic_id)
        if offer.status == WaitlistOffer.Status.ACCEPTED and offer.booked_id is not None:
            # Accepted already (a repeated tap, or another desk): that booking is the answer.
            booked = (
                Appointment.objects.select_related(
                    "clinic", "patient", "provider__user", "appointment_type"
                )
                .filter(pk=offer.booked_id)
                .first()
            )
            if booked is not None:
                return BookingResult(booked, replayed=True)
        still_waiting = entry.status == WaitlistEntry.Status.WAITING
        if offer.status != WaitlistOffer.Status.OPEN or not still_waiting:
            raise SchedulingError("This offer is no longer open.", field="offer")
        try:
            with transaction.atomic():
                result = booking.book(
                    actor=actor,
                    clinic=entry.clinic,
                    patient=entry.patient,
                    provider=offer.provider,
                    appointment_type=entry.appointment_type,
                    start=offer.start,
                    end=None,
                    room=None,
                    notes=entry.notes,
                    overbook=False,
                    overbook_reason="",
                    allow_buffer=False,
                    now=now,
                )
        except SchedulingError as error:
            failure = error
            offer.status = WaitlistOffer.Status.EXPIRED
            offer.resolved_at = now
            offer.save(update_fields=["status", "resolved_at"])
        else:
            offer.status = WaitlistOffer.Status.ACCEPTED
            offer.booked = result.appointment
            offer.resolved_at = now
            offer.save(update_fields=["status", "booked", "resolved_at"])
            entry.status = WaitlistEntry.Status.BOOKED
            entry.save(update_fields=["status"])
            WaitlistOffer.objects.filter(entry=entry, status=WaitlistOffer.Status.OPEN).update(
                status=WaitlistOffer.Status.EXPIRED, resolved_at=now
            )
            # Everyone else offered this slot loses it too.
            WaitlistOffer.objects.filter(
                freed_by_id=offer.freed_by_id, status=WaitlistOffer.Status.OPEN
            ).update(status=WaitlistOffer.Status.EXPIRED, resolved_at=now)
    if failure is not None:
        raise failure
    return result


def decline_waitlist_offer(*, actor: User, offer: WaitlistOffer) -> WaitlistOffer:
    """The patient does not want this slot; they stay on the waitlist."""
    with transaction.atomic():
        offer = (
            WaitlistOffer.objects.select_for_update(of=("self",))
            .select_related("entry")
            .get(pk=offer.pk)
        )
        common.require_clinic(actor, offer.entry.clinic_id)
        if offer.status == WaitlistOffer.Status.OPEN:
            offer.status = WaitlistOffer.Status.DECLINED
            offer.resolved_at = timezone.now()
            offer.save(update_fields=["status", "resolved_at"])
        return offer
