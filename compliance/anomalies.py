"""Anomaly hints: patterns in the audit trail a person should look at, never verdicts.

Per clinic and clinic-local day (computed nightly for yesterday, and on demand), from the
trail's events about patients (actor set, patient set) filed under the clinic:

- volume: a user opened many more distinct patients than their own baseline (their average
  on the days they worked in the ANOMALY_BASELINE_DAYS before, at least ANOMALY_VOLUME_MIN
  and ANOMALY_VOLUME_FACTOR times the baseline; no hint without ANOMALY_BASELINE_MIN_DAYS
  days of history: no baseline, no comparison);
- surname: a patient with the user's surname;
- household: a patient with the user's work phone (staff have no address on file, so the
  phone stands in for "same household");
- off_hours: an access outside the user's published shifts that day (ANOMALY_GRACE_MINUTES
  either side), or, with no roster that week, outside the clinic's opening hours.

Each hint keeps the ids of the events behind it; one hint per (clinic, user, rule, day).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import mean
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, OpeningHours, Patient, Staff, User, normalize_phone

from . import rosters
from .models import AnomalyHint

MAX_EVENT_IDS = 200


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def day_bounds(clinic: Clinic, day: date) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight starting `day` and the next (23 or 25 hours apart on
    a DST day)."""
    start = datetime.combine(day, time(0), tzinfo=clinic.tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=clinic.tz).astimezone(UTC)
    return start, end


def patient_events(clinic: Clinic, start: datetime, end: datetime) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        clinic_id=clinic.pk,
        occurred_at__gte=start,
        occurred_at__lt=end,
        actor__isnull=False,
        patient_id__isnull=False,
    )


@dataclass
class Found:
    user_id: int
    rule: str
    detail: str
    event_ids: list[int]


def _volume(clinic: Clinic, day: date, events: list[tuple[int, int, int, datetime]]) -> list[Found]:
    per_user: dict[int, set[int]] = defaultdict(set)
    ids: dict[int, list[int]] = defaultdict(list)
    for event_id, actor_id, patient_id, _ in events:
        per_user[actor_id].add(patient_id)
        ids[actor_id].append(event_id)
    minimum = _setting("ANOMALY_VOLUME_MIN", 20)
    factor = _setting("ANOMALY_VOLUME_FACTOR", 3)
    min_days = _setting("ANOMALY_BASELINE_MIN_DAYS", 5)
    candidates = [uid for uid, patients in per_user.items() if len(patients) >= minimum]
    if not candidates:
        return []
    start, _ = day_bounds(clinic, day)
    history_start, _ = day_bounds(
        clinic, day - timedelta(days=_setting("ANOMALY_BASELINE_DAYS", 28))
    )
    daily = (
        patient_events(clinic, history_start, start)
        .filter(actor_id__in=candidates, action=AuditEvent.Action.VIEW)
        .annotate(local_day=TruncDate("occurred_at", tzinfo=clinic.tz))
        .values("actor_id", "local_day")
        .annotate(patients=Count("patient_id", distinct=True))
    )
    history: dict[int, list[int]] = defaultdict(list)
    for row in daily:
        history[row["actor_id"]].append(row["patients"])
    found = []
    for uid in candidates:
        days = history.get(uid, [])
        if len(days) < min_days:
            continue
        baseline = mean(days)
        count = len(per_user[uid])
        if count >= factor * baseline:
            found.append(
                Found(
                    uid,
                    AnomalyHint.Rule.VOLUME,
                    f"Opened {count} patients' records; usually {baseline:.0f} a day "
                    f"(over {len(days)} working days)",
                    ids[uid],
                )
            )
    return found


def _same_person_links(
    events: list[tuple[int, int, int, datetime]], users: dict[int, User]
) -> list[Found]:
    patient_ids = {patient_id for _, _, patient_id, _ in events}
    patients = {
        pk: (last.strip().lower(), digits)
        for pk, last, digits in Patient.objects.filter(pk__in=patient_ids).values_list(
            "pk", "last_name", "phone_digits"
        )
    }
    phones = {
        uid: normalize_phone(phone)
        for uid, phone in Staff.objects.filter(user_id__in=list(users)).values_list(
            "user_id", "phone"
        )
    }
    hits: dict[tuple[int, str], list[int]] = defaultdict(list)
    names: dict[tuple[int, str], set[int]] = defaultdict(set)
    for event_id, actor_id, patient_id, _ in events:
        last, digits = patients.get(patient_id, ("", ""))
        surname = users[actor_id].last_name.strip().lower()
        if surname and last == surname:
            hits[(actor_id, AnomalyHint.Rule.SURNAME)].append(event_id)
            names[(actor_id, AnomalyHint.Rule.SURNAME)].add(patient_id)
        phone = phones.get(actor_id, "")
        if len(phone) >= 7 and digits == phone:
            hits[(actor_id, AnomalyHint.Rule.HOUSEHOLD)].append(event_id)
            names[(actor_id, AnomalyHint.Rule.HOUSEHOLD)].add(patient_id)
    found = []
    for (uid, rule), event_ids in hits.items():
        count = len(names[(uid, rule)])
        what = "the user's surname" if rule == AnomalyHint.Rule.SURNAME else "the user's phone"
        found.append(
            Found(
                uid,
                rule,
                f"{count} patient record(s) sharing {what}: {_accesses(len(event_ids))}",
                event_ids,
            )
        )
    return found


