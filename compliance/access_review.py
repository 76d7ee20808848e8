"""Access review: per clinic, every quarter and on demand, who can get in and what they did.

A manager confirms or revokes each line. Revoking takes the clinic away from the user (and,
when it was their last clinic, deactivates the account) and ends every session of theirs at
once: sessions are rows in `django_session` (SESSION_ENGINE db), so their ids are found by
decoding the unexpired rows (docs/decisions/0035-access-review-revocation.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User

from .models import AccessReview, AccessReviewLine


def dormant_days() -> int:
    return int(getattr(settings, "ACCESS_REVIEW_DORMANT_DAYS", 90))


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


# What counts as a privileged action in the trail: exports and prints of records, deletions,
# changes to anyone's access, reads of the audit trail itself, and break-glass uses.
PRIVILEGED = (
    ("Exported or printed", Q(action__in=[AuditEvent.Action.EXPORT, AuditEvent.Action.PRINT])),
    ("Deleted records", Q(action=AuditEvent.Action.DELETE)),
    (
        "Changed someone's access",
        Q(object_type="core.user", action__in=[AuditEvent.Action.UPDATE, AuditEvent.Action.CREATE]),
    ),
    ("Searched the audit trail", Q(object_type="compliance.auditevent")),
    (
        "Used break-glass",
        Q(object_type="compliance.breakglassaccess", action=AuditEvent.Action.CREATE),
    ),
)


def privileged_actions(user_ids: list[int], since: datetime) -> dict[int, dict[str, int]]:
    """{user id: {label: count}} of privileged actions since `since` (any clinic)."""
    counts: dict[int, Counter[str]] = {uid: Counter() for uid in user_ids}
    base = AuditEvent.objects.filter(actor_id__in=user_ids, occurred_at__gte=since)
    for label, condition in PRIVILEGED:
        for (actor_id,) in base.filter(condition).values_list("actor_id"):
            counts[actor_id][label] += 1
    return {uid: dict(c) for uid, c in counts.items()}


def active_users(clinic: Clinic) -> QuerySet[User]:
    return (
        User.objects.filter(is_active=True, staff__clinics=clinic)
        .prefetch_related("groups", "staff__clinics")
        .order_by("last_name", "first_name", "username")
        .distinct()
    )


def start_review(
    *,
    clinic: Clinic,
    actor: User | None,
    trigger: str = AccessReview.Trigger.ON_DEMAND,
    now: datetime | None = None,
) -> AccessReview:
    """Snapshot `clinic`'s active users into a new review.

    The quarterly one is made once per clinic and quarter: a second run (beat firing twice, a
    retried task) returns the first. On demand, a clinic has one open review at a time: asking
    again (a double click, a colleague) while one is open returns that one.
    """
    now = now or timezone.now()
    local_day = timezone.localtime(now, clinic.tz).date()
    period = quarter_of(local_day) if trigger == AccessReview.Trigger.QUARTERLY else ""
    if period:
        existing = AccessReview.objects.filter(clinic=clinic, period=period).first()
        if existing is not None:
            return existing
    days = dormant_days()
    try:
        with transaction.atomic():
            if not period:
                # Requests for the same clinic queue here, so the check below sees the review
                # an earlier one made.
                Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
                open_review = AccessReview.objects.filter(
                    clinic=clinic, completed_at__isnull=True
                ).first()
                if open_review is not None:
                    return open_review
            users = list(active_users(clinic))
            actions = privileged_actions([u.pk for u in users], now - timedelta(days=92))
            review = AccessReview.objects.create(
                clinic=clinic,
                period=period,
                trigger=trigger,
                created_at=now,
                created_by=actor,
                dormant_days=days,
            )
            AccessReviewLine.objects.bulk_create(
                AccessReviewLine(
                    review=review,
                    user=user,
                    roles=sorted(g.name for g in user.groups.all() if g.name in roles.ALL_ROLES),
                    clinics=sorted(c.name for c in user.staff.clinics.all()),
                    last_login=user.last_login,
                    privileged_actions=actions.get(user.pk, {}),
                    dormant=(user.last_login or user.date_joined) < now - timedelta(days=days),
                )
                for user in users
            )
            audit.record(
                actor=actor,
                action=AuditEvent.Action.CREATE,
                obj=review,
                clinic=clinic,
                summary=f"Access review started ({review.get_trigger_display()}): "
                f"{len(users)} active users",
            )
    except IntegrityError:
        # The same quarter's review made concurrently: keep the one that won.
        return AccessReview.objects.get(clinic=clinic, period=period)
    return review


def reviews_for(clinic: Clinic) -> QuerySet[AccessReview]:
    return AccessReview.objects.filter(clinic=clinic)


def visible_review(user: User, review_id: int) -> QuerySet[AccessReview]:
    return AccessReview.objects.filter(pk=review_id, clinic_id__in=user.clinic_ids)


@dataclass(frozen=True)
class Decided:
    line: AccessReviewLine
    sessions_ended: int
    changed: bool


def end_sessions(user_id: int) -> int:
    """Delete every unexpired session of `user_id`; returns how many. Their next request has no
    session, so it is an anonymous one and is sent to the login page."""
    keys = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(session.get_decoded().get(SESSION_KEY)) == str(user_id)
    ]
    if keys:
        Session.objects.filter(session_key__in=keys).delete()
    return len(keys)


def decide(*, actor: User, line: AccessReviewLine, decision: str, note: str = "") -> Decided:
    """Confirm or revoke one line. Revoking removes the review's clinic from the user (their
    last clinic: the account is deactivated too) and ends all their sessions at once."""
    decision = AccessReviewLine.Decision(decision).value
    with transaction.atomic():
        locked = (
            AccessReviewLine.objects.select_for_update()
            .select_related("review__clinic", "user")
            .get(pk=line.pk)
        )
        if locked.decision == decision:
            return Decided(locked, 0, changed=False)  # the same request sent twice
        if locked.decision == AccessReviewLine.Decision.REVOKED:
            raise PermissionDenied("This access was revoked; grant it again in the admin.")
        user, clinic = locked.user, locked.review.clinic
        if decision == AccessReviewLine.Decision.REVOKED:
            if user.pk == actor.pk:
                raise PermissionDenied("You cannot revoke your own access.")
            if user.is_superuser:
                raise PermissionDenied("Only a superuser may change a superuser's account.")
        before = locked.decision
        locked.decision = decision
        locked.note = note.strip()[:300]
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.save(update_fields=["decision", "note", "decided_by", "decided_at"])
        changes: dict[str, list[object]] = {"decision": [before, decision]}
        if decision == AccessReviewLine.Decision.REVOKED:
            staff = Staff.objects.filter(user=user).first()
            if staff is not None:
                old = sorted(staff.clinics.values_list("pk", flat=True))
                staff.clinics.remove(clinic)
                changes["clinics"] = [old, sorted(staff.clinics.values_list("pk", flat=True))]
                if not changes["clinics"][1]:
                    User.objects.filter(pk=user.pk).update(is_active=False)
                    changes["is_active"] = [True, False]
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=user,
            object_type="core.user",
            clinic=clinic,
            summary=f"Access review {locked.review_id}: {user.get_username()} "
            f"{locked.get_decision_display().lower()} at {clinic.name}",
            changes=changes,
        )
        ended = end_sessions(user.pk) if decision == AccessReviewLine.Decision.REVOKED else 0
        review = locked.review
        if not review.lines.filter(decision=AccessReviewLine.Decision.PENDING).exists():
            AccessReview.objects.filter(pk=review.pk, completed_at__isnull=True).update(
                completed_at=timezone.now()
            )
    return Decided(locked, ended, changed=True)
