"""Flag a problem: the services (each one transaction, audited last) and the scoped reads."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, Patient, User

from .models import Flag

# What an anonymous flag's audit event and row are filed under: no user, no address.
ANONYMOUS_LABEL = "anonymous"


def flag_problem(
    *,
    reporter: User,
    clinic: Clinic,
    description: str,
    urgency: str,
    patient: Patient | None,
    page: str,
    anonymous: bool,
) -> Flag:
    """Store a flag for `clinic`'s inbox. Anonymous: no reporter, no IP, the time to the hour."""
    now = timezone.now()
    with transaction.atomic():
        flag = Flag.objects.create(
            clinic=clinic,
            reporter=None if anonymous else reporter,
            anonymous=anonymous,
            description=description,
            urgency=Flag.Urgency(urgency).value,
            patient=patient,
            page=page,
            created_at=now.replace(minute=0, second=0, microsecond=0) if anonymous else now,
        )
        summary = f"Flagged a problem ({flag.get_urgency_display().split(':')[0].lower()})"
        changes = {"urgency": flag.urgency, "page": page, "anonymous": anonymous}
        if anonymous:
            # The request's address would name the reporter's workstation: not recorded.
            with audit.audit_context(ip_address=None):
                audit.record(
                    actor=ANONYMOUS_LABEL,
                    action=AuditEvent.Action.CREATE,
                    obj=flag,
                    patient=patient,
                    clinic=clinic,
                    summary=summary,
                    changes=changes,
                )
        else:
            audit.record(
                actor=reporter,
                action=AuditEvent.Action.CREATE,
                obj=flag,
                patient=patient,
                clinic=clinic,
                summary=summary,
                changes=changes,
            )
    return flag


def update_flag(*, actor: User, flag: Flag, status: str, response: str) -> Flag:
    """Move a flag along (acknowledge, investigate, resolve, dismiss) with a reply."""
    with transaction.atomic():
        locked = Flag.objects.select_for_update().get(pk=flag.pk)
        before = audit.snapshot(locked, ("status", "response"))
        locked.status = Flag.Status(status).value
        locked.response = response
        locked.handled_by = actor
        locked.save(update_fields=["status", "response", "handled_by"])
        changes = audit.diff(before, audit.snapshot(locked, ("status", "response")))
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=locked,
            patient=locked.patient_id,
            clinic=locked.clinic_id,
            summary=f"Flag {locked.pk}: {locked.get_status_display()}",
            changes=changes,
        )
    return locked


def inbox(clinic: Clinic, *, status: str = "open") -> QuerySet[Flag]:
    flags = Flag.objects.filter(clinic=clinic).select_related("reporter")
    if status == "open":
        flags = flags.filter(status__in=Flag.OPEN_STATUSES)
    elif status in Flag.Status.values:
        flags = flags.filter(status=status)
    return flags.order_by("-created_at", "-id")


def visible_flag(user: User, pk: int) -> QuerySet[Flag]:
    """The flag, if it belongs to one of the user's clinics (else empty: the view answers 404)."""
    return Flag.objects.filter(pk=pk, clinic__in=Clinic.objects.for_user(user)).select_related(
        "clinic", "patient", "reporter", "handled_by"
    )


def my_flags(user: User) -> QuerySet[Flag]:
    return Flag.objects.filter(reporter=user).order_by("-created_at", "-id")


def by_receipt(code: str) -> Flag | None:
    return Flag.objects.filter(receipt=code).first() if code else None