def _accesses(count: int) -> str:
    return f"{count} access" if count == 1 else f"{count} accesses"


def _opening_windows(clinic: Clinic, day: date) -> list[tuple[datetime, datetime]]:
    hours = OpeningHours.objects.filter(clinic=clinic, weekday=day.weekday()).first()
    if hours is None:
        return []
    return [
        (
            datetime.combine(day, hours.opens, tzinfo=clinic.tz),
            datetime.combine(day, hours.closes, tzinfo=clinic.tz),
        )
    ]


def _off_hours(
    clinic: Clinic, day: date, events: list[tuple[int, int, int, datetime]]
) -> list[Found]:
    user_ids = sorted({actor_id for _, actor_id, _, _ in events})
    rostered = rosters.rostered_windows(clinic.pk, user_ids, day)
    opening = _opening_windows(clinic, day)
    grace = timedelta(minutes=_setting("ANOMALY_GRACE_MINUTES", 30))
    outside: dict[int, list[int]] = defaultdict(list)
    for event_id, actor_id, _, at in events:
        windows = rostered.get(actor_id, opening)
        if not any(start - grace <= at < end + grace for start, end in windows):
            outside[actor_id].append(event_id)
    found = []
    for uid, event_ids in outside.items():
        basis = "their published shifts" if uid in rostered else "the clinic's opening hours"
        found.append(
            Found(
                uid,
                AnomalyHint.Rule.OFF_HOURS,
                f"{_accesses(len(event_ids))} outside {basis}",
                event_ids,
            )
        )
    return found


def compute_hints(clinic: Clinic, day: date, now: datetime | None = None) -> list[AnomalyHint]:
    """Compute and store the hints of `clinic`'s local `day`; returns the ones new this run.
    Running it again for the same day adds nothing (one hint per clinic, user, rule, day)."""
    start, end = day_bounds(clinic, day)
    rows = list(
        patient_events(clinic, start, end)
        .order_by("id")
        .values_list("id", "actor_id", "patient_id", "occurred_at", "action")
    )
    if not rows:
        return []
    # (The query filters out null actors and patients.)
    events = [(pk, int(actor or 0), int(patient or 0), at) for pk, actor, patient, at, _ in rows]
    views = {pk for pk, *_, action in rows if action == AuditEvent.Action.VIEW}
    reads = [event for event in events if event[0] in views]
    users = {u.pk: u for u in User.objects.filter(pk__in={e[1] for e in events})}
    found = (
        _volume(clinic, day, reads)
        + _same_person_links(events, users)
        + _off_hours(clinic, day, events)
    )
    now = now or timezone.now()
    created = []
    for item in found:
        try:
            with transaction.atomic():
                hint, made = AnomalyHint.objects.get_or_create(
                    clinic=clinic,
                    user_id=item.user_id,
                    rule=item.rule,
                    day=day,
                    defaults={
                        "detail": item.detail[:300],
                        "event_ids": item.event_ids[:MAX_EVENT_IDS],
                        "created_at": now,
                    },
                )
        except IntegrityError:  # the nightly run and an on-demand run at once
            continue
        if made:
            created.append(hint)
    return created


def inbox(clinic: Clinic, *, status: str = "open") -> QuerySet[AnomalyHint]:
    rows = AnomalyHint.objects.filter(clinic=clinic).select_related("user", "reviewed_by")
    return rows if status == "all" else rows.filter(status=status)


def visible_hint(user: User, hint_id: int) -> QuerySet[AnomalyHint]:
    return AnomalyHint.objects.filter(pk=hint_id, clinic_id__in=user.clinic_ids).select_related(
        "user", "clinic", "reviewed_by"
    )


def hint_events(hint: AnomalyHint) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(pk__in=list(hint.event_ids)).order_by("occurred_at", "id")


def review_hint(*, actor: User, hint: AnomalyHint, status: str, note: str) -> AnomalyHint:
    from clinicops.audit import audit

    with transaction.atomic():
        locked = AnomalyHint.objects.select_for_update().get(pk=hint.pk)
        before = audit.snapshot(locked, ("status", "review_note"))
        locked.status = AnomalyHint.Status(status).value
        locked.review_note = note.strip()[:300]
        locked.reviewed_by = actor
        locked.save(update_fields=["status", "review_note", "reviewed_by"])
        changes: dict[str, Any] = audit.diff(
            before, audit.snapshot(locked, ("status", "review_note"))
        )
        if changes:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.UPDATE,
                obj=locked,
                clinic=locked.clinic_id,
                summary=f"Anomaly hint {locked.pk}: {locked.get_status_display()}",
                changes=changes,
            )
    return locked
