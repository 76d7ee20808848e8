"""Access review: the snapshot per clinic, dormant accounts, confirm / revoke line by line,
revocation ending the user's sessions at once, and the quarterly task (DST-proof, once)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from compliance import access_review, tasks
from compliance.models import AccessReview, AccessReviewLine

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-2026"
LIST = reverse("compliance:access_reviews")


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager")


@pytest.fixture
def nurse(make_user: Callable[..., User], clinic: Clinic, other_clinic: Clinic) -> User:
    user = make_user(roles.NURSE, username="nurse", clinics=[clinic, other_clinic])
    user.set_password(PASSWORD)
    user.last_login = timezone.now() - timedelta(days=2)
    user.save()
    return user


def line_of(review: AccessReview, user: User) -> AccessReviewLine:
    return review.lines.get(user=user)


def test_the_review_lists_active_users_with_roles_clinics_logins_and_privileged_actions(
    make_user: Callable[..., User], manager: User, nurse: User, clinic: Clinic
) -> None:
    old = make_user(roles.BILLER, username="old-biller")
    old.last_login = timezone.now() - timedelta(days=200)
    old.save()
    never = make_user(roles.FRONT_DESK, username="never")
    User.objects.filter(pk=never.pk).update(date_joined=timezone.now() - timedelta(days=100))
    gone = make_user(roles.NURSE, username="gone")
    User.objects.filter(pk=gone.pk).update(is_active=False)
    elsewhere = make_user(roles.NURSE, username="elsewhere", clinics=[])
    audit.record(actor=nurse, action=AuditEvent.Action.EXPORT, object_type="x", summary="csv")
    audit.record(actor=nurse, action=AuditEvent.Action.EXPORT, object_type="x", summary="csv")
    audit.record(actor=nurse, action=AuditEvent.Action.VIEW, object_type="x", summary="read")

    review = access_review.start_review(clinic=clinic, actor=manager)
    users = set(review.lines.values_list("user__username", flat=True))
    assert users == {"manager", "nurse", "old-biller", "never"}
    assert gone.username not in users
    assert elsewhere.username not in users
    line = line_of(review, nurse)
    assert line.roles == [roles.NURSE]
    assert line.clinics == sorted(["Riverside Family Clinic", "Hillcrest Clinic"])
    assert line.privileged_actions == {"Exported or printed": 2}
    assert not line.dormant
    assert line_of(review, old).dormant
    assert line_of(review, never).dormant  # never logged in, joined 100 days ago
    assert review.dormant_days == 90


def test_revoking_ends_the_users_sessions_at_once(
    client: Client, manager: User, nurse: User, clinic: Clinic, other_clinic: Clinic
) -> None:
    # Real logins through the login page (sessions stored as the app stores them).
    nurse_client, second_device = Client(), Client()
    for device in (nurse_client, second_device):
        response = device.post(reverse("login"), {"username": "nurse", "password": PASSWORD})
        assert response.status_code == 302
    home = reverse("home")
    assert nurse_client.get(home).status_code == 200
    other_user = Client()
    other_user.force_login(manager)
    review = access_review.start_review(clinic=clinic, actor=manager)
    line = line_of(review, nurse)

    client.force_login(manager)
    url = reverse("compliance:access_review_detail", args=[review.pk])
    response = client.post(url, {"line": line.pk, "decision": "revoked", "note": "Left"})
    assert response.status_code == 302
    message = next(str(m) for m in response.wsgi_request._messages)  # type: ignore[attr-defined]
    assert "revoked; 2 session(s) ended" in message

    for device in (nurse_client, second_device):
        after = device.get(home)
        assert after.status_code == 302
        assert after["Location"].startswith(reverse("login"))
    assert other_user.get(home).status_code == 200  # nobody else was logged out
    nurse.refresh_from_db()
    assert list(nurse.staff.clinics.all()) == [other_clinic]  # still works at the other clinic
    assert nurse.is_active
    stored = line_of(review, nurse)
    assert (stored.decision, stored.decided_by, stored.note) == ("revoked", manager, "Left")
    event = AuditEvent.objects.filter(
        object_type="core.user", object_id=str(nurse.pk), summary__startswith="Access review"
    ).get()
    assert event.changes["clinics"] == [sorted([clinic.pk, other_clinic.pk]), [other_clinic.pk]]
    # The same request again changes nothing and ends nothing.
    again = client.post(url, {"line": line.pk, "decision": "revoked"})
    assert again.status_code == 302
    assert (
        AuditEvent.objects.filter(
            object_type="core.user", object_id=str(nurse.pk), summary__startswith="Access review"
        ).count()
        == 1
    )


def test_revoking_the_last_clinic_deactivates_the_account(
    make_user: Callable[..., User], manager: User, clinic: Clinic
) -> None:
    solo = make_user(roles.FRONT_DESK, username="solo")
    review = access_review.start_review(clinic=clinic, actor=manager)
    done = access_review.decide(actor=manager, line=line_of(review, solo), decision="revoked")
    assert done.changed
    solo.refresh_from_db()
    assert not solo.is_active
    assert not Session.objects.exists() or done.sessions_ended == 0


def test_confirming_every_line_completes_the_review(
    manager: User, nurse: User, clinic: Clinic
) -> None:
    review = access_review.start_review(clinic=clinic, actor=manager)
    access_review.decide(actor=manager, line=line_of(review, nurse), decision="confirmed")
    review.refresh_from_db()
    assert review.completed_at is None
    with pytest.raises(Exception, match="your own access"):
        access_review.decide(actor=manager, line=line_of(review, manager), decision="revoked")
    access_review.decide(actor=manager, line=line_of(review, manager), decision="confirmed")
    review.refresh_from_db()
    assert review.completed_at is not None


def test_a_bad_line_is_refused_and_changes_nothing(
    client: Client, manager: User, nurse: User, clinic: Clinic, other_clinic: Clinic
) -> None:
    review = access_review.start_review(clinic=clinic, actor=manager)
    other_review = access_review.start_review(clinic=other_clinic, actor=None)
    foreign = other_review.lines.first()
    assert foreign is not None
    client.force_login(manager)
    url = reverse("compliance:access_review_detail", args=[review.pk])
    for data in ({"line": foreign.pk, "decision": "revoked"}, {"line": "x"}, {}):
        response = client.post(url, data)
        assert response.status_code == 400
        assert b"That line is not part of this review" in response.content
    assert not AccessReviewLine.objects.exclude(decision="pending").exists()


def test_another_clinics_review_is_a_404_and_others_may_not_decide(
    client: Client, make_user: Callable[..., User], other_clinic: Clinic, clinic: Clinic
) -> None:
    officer_user = make_user(roles.COMPLIANCE, username="c2", clinics=[other_clinic])
    review = access_review.start_review(clinic=other_clinic, actor=None)
    client.force_login(make_user(roles.MANAGER, username="m2"))
    assert (
        client.get(reverse("compliance:access_review_detail", args=[review.pk])).status_code == 404
    )
    officer = Client()
    officer.force_login(officer_user)
    url = reverse("compliance:access_review_detail", args=[review.pk])
    assert officer.get(url).status_code == 200  # reads it
    line = review.lines.first()
    assert line is not None
    assert officer.post(url, {"line": line.pk, "decision": "revoked"}).status_code == 403


def test_a_manager_starts_one_on_demand(client: Client, manager: User, nurse: User) -> None:
    client.force_login(manager)
    response = client.post(LIST)
    review = AccessReview.objects.get()
    assert response["Location"] == reverse("compliance:access_review_detail", args=[review.pk])
    assert review.trigger == "on_demand"
    assert review.created_by == manager
    assert b"#%d" % review.pk in client.get(LIST).content


def test_asking_twice_returns_the_open_review(
    client: Client, manager: User, nurse: User, clinic: Clinic
) -> None:
    client.force_login(manager)
    client.post(LIST)
    again = client.post(LIST, follow=True)
    review = AccessReview.objects.get()
    assert b"is still in progress: finish it first" in again.content
    for line in review.lines.all():
        if line.user != manager:
            access_review.decide(actor=manager, line=line, decision="confirmed")
    access_review.decide(actor=manager, line=line_of(review, manager), decision="confirmed")
    client.post(LIST)  # the first is complete: a new one starts
    assert AccessReview.objects.count() == 2


@pytest.mark.parametrize(
    "now",
    [
        # New York's quarter starts at 05:00 UTC on Jan 1; DST days need no special case since
        # the rule reads the local date.
        datetime(2026, 10, 1, 3, 59, tzinfo=UTC),  # still 30 Sep in New York
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),  # spring-forward night
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),  # fall-back night
    ],
)
def test_the_quarterly_task_makes_one_review_per_clinic_and_quarter(
    clinic: Clinic, manager: User, now: datetime
) -> None:
    clinic.time_zone = "America/New_York"
    clinic.save()
    assert [c.pk for c in tasks.quarterly_reviews_due(now)] == [clinic.pk]
    review = access_review.start_review(
        clinic=clinic, actor=None, trigger=AccessReview.Trigger.QUARTERLY, now=now
    )
    local = timezone.localtime(now, clinic.tz).date()
    assert review.period == access_review.quarter_of(local)
    assert tasks.quarterly_reviews_due(now) == []
    again = access_review.start_review(
        clinic=clinic, actor=None, trigger=AccessReview.Trigger.QUARTERLY, now=now
    )
    assert again.pk == review.pk


def test_the_quarter_turns_at_local_midnight(clinic: Clinic) -> None:
    clinic.time_zone = "America/New_York"
    clinic.save()
    tasks.start_quarterly_access_reviews.run()  # today's quarter
    before = datetime(2026, 10, 1, 3, 59, tzinfo=UTC)  # 23:59 on 30 Sep in New York
    after = datetime(2026, 10, 1, 4, 0, tzinfo=UTC)  # 00:00 on 1 Oct
    assert access_review.quarter_of(timezone.localtime(before, clinic.tz).date()) == "2026-Q3"
    assert access_review.quarter_of(timezone.localtime(after, clinic.tz).date()) == "2026-Q4"
