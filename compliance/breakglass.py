"""Break-glass: emergency access to another clinic's patient, time-boxed, flagged, reviewed.

How it extends scoping (docs/decisions/0034-break-glass-scoping.md): the one place patient
scoping is decided is `ClinicScopedQuerySet.for_user`; it asks `User.extra_patient_grants`,
which asks the providers in `core.models.PATIENT_GRANT_PROVIDERS`. This module registers
`active_grants` there (compliance/apps.py), and `flag_event` in the audit trail's annotators,
so every event the user causes on that patient while the access runs carries its id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet, TextField
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import softcache
from clinicops.core.models import Clinic, Patient, User, UserRead

from .models import BreakGlassAccess

CACHE_KEY = "break-glass:{user_id}"
# How long "this user has no break-glass access" is believed without asking the database. A new
# access deletes the key, so this only bounds how stale a lost delete (Redis down) can be.
NO_GRANT_TTL = 300
NO_GRANT = "none"


def minutes() -> int:
    return int(getattr(settings, "BREAK_GLASS_MINUTES", 60))


def allowed_roles() -> tuple[str, ...]:
    return tuple(getattr(settings, "BREAK_GLASS_ROLES", ()))


def may_break_glass(user: User) -> bool:
    """Only roles the setting BREAK_GLASS_ROLES names (superusers see every clinic anyway)."""
    if not user.is_authenticated or not user.is_active or user.is_superuser:
        return False
    return bool(set(user.role_names) & set(allowed_roles()))


class BreakGlassRefused(ValidationError):
    """The request cannot be granted; the message says why (shown next to the field)."""


@dataclass(frozen=True)
class Grant:
    access_id: int
    patient_id: int
    expires_at: datetime
    # The patient as the banner names them (name, MRN, clinic; other fields deferred), when read
    # with the user's clinics; None when the grant was read on its own.
    patient: Patient | None = field(default=None, compare=False)


def _cache_key(user_id: int) -> str:
    return CACHE_KEY.format(user_id=user_id)


def _load(user_id: int, now: datetime) -> list[Grant]:
    rows = BreakGlassAccess.objects.filter(
        user_id=user_id, started_at__lte=now, expires_at__gt=now
    ).values_list("pk", "patient_id", "expires_at")
    return [Grant(pk, patient_id, expires_at) for pk, patient_id, expires_at in rows]


# Read on every page with the user's clinics, so neither the banner nor patient scoping asks
# the cache (a round trip) or the database (another) on their own.
READ_WITH_CLINICS = "_break_glass_grants"  # on the user object, for the request


# What the banner shows of the patient (a Patient with only these fields loaded).
BANNER_PATIENT_FIELDS = ("id", "clinic_id", "mrn", "first_name", "middle_name", "last_name")


def _banner_patient_fields() -> list[Any]:
    """The banner's fields in the model's order, the order Patient.from_db takes values in."""
    return [f for f in Patient._meta.concrete_fields if f.attname in BANNER_PATIENT_FIELDS]


def running_grants_sql() -> str:
    """The user's running accesses as JSON text ([[access id, patient id, expires at, the
    patient's BANNER_PATIENT_FIELDS...], ...]), a scalar SQL expression with the user id as its
    parameter: CurrentClinicMiddleware reads it in the same query as the user's clinics
    (USER_READ), so neither scoping nor the banner pays a round trip for it."""
    column = {f.name: f.column for f in BreakGlassAccess._meta.concrete_fields}
    patient = ", ".join(f"p.{f.column}" for f in _banner_patient_fields())
    return f"""(
        SELECT COALESCE(json_agg(json_build_array(g.{column["id"]},
                                                  g.{column["patient"]},
                                                  g.{column["expires_at"]},
                                                  {patient})
                                 ORDER BY g.{column["expires_at"]}), '[]')::text
          FROM {BreakGlassAccess._meta.db_table} g
          JOIN {Patient._meta.db_table} p ON p.{Patient._meta.pk.column} = g.{column["patient"]}
         WHERE g.{column["user"]} = %s
           AND g.{column["started_at"]} <= statement_timestamp()
           AND g.{column["expires_at"]} > statement_timestamp())"""  # noqa: S608 - names from the models' metadata, the user id a parameter


def remember_running_grants(user: User, value: str) -> None:
    # setattr, not the instance's __dict__: `request.user` is a lazy object that forwards
    # attributes to the user, whose own methods (extra_patient_grants) read them back.
    names = [f.attname for f in _banner_patient_fields()]
    db = Patient.objects.db
    grants = [
        Grant(
            access_id,
            patient_id,
            datetime.fromisoformat(expires_at),
            Patient.from_db(db, names, patient),
        )
        for access_id, patient_id, expires_at, *patient in json.loads(value)
    ]
    setattr(user, READ_WITH_CLINICS, grants)


USER_READ = UserRead(  # registered in compliance/apps.py
    name="break_glass",
    sql=running_grants_sql,
    output_field=TextField(),
    remember=remember_running_grants,
)


def current_grants(user: User, now: datetime | None = None) -> list[Grant]:
    """The user's break-glass accesses running now.

    In a request, CurrentClinicMiddleware has read them with the user's clinics (USER_READ):
    exact, and no round trip of their own. Elsewhere only "none" is cached (the common case: no
    query on every page); a user with a running access is always read from the database, so a
    cached value can never open a record, only (for at most NO_GRANT_TTL, if the delete after a
    new access was lost) keep one closed.
    """
    read: list[Grant] | None = getattr(user, READ_WITH_CLINICS, None)
    if now is None and read is not None:
        now = timezone.now()
        return [g for g in read if g.expires_at > now]
    now = now or timezone.now()
    key = _cache_key(user.pk)
    if softcache.get(key) == NO_GRANT:
        return []
    grants = _load(user.pk, now)
    if not grants:
        softcache.set(key, NO_GRANT, NO_GRANT_TTL)
    return grants


def active_grants(user: User) -> dict[int, int]:
    """{patient id: access id}: the provider registered in core's PATIENT_GRANT_PROVIDERS."""
    if user.is_superuser or not user.is_active:
        return {}
    return {g.patient_id: g.access_id for g in current_grants(user)}


