"""Reads of the audit trail, already scoped to what the user may see."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db.models import Q, QuerySet

from clinicops.audit.models import AuditEvent
from clinicops.core.models import Patient, Staff, User

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

PAGE_SIZE = 50
# A filter that matches more people than this is too broad to mean "who saw this person".
MAX_MATCHED_PATIENTS = 500
MAX_MATCHED_USERS = 200


def visible_audit_events(user: User | AnonymousUser) -> QuerySet[AuditEvent]:
    """The events a user may read: those of their clinics, and the sign-ins of their staff.

    Events without a clinic are sign-ins, sign-outs and other clinic-less actions: an officer
    sees those of people who work in one of their clinics (never one that names a patient).
    Failed logins have no actor to tie to a clinic, so only superusers see them.
    """
    if not user.is_authenticated:
        return AuditEvent.objects.none()
    if user.is_superuser:
        return AuditEvent.objects.all()
    clinic_ids = user.clinic_ids
    colleagues = Staff.objects.filter(clinics__in=clinic_ids).values("user_id")
    return AuditEvent.objects.filter(
        Q(clinic_id__in=clinic_ids)
        | Q(clinic_id__isnull=True, patient_id__isnull=True, actor_id__in=colleagues)
    )


def matching_patient_ids(user: User | AnonymousUser, query: str) -> list[int]:
    """Ids of the patients the user may see who match an MRN, name or date of birth."""
    # An exact MRN first: an 8-digit MRN such as 10135002 also reads as a date (10/13/5002).
    text = query.strip()
    patients = Patient.objects.for_user(user)
    patients = (patients.filter(mrn=text) | patients.search(query)).order_by("pk")
    return list(patients.values_list("pk", flat=True)[: MAX_MATCHED_PATIENTS + 1])


def matching_user_ids(query: str) -> list[int]:
    """Ids of users by exact username or by name ("jo", "smith", "jo smith")."""
    text = " ".join(query.split())
    match = (
        Q(username__iexact=text) | Q(first_name__istartswith=text) | Q(last_name__istartswith=text)
    )
    if " " in text:
        first, last = text.split(" ", 1)
        match |= Q(first_name__istartswith=first, last_name__istartswith=last)
    users = User.objects.filter(match).order_by("pk")
    return list(users.values_list("pk", flat=True)[: MAX_MATCHED_USERS + 1])


def filter_audit_events(
    events: QuerySet[AuditEvent],
    *,
    patient_ids: list[int] | None = None,
    actor_ids: list[int] | None = None,
    action: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Narrow `events`; `None` means "no filter", an empty list matches nothing."""
    if patient_ids is not None:
        events = events.filter(patient_id__in=patient_ids)
    if actor_ids is not None:
        events = events.filter(actor_id__in=actor_ids)
    if action:
        events = events.filter(action=action)
    if start is not None:
        events = events.filter(occurred_at__gte=start)
    if end is not None:
        events = events.filter(occurred_at__lt=end)
    return events.order_by("-occurred_at", "-id")


def older_than(events: QuerySet[AuditEvent], before: int | None) -> QuerySet[AuditEvent]:
    """The events after event id `before` in newest-first order (keyset paging: no OFFSET, no
    COUNT). Paged by id, not by chain `seq`: the newest events are not sealed yet."""
    if before is None:
        return events
    cursor = AuditEvent.objects.filter(pk=before).values_list("occurred_at", flat=True).first()
    if cursor is None:
        return events
    return events.filter(Q(occurred_at__lt=cursor) | Q(occurred_at=cursor, id__lt=before))


def newer_than(events: QuerySet[AuditEvent], after: int) -> QuerySet[AuditEvent]:
    """The events before event id `after` in newest-first order, oldest of them first (the
    "Newer events" page: keyset paging backwards, no OFFSET)."""
    cursor = AuditEvent.objects.filter(pk=after).values_list("occurred_at", flat=True).first()
    if cursor is None:
        return events
    return events.filter(Q(occurred_at__gt=cursor) | Q(occurred_at=cursor, id__gt=after)).order_by(
        "occurred_at", "id"
    )


@dataclass
class AuditPage:
    events: list[AuditEvent]
    # Cursors for the links: the events older than `older`, newer than `newer`; None = no more.
    older: int | None
    newer: int | None


def page_of(
    events: QuerySet[AuditEvent], *, before: int | None, after: int | None = None
) -> AuditPage:
    """One page of `events` (newest first): the newest, those older than event `before`, or
    those newer than event `after`; with the cursors of the pages either side (if any)."""
    if after is not None and before is None:
        found = list(newer_than(events, after)[: PAGE_SIZE + 1])
        if found and AuditEvent.objects.filter(pk=after).exists():
            more = len(found) > PAGE_SIZE
            rows = found[:PAGE_SIZE][::-1]
            # The event `after` itself (or one older than it) is there: the page has an older.
            return AuditPage(rows, rows[-1].pk, rows[0].pk if more else None)
        before = None  # nothing newer (or the cursor is gone): the newest page
    rows = list(older_than(events, before)[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return AuditPage(
        rows,
        rows[-1].pk if more else None,
        rows[0].pk if before is not None and rows else None,
    )


@dataclass
class AuditRow:
    event: AuditEvent
    patient: Patient | None
    object_label: str
    changes: list[str] = field(default_factory=list)


def audit_rows(user: User | AnonymousUser, events: Iterable[AuditEvent]) -> list[AuditRow]:
    """Events ready to show: their patients fetched in one query, changes as "field: a → b"."""
    events = list(events)
    patient_ids = {e.patient_id for e in events if e.patient_id is not None}
    patients = (
        Patient.objects.for_user(user)
        .filter(pk__in=patient_ids)
        .only("pk", "mrn", "first_name", "middle_name", "last_name")
        .in_bulk()
        if patient_ids
        else {}
    )
    labels: dict[str, str] = {}
    return [
        AuditRow(
            event=e,
            patient=patients.get(e.patient_id) if e.patient_id is not None else None,
            object_label=_object_label(e, labels),
            changes=list(describe_changes(e.changes, action=e.action)),
        )
        for e in events
    ]


def _object_label(event: AuditEvent, labels: dict[str, str]) -> str:
    if not event.object_type:
        return ""
    if event.object_type not in labels:
        try:
            labels[event.object_type] = str(apps.get_model(event.object_type)._meta.verbose_name)
        except (LookupError, ValueError):
            labels[event.object_type] = event.object_type
    name = labels[event.object_type]
    return f"{name} #{event.object_id}" if event.object_id else name


def describe_changes(changes: Any, *, action: str) -> Iterator[str]:
    """Each change as "field: old → new" (or "field: value" for a created record's values)."""
    is_change = action == AuditEvent.Action.UPDATE
    if not isinstance(changes, dict):
        if changes:
            yield _show(changes)
        return
    for name, value in changes.items():
        if is_change and isinstance(value, list) and len(value) == 2:
            yield f"{name}: {_show(value[0])} → {_show(value[1])}"
        else:
            yield f"{name}: {_show(value)}"


def _show(value: Any) -> str:
    if value is None or value == "":
        return "(blank)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
