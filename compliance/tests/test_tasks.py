"""The scheduled chain check: log and mail the compliance officers once per break."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core import mail
from django.core.cache import cache
from pytest_django.fixtures import Settings

from clinicops.audit import audit, sealer, services, tasks
from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import User

from .conftest import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def officers(make_user: Callable[..., User]) -> list[User]:
    return [
        make_user(roles.COMPLIANCE, username="officer1", email="officer1@example.org"),
        make_user(roles.COMPLIANCE, username="officer2", email="officer2@example.org"),
        make_user(roles.COMPLIANCE, username="noemail", email=""),
        make_user(roles.COMPLIANCE, username="gone", email="gone@example.org", is_active=False),
        make_user(roles.FRONT_DESK, username="desk", email="desk@example.org"),
    ]


def record_some(count: int) -> None:
    for n in range(count):
        audit.record(actor="test", action=AuditEvent.Action.VIEW, summary=f"event {n}")
    sealer.seal_pending()


def test_an_intact_chain_sends_nothing_and_remembers_its_head(officers: list[User]) -> None:
    record_some(3)
    assert tasks.verify_audit_chain.apply().get() == {"checked": 3, "broken_at": None}
    assert mail.outbox == []
    assert services.load_chain_anchor() == audit.ChainAnchor(3, AuditEvent.objects.get(seq=3).hash)


def test_a_break_is_logged_and_mailed_to_active_compliance_officers_once(
    officers: list[User], caplog: pytest.LogCaptureFixture
) -> None:
    # given a tampered chain
    record_some(4)
    tamper("UPDATE compliance_auditevent SET summary = 'x' WHERE seq = 3")
    # when the task runs, then is retried or runs again at the next hour
    first = tasks.verify_audit_chain.apply().get()
    tasks.verify_audit_chain.apply().get()
    tasks.verify_audit_chain.apply().get()
    # then every run logs the break, but the officers get one mail
    assert first == {"checked": 2, "broken_at": 3}
    assert [r.levelname for r in caplog.records if "Audit chain broken" in r.message] == [
        "ERROR"
    ] * 3
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["officer1@example.org", "officer2@example.org"]
    assert "#3" in message.subject
    assert "altered" in message.body


def test_a_new_break_is_mailed_again(officers: list[User]) -> None:
    record_some(5)
    tamper("UPDATE compliance_auditevent SET summary = 'x' WHERE seq = 4")
    services.check_audit_chain()
    tamper("UPDATE compliance_auditevent SET summary = 'y' WHERE seq = 2")
    services.check_audit_chain()
    assert [m.subject.rsplit("#", 1)[1] for m in mail.outbox] == ["4", "2"]


def test_a_failed_mail_is_not_marked_as_sent(
    officers: list[User], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An SMTP outage must not swallow the alert: the retry has to send it.
    record_some(2)
    tamper("UPDATE compliance_auditevent SET summary = 'x' WHERE seq = 1")

    def refuse(*args: object, **kwargs: object) -> int:
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with pytest.raises(ConnectionRefusedError):
        services.check_audit_chain()
    assert cache.get(services.REPORTED_CACHE_KEY) is None
    monkeypatch.undo()
    services.check_audit_chain()
    assert len(mail.outbox) == 1


def test_a_removed_tail_is_caught_by_the_next_scheduled_run(officers: list[User]) -> None:
    record_some(5)
    services.check_audit_chain()
    tamper("DELETE FROM compliance_auditevent WHERE seq >= 4")
    result = services.check_audit_chain()
    assert result.broken is not None
    assert result.broken.seq == 5
    assert len(mail.outbox) == 1
    assert "removed" in mail.outbox[0].body


def test_the_task_is_in_the_beat_schedule(settings: Settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["verify-audit-chain"]
    assert entry["task"] == tasks.verify_audit_chain.name == "compliance.tasks.verify_audit_chain"
