"""Reminders, confirmation links, and automatic no-shows (the periodic tasks' work)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent

from ..models import (
    Appointment,
    SchedulingSettings,
)
from . import transitions
from .common import SchedulingError

Status = Appointment.Status


CONFIRM_SALT = "scheduling.confirm"


CONFIRM_MAX_AGE = timedelta(days=30)


def make_confirm_token(appointment: Appointment) -> str:
    return signing.dumps({"a": appointment.pk}, salt=CONFIRM_SALT, compress=True)


def appointment_for_token(token: str) -> Appointment:
    """The appointment a reminder link names; `SchedulingError` if the link is bad or old."""
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
        return Appointment.objects.select_related("clinic", "provider__user").get(pk=data["a"])
    except (signing.BadSignature, KeyError, TypeError, Appointment.DoesNotExist) as error:
        raise SchedulingError("This link is not valid or has expired.", field="token") from error


def confirm_by_token(*, token: str, now: datetime | None = None) -> Appointment:
    """Confirm from the reminder email's link (the patient is not logged in)."""
    now = now or timezone.now()
    appointment = appointment_for_token(token)
    if appointment.status == Status.CONFIRMED:
        return appointment
    if appointment.status != Status.BOOKED or appointment.start <= now:
        raise SchedulingError(
            "This appointment can no longer be confirmed online; please call the clinic.",
            field="token",
        )
    return transitions.confirm_appointment(
        actor="patient (reminder link)", appointment=appointment, via="link"
    )


def _reminder_due(now: datetime) -> models.QuerySet[Appointment]:
    hours = Coalesce(
        models.F("clinic__scheduling_settings__reminder_hours"),
        models.Value(SchedulingSettings._meta.get_field("reminder_hours").default),
    )
    return (
        Appointment.objects.filter(
            status=Status.BOOKED, reminder_sent_at__isnull=True, start__gt=now
        )
        .exclude(patient__email="")
        .annotate(
            remind_from=models.ExpressionWrapper(
                models.F("start") - hours * models.Value(timedelta(hours=1)),
                output_field=models.DateTimeField(),
            )
        )
        .filter(remind_from__lte=now)
    )


def send_due_reminders(*, now: datetime | None = None, limit: int = 500) -> int:
    """Email every appointment whose reminder is due; return how many went out.

    Each row is locked with SKIP LOCKED and marked sent in the transaction that sends it, so
    two workers never pick the same row and a retry never sends one twice.
    """
    now = now or timezone.now()
    sent = 0
    for pk in list(_reminder_due(now).order_by("start").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            appt = (
                Appointment.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("clinic", "patient", "provider__user")
                .filter(pk=pk, status=Status.BOOKED, reminder_sent_at__isnull=True)
                .first()
            )
            if appt is None:
                continue
            _reminder_message(appt).send()
            appt.reminder_sent_at = timezone.now()
            appt.save(update_fields=["reminder_sent_at", "updated_at"])
            audit.record(
                actor=None,
                action=AuditEvent.Action.UPDATE,
                obj=appt,
                patient=appt.patient,
                clinic=appt.clinic_id,
                summary="Reminder emailed to the patient",
            )
            sent += 1
    return sent


def confirm_url(appointment: Appointment) -> str:
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    path = reverse("scheduling:confirm", args=[make_confirm_token(appointment)])
    return f"{base}{path}"


def _reminder_message(appt: Appointment) -> EmailMessage:
    clinic = appt.clinic
    when = appt.start.astimezone(clinic.tz)
    body = (
        f"Hello {appt.patient.preferred_name or appt.patient.first_name},\n\n"
        f"This is a reminder of your appointment at {clinic.name} on "
        f"{when:%A %d %B %Y at %H:%M} with {appt.provider}.\n\n"
        f"Please confirm that you will come by opening this link:\n{confirm_url(appt)}\n\n"
        f"To cancel or change it, call us at {clinic.phone or 'the clinic'}.\n"
    )
    return EmailMessage(
        subject=f"Your appointment at {clinic.name} on {when:%d %B}",
        body=body,
        to=[appt.patient.email],
    )


def mark_overdue_no_shows(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Booked/confirmed appointments still not checked in N minutes after their end."""
    now = now or timezone.now()
    minutes = Coalesce(
        models.F("clinic__scheduling_settings__auto_no_show_minutes"),
        models.Value(SchedulingSettings._meta.get_field("auto_no_show_minutes").default),
    )
    enabled = Coalesce(
        models.F("clinic__scheduling_settings__auto_no_show_enabled"), models.Value(True)
    )
    due = (
        Appointment.objects.filter(status__in=(Status.BOOKED, Status.CONFIRMED), end__lt=now)
        .annotate(
            enabled=enabled,
            no_show_at=models.ExpressionWrapper(
                models.F("end") + minutes * models.Value(timedelta(minutes=1)),
                output_field=models.DateTimeField(),
            ),
        )
        .filter(enabled=True, no_show_at__lte=now)
        .order_by("end")
        .values_list("pk", flat=True)[:limit]
    )
    marked = 0
    for pk in list(due):
        with transaction.atomic():
            appt = (
                Appointment.objects.select_for_update(of=("self",), skip_locked=True)
                .filter(pk=pk, status__in=(Status.BOOKED, Status.CONFIRMED))
                .first()
            )
            if appt is None:
                continue
            transitions.transition(
                actor=None, appointment=appt, to=Status.NO_SHOW, note="automatic: no check-in"
            )
            marked += 1
    return marked
