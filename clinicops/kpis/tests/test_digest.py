"""The weekly digest: Monday 07:00 clinic time, the clinic's managers, each week sent once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import connection

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import ClinicFactory
from clinicops.kpis import digest, registry, tasks
from clinicops.kpis.models import SentDigest
from clinicops.kpis.registry import Metric

from .boards import MONDAY, SUNDAY, choose, dashboard_catalogue, fill_week, roll
from .conftest import Source

pytestmark = pytest.mark.django_db

CHOSEN = ["no_show_rate", "clean_claim_rate", "door_to_provider_min", "template_utilization"]


@pytest.fixture
def board_metrics(source: Source) -> Iterator[list[Metric]]:
    metrics = dashboard_catalogue(source)
    with registry.swapped(metrics):
        yield metrics


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager", email="manager@example.org")


@pytest.fixture
def week(clinic: Clinic, manager: User, source: Source, board_metrics: list[Metric]) -> date:
    choose(clinic, manager, CHOSEN, door_to_provider_min=(20, 25))
    fill_week(source, clinic)
    roll(clinic, MONDAY - timedelta(weeks=1), SUNDAY)
    return MONDAY


def test_the_digest_goes_to_the_clinics_managers_with_the_tiles_and_the_alerts(
    clinic: Clinic,
    other_clinic: Clinic,
    manager: User,
    make_user: Callable[..., User],
    week: date,
) -> None:
    make_user(roles.MANAGER, email="second@example.org")
    make_user(roles.MANAGER, email="gone@example.org", is_active=False)
    make_user(roles.MANAGER, email="")  # no address: nobody to send to
    make_user(roles.NURSE, email="nurse@example.org")
    make_user(roles.MANAGER, clinics=[other_clinic], email="elsewhere@example.org")

    sent = digest.send_weekly_digest(clinic_id=clinic.pk, week_start=week)

    assert sent is not None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["manager@example.org", "second@example.org"]
    assert message.subject == "Riverside Family Clinic: week of 02 Feb 2026, 1 metric in alert"
    body = message.body
    assert "Past the alert threshold:\n- Door-to-provider (median): 45 min (alert ≥ 25 min" in body
    assert "No-show rate\n  This week: 5.0 % (5 of 100)\n  Last week: no data\n" in body
    assert "Template utilization\n  This week: no data\n" in body
    assert f"http://localhost:8000/kpis/{clinic.pk}/?week=2026-02-02" in body
    html = message.alternatives[0].content
    assert "<strong>Door-to-provider (median): 45 min</strong>" in html
    assert sent.recipients == ["manager@example.org", "second@example.org"]
    audited = AuditEvent.objects.filter(object_type="kpis.sentdigest", clinic_id=clinic.pk)
    assert audited.count() == 1


def test_a_retry_or_a_duplicate_task_sends_nothing_twice(clinic: Clinic, week: date) -> None:
    first = digest.send_weekly_digest(clinic_id=clinic.pk, week_start=week)
    again = digest.send_weekly_digest(clinic_id=clinic.pk, week_start=week + timedelta(days=3))

    assert first is not None
    assert again is None
    assert len(mail.outbox) == 1
    assert SentDigest.objects.filter(clinic=clinic).count() == 1


def test_a_failed_send_records_nothing_so_the_retry_sends_it(
    clinic: Clinic, week: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: EmailMultiAlternatives, fail_silently: bool = False) -> int:
        raise OSError("SMTP server went away")

    with monkeypatch.context() as patch:
        patch.setattr(EmailMultiAlternatives, "send", refuse)
        with pytest.raises(OSError, match="SMTP server went away"):
            tasks.send_weekly_digest.run(clinic.pk, week.isoformat())
    assert not SentDigest.objects.exists()
    assert not AuditEvent.objects.filter(object_type="kpis.sentdigest").exists()

    assert tasks.send_weekly_digest.run(clinic.pk, week.isoformat()) is True
    assert len(mail.outbox) == 1


def test_nothing_is_sent_without_chosen_metrics_or_managers(
    clinic: Clinic, make_user: Callable[..., User], board_metrics: list[Metric]
) -> None:
    assert digest.send_weekly_digest(clinic_id=clinic.pk, week_start=MONDAY) is None
    unreachable = make_user(roles.MANAGER, email="")
    choose(clinic, unreachable, CHOSEN[:3])
    assert digest.send_weekly_digest(clinic_id=clinic.pk, week_start=MONDAY) is None
    assert mail.outbox == []
    assert not SentDigest.objects.exists()


def test_the_week_reported_on_monday_is_the_week_that_ended_yesterday() -> None:
    assert digest.digest_week(date(2026, 2, 9)) == MONDAY
    assert digest.digest_week(date(2026, 2, 11)) == MONDAY


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(tasks.send_weekly_digest, "delay", lambda *args: calls.append(args))
    return calls


def test_the_dispatcher_enqueues_each_clinic_at_monday_seven_local_time(
    enqueued: list[tuple[int, str]],
) -> None:
    new_york = ClinicFactory(name="New York", time_zone="America/New_York")
    tokyo = ClinicFactory(name="Tokyo", time_zone="Asia/Tokyo")
    # Monday 9 Feb 2026 07:00 in New York (EST) is 12:00 UTC; beat ticks at :10.
    ticks = [datetime(2026, 2, 8, 0, 10, tzinfo=UTC) + timedelta(hours=h) for h in range(48)]

    for tick in ticks:
        tasks.dispatch_weekly_digests(now=tick.isoformat())

    assert sorted(enqueued) == sorted([(new_york.pk, "2026-02-02"), (tokyo.pk, "2026-02-02")])
    # Tokyo's Monday 07:00 (UTC+9) is Sunday 22:00 UTC, New York's Monday 12:00 UTC.
    enqueued.clear()
    tasks.dispatch_weekly_digests(now="2026-02-08T22:10:00+00:00")
    assert enqueued == [(tokyo.pk, "2026-02-02")]
    enqueued.clear()
    tasks.dispatch_weekly_digests(now="2026-02-09T12:10:00+00:00")
    assert enqueued == [(new_york.pk, "2026-02-02")]


def test_the_dispatcher_follows_summer_time(enqueued: list[tuple[int, str]]) -> None:
    new_york = ClinicFactory(name="New York", time_zone="America/New_York")

    tasks.dispatch_weekly_digests(now="2026-07-13T12:10:00+00:00")  # 08:10 EDT: too late
    tasks.dispatch_weekly_digests(now="2026-07-13T11:10:00+00:00")  # 07:10 EDT

    assert enqueued == [(new_york.pk, "2026-07-06")]


def test_the_digest_dispatch_is_on_the_beat_schedule(settings: object) -> None:
    from django.conf import settings as django_settings

    entry = django_settings.CELERY_BEAT_SCHEDULE["kpis-weekly-digest-dispatch"]
    assert entry["task"] == "clinicops.kpis.tasks.dispatch_weekly_digests"
    assert django_settings.KPI_DIGEST_LOCAL_HOUR == 7


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_week_at_once_send_one_email(
    make_user: Callable[..., User], source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic = ClinicFactory(name="Concurrent Clinic")
    manager = make_user(roles.MANAGER, clinics=[clinic], email="m@example.org")
    original = EmailMultiAlternatives.send

    def slow_send(self: EmailMultiAlternatives, fail_silently: bool = False) -> int:
        time.sleep(0.3)  # both workers are past their "already sent?" check by now
        return original(self, fail_silently=fail_silently)

    monkeypatch.setattr(EmailMultiAlternatives, "send", slow_send)
    with registry.swapped(dashboard_catalogue(source)):
        choose(clinic, manager, CHOSEN)
        fill_week(source, clinic)
        roll(clinic, MONDAY, SUNDAY)
        barrier = threading.Barrier(4)
        results: list[object] = []
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                barrier.wait()
                results.append(digest.send_weekly_digest(clinic_id=clinic.pk, week_start=MONDAY))
            except BaseException as error:
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    assert sum(1 for r in results if r is not None) == 1
    assert len(mail.outbox) == 1
    assert SentDigest.objects.filter(clinic=clinic).count() == 1
