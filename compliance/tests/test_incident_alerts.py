"""Overdue corrective actions: alerted once per action and overdue spell, to the owner and the
clinic's compliance officers; dispatched at the clinic's local morning, DST days included."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import ClinicFactory, StaffFactory
from compliance import incident_tasks, incidents
from compliance.models import CorrectiveAction

from .incident_helpers import add, triaged

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user(roles.COMPLIANCE, username="officer", email="officer@example.com")


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user(roles.NURSE, username="owner", email="owner@example.com")


def overdue_action(officer: User, owner: User, clinic: Clinic) -> CorrectiveAction:
    incident = triaged(officer, clinic)
    action = add(officer, incident, owner)
    return action


def test_an_overdue_action_is_alerted_once_to_its_owner_and_the_officers(
    officer: User, owner: User, clinic: Clinic, other_clinic: Clinic
) -> None:
    # an officer of another clinic is not told
    StaffFactory(roles=[roles.COMPLIANCE], clinics=[other_clinic], user__email="far@example.com")
    action = overdue_action(officer, owner, clinic)
    not_yet = action.due_date  # due today: not overdue
    assert incidents.alert_overdue_actions(clinic=clinic, today=not_yet) == 0

    sent = incidents.alert_overdue_actions(clinic=clinic, today=not_yet + timedelta(days=1))
    again = incidents.alert_overdue_actions(clinic=clinic, today=not_yet + timedelta(days=2))

    assert (sent, again) == (1, 0)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["officer@example.com", "owner@example.com"]
    assert "overdue by 1 day (incident" in message.subject
    assert (
        AuditEvent.objects.filter(
            object_type="compliance.correctiveaction", summary__contains="overdue alert sent"
        ).count()
        == 1
    )


def test_a_new_overdue_spell_is_alerted_again(officer: User, owner: User, clinic: Clinic) -> None:
    action = overdue_action(officer, owner, clinic)
    late = action.due_date + timedelta(days=1)
    assert incidents.alert_overdue_actions(clinic=clinic, today=late) == 1
    # done, found not effective, given a new due date: a new spell once that passes too
    incidents.complete_action(actor=owner, action=action, note="Done")
    new_due = action.incident.clinic.today() + timedelta(days=3)
    incidents.verify_action(
        actor=officer, action=action, effective=False, note="Still happening", new_due_date=new_due
    )
    assert incidents.alert_overdue_actions(clinic=clinic, today=new_due) == 0
    assert incidents.alert_overdue_actions(clinic=clinic, today=new_due + timedelta(days=1)) == 1
    assert len(mail.outbox) == 2


def test_done_cancelled_and_closed_incident_actions_are_not_alerted(
    officer: User, owner: User, clinic: Clinic
) -> None:
    done = overdue_action(officer, owner, clinic)
    incidents.complete_action(actor=owner, action=done, note="Done")
    cancelled = overdue_action(officer, owner, clinic)
    incidents.cancel_action(actor=officer, action=cancelled, reason="Replaced")
    closed = overdue_action(officer, owner, clinic)
    incidents.close_incident(actor=officer, incident=closed.incident, reason="Duplicate")

    later = clinic.today() + timedelta(days=30)
    assert incidents.alert_overdue_actions(clinic=clinic, today=later) == 0
    assert mail.outbox == []


def test_a_failed_send_is_retried_and_sent_once(
    officer: User, owner: User, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = overdue_action(officer, owner, clinic)
    late = action.due_date + timedelta(days=1)
    from django.core.mail import EmailMessage

    original = EmailMessage.send

    def refuse(self: EmailMessage, fail_silently: bool = False) -> int:
        raise OSError("SMTP down")

    monkeypatch.setattr(EmailMessage, "send", refuse)
    with pytest.raises(OSError, match="SMTP down"):
        incidents.alert_overdue_actions(clinic=clinic, today=late)
    action.refresh_from_db()
    assert action.overdue_alerted_at is None  # the claim rolled back with the failed send

    monkeypatch.setattr(EmailMessage, "send", original)
    assert incidents.alert_overdue_actions(clinic=clinic, today=late) == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_alert_each_action_once(
    clinic: Clinic, make_user: Callable[..., User]
) -> None:
    officer = make_user(roles.COMPLIANCE, username="officer", email="officer@example.com")
    owner = make_user(roles.NURSE, username="owner", email="owner@example.com")
    actions = [overdue_action(officer, owner, clinic) for _ in range(3)]
    late = max(a.due_date for a in actions) + timedelta(days=1)

    for _round in range(5):
        CorrectiveAction.objects.update(overdue_alerted_at=None)
        mail.outbox.clear()
        barrier = threading.Barrier(4)
        results: list[int] = []

        def run(barrier: threading.Barrier = barrier, results: list[int] = results) -> None:
            try:
                barrier.wait()
                results.append(incidents.alert_overdue_actions(clinic=clinic, today=late))
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert sum(results) == 3
        assert len(mail.outbox) == 3


def test_the_dispatcher_enqueues_each_clinic_at_its_local_morning(
    monkeypatch: pytest.MonkeyPatch, settings: object
) -> None:
    clinic = ClinicFactory(name="NY", time_zone="America/New_York")
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(incident_tasks.alert_overdue, "delay", lambda *a: sent.append(a))
    # 07:00 EST is 12:00 UTC in winter; the tick at 12:20 covers 11:00-12:00... 12:00 is in it
    assert incident_tasks.dispatch_overdue_alerts(now="2026-12-07T12:20:00+00:00") >= 1
    assert (clinic.pk, "2026-12-07") in sent


@pytest.mark.parametrize("change", [date(2026, 3, 8), date(2026, 11, 1)], ids=str)
def test_each_clinic_is_due_once_a_day_around_a_dst_change(change: date) -> None:
    zones = ["America/New_York", "America/Chicago", "Europe/London", "Australia/Sydney"]
    clinics = [ClinicFactory(name=z, time_zone=z) for z in zones]
    start = datetime(change.year, change.month, change.day, 0, 20, tzinfo=UTC) - timedelta(days=3)
    ticks = [start + timedelta(hours=h) for h in range(24 * 7)]

    runs = Counter(run for now in ticks for run in incident_tasks.clinics_due(now, 7))

    for clinic in clinics:
        days = sorted(day for (pk, day) in runs if pk == clinic.pk)
        assert all(runs[clinic.pk, day] == 1 for day in days), clinic.time_zone
        inner = days[1:-1]
        assert inner == [inner[0] + timedelta(days=i) for i in range(len(inner))], clinic.time_zone
    ny = next(c for c in clinics if c.time_zone == "America/New_York")
    assert (ny.pk, change) in runs  # the morning of the change itself


def test_the_dispatch_is_on_the_beat_schedule() -> None:
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["incident-overdue-dispatch"]
    assert entry["task"] == incident_tasks.dispatch_overdue_alerts.name
    assert entry["schedule"].minute == {20}