def flag_event(actor: Any, patient_id: int, clinic_id: int | None) -> dict[str, int] | None:
    """The audit annotator: {"break_glass": id} on events about a patient opened by break-glass.

    Only a patient outside the actor's clinics can have been opened that way, so for every
    other event this costs nothing (the clinic ids are already loaded by scoping).
    """
    if getattr(actor, "is_superuser", True) or not isinstance(actor, User):
        return None
    if clinic_id is not None and clinic_id in actor.clinic_ids:
        return None
    access_id = actor.extra_patient_grants.get(patient_id)
    return {"break_glass": access_id} if access_id else None


def find_patient(user: User, mrn: str) -> Patient:
    """The patient an MRN names, for a break-glass request (exact MRN: no browsing by name)."""
    patient = Patient.objects.filter(mrn=mrn.strip()).select_related("clinic").first()
    if patient is None:
        # A refused look-up is in the trail too: trying MRNs here is how one would probe
        # another clinic's patients.
        audit.record(
            actor=user,
            action=AuditEvent.Action.SEARCH,
            summary="Break-glass refused: no patient has that MRN",
            changes={"mrn": mrn.strip()[:12]},
        )
        raise BreakGlassRefused({"mrn": "No patient has that MRN. Check it with the patient."})
    if patient.clinic_id in user.clinic_ids:
        raise BreakGlassRefused(
            {"mrn": "This patient is registered at your own clinic: open the record directly."}
        )
    return patient


def break_glass(
    *, user: User, patient: Patient, reason: str, explanation: str, now: datetime | None = None
) -> BreakGlassAccess:
    """Open `patient` to `user` for BREAK_GLASS_MINUTES; audited, and awaiting review.

    The same request sent twice (a double click) while an access to that patient runs returns
    the running one; it does not start a second one or move the expiry.
    """
    if not may_break_glass(user):
        raise PermissionDenied("Your role may not use emergency access.")
    explanation = explanation.strip()
    if not explanation:
        raise BreakGlassRefused({"explanation": "Say why you need this record."})
    reason = BreakGlassAccess.Reason(reason).value
    with transaction.atomic():
        # One at a time per user: the running-access check and the insert cannot interleave.
        # The time is read once the lock is held: a request that waited for another must see
        # the access that one started as running (it may have started after we arrived).
        User.objects.select_for_update().filter(pk=user.pk).first()
        now = now or timezone.now()
        running = BreakGlassAccess.objects.filter(
            user=user, patient=patient, expires_at__gt=now
        ).first()
        if running is not None:
            return running
        access = BreakGlassAccess.objects.create(
            user=user,
            patient=patient,
            clinic_id=patient.clinic_id,
            reason=reason,
            explanation=explanation,
            started_at=now,
            expires_at=now + timedelta(minutes=minutes()),
        )
        audit.record(
            actor=user,
            action=AuditEvent.Action.CREATE,
            obj=access,
            patient=patient,
            clinic=patient.clinic_id,
            summary=f"Broke the glass for {minutes()} minutes: {access.get_reason_display()}",
            changes={
                "break_glass": access.pk,
                "reason": reason,
                "explanation": explanation,
                "expires_at": access.expires_at,
            },
        )
        # Forget "no access" now (this request) and again once committed (a concurrent request
        # may have cached the state before the commit).
        forget(user.pk)
        if hasattr(user, READ_WITH_CLINICS):
            delattr(user, READ_WITH_CLINICS)
        transaction.on_commit(lambda: forget(user.pk))
    return access


def forget(user_id: int) -> None:
    """Drop the cached grants of a user (None reads as "not cached")."""
    softcache.set(_cache_key(user_id), None, 1)


# -- Review by the compliance officer ------------------------------------------------------


def review_queue(clinic: Clinic, *, pending_only: bool = True) -> QuerySet[BreakGlassAccess]:
    rows = BreakGlassAccess.objects.filter(clinic=clinic).select_related(
        "user", "patient", "reviewed_by"
    )
    return rows.filter(review=BreakGlassAccess.Review.PENDING) if pending_only else rows


def visible_access(user: User, access_id: int) -> QuerySet[BreakGlassAccess]:
    """One use, if it is of a clinic `user` works in (another clinic's is a 404)."""
    return BreakGlassAccess.objects.filter(
        pk=access_id, clinic_id__in=user.clinic_ids
    ).select_related("user", "patient", "clinic", "reviewed_by")


def flagged_events(access: BreakGlassAccess) -> QuerySet[AuditEvent]:
    """Every audit event the access produced (its creation and every read under it)."""
    return AuditEvent.objects.filter(
        actor_id=access.user_id, changes__break_glass=access.pk
    ).order_by("id")


def _review(*, actor: User, access: BreakGlassAccess, outcome: str, note: str) -> BreakGlassAccess:
    with transaction.atomic():
        locked = BreakGlassAccess.objects.select_for_update().get(pk=access.pk)
        if locked.review != BreakGlassAccess.Review.PENDING:
            # Sent twice, or reviewed by a colleague meanwhile: the first decision stands.
            return locked
        if locked.user_id == actor.pk:
            raise PermissionDenied("Nobody reviews their own emergency access.")
        before = audit.snapshot(locked, ("review", "review_note"))
        locked.review = outcome
        locked.review_note = note.strip()
        locked.reviewed_by = actor
        locked.reviewed_at = timezone.now()
        locked.save(update_fields=["review", "review_note", "reviewed_by", "reviewed_at"])
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=locked,
            patient=locked.patient_id,
            clinic=locked.clinic_id,
            summary=f"Break-glass {locked.pk} reviewed: {locked.get_review_display()}",
            changes=audit.diff(before, audit.snapshot(locked, ("review", "review_note"))),
        )
    return locked


def approve(*, actor: User, access: BreakGlassAccess, note: str = "") -> BreakGlassAccess:
    return _review(actor=actor, access=access, outcome=BreakGlassAccess.Review.APPROVED, note=note)


# A referral ties at most this many of the use's flagged audit events to the incident; the
# rest stay one search away (the incident names the break-glass use).
REFERRAL_EVENT_LINKS = 50


def refer_to_incident(*, actor: User, access: BreakGlassAccess, note: str) -> BreakGlassAccess:
    """Record the outcome "referred" and open a privacy incident about the use, in one
    transaction: the incident names the patient, the reason given and the reviewer's note, and
    links the use's flagged audit events. Sent twice, the first referral stands and no second
    incident is opened."""
    from . import incidents

    if not note.strip():
        raise BreakGlassRefused({"note": "Say what the incident is about."})
    with transaction.atomic():
        reviewed = _review(
            actor=actor, access=access, outcome=BreakGlassAccess.Review.REFERRED, note=note
        )
        if reviewed.review != BreakGlassAccess.Review.REFERRED or reviewed.incident_id:
            return reviewed
        incident = incidents.report_incident(
            actor=actor,
            clinic=reviewed.clinic,
            kind="incident",
            title=f"Break-glass use {reviewed.pk} referred for review",
            description=(
                f"{reviewed.user.display_name} opened this patient's record from another clinic "
                f"({reviewed.get_reason_display()}: {reviewed.explanation}).\n\n"
                f"Reviewer's note: {reviewed.review_note}"
            ),
            location="ClinicOps (emergency access)",
            occurred_at=reviewed.started_at,
            category="privacy",
            harm="unknown",
            patient=reviewed.patient,
        ).obj
        reviewed.incident = incident
        reviewed.save(update_fields=["incident"])
        for event_id in flagged_events(reviewed).values_list("pk", flat=True)[
            :REFERRAL_EVENT_LINKS
        ]:
            incidents.link_audit_event(
                actor=actor, incident=incident, event_id=event_id, note="break-glass read"
            )
    return reviewed
