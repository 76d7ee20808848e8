"""The same request sent at once from several threads (real Postgres transactions): one
break-glass access, one quarterly review per clinic, one decision per review line."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, StaffFactory
from compliance import access_review, breakglass
from compliance.models import AccessReview, AccessReviewLine, BreakGlassAccess

THREADS = 6
ROUNDS = 5


def at_once(work: Callable[[], Any]) -> list[BaseException]:
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            work()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_a_break_glass_sent_at_once_opens_one_access() -> None:
    roles.sync_roles()
    home, there = ClinicFactory(name="Home"), ClinicFactory(name="There")
    for n in range(ROUNDS):
        nurse = StaffFactory(roles=[roles.NURSE], clinics=[home], user__username=f"n{n}").user
        patient = PatientFactory(clinic=there)

        def ask(nurse: User = nurse, patient: Any = patient) -> None:
            breakglass.break_glass(
                user=User.objects.get(pk=nurse.pk),
                patient=patient,
                reason="emergency",
                explanation="at once",
            )

        assert at_once(ask) == []
        assert BreakGlassAccess.objects.filter(user=nurse).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_quarterly_review_started_at_once_is_made_once() -> None:
    roles.sync_roles()
    for n in range(ROUNDS):
        clinic: Clinic = ClinicFactory(name=f"Q{n}")
        StaffFactory(roles=[roles.NURSE], clinics=[clinic], user__username=f"q{n}")

        def start(clinic: Clinic = clinic) -> None:
            access_review.start_review(
                clinic=clinic, actor=None, trigger=AccessReview.Trigger.QUARTERLY
            )

        assert at_once(start) == []
        assert AccessReview.objects.filter(clinic=clinic).count() == 1
        assert AccessReviewLine.objects.filter(review__clinic=clinic).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_on_demand_review_asked_at_once_is_started_once() -> None:
    roles.sync_roles()
    for n in range(ROUNDS):
        clinic: Clinic = ClinicFactory(name=f"D{n}")
        manager = StaffFactory(roles=[roles.MANAGER], clinics=[clinic], user__username=f"d{n}")

        def start(clinic: Clinic = clinic, manager: Any = manager) -> None:
            access_review.start_review(clinic=clinic, actor=manager.user)

        assert at_once(start) == []
        assert AccessReview.objects.filter(clinic=clinic).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_revocation_sent_at_once_is_recorded_once() -> None:
    roles.sync_roles()
    clinic = ClinicFactory(name="R")
    manager = StaffFactory(roles=[roles.MANAGER], clinics=[clinic], user__username="m").user
    for n in range(ROUNDS):
        StaffFactory(roles=[roles.NURSE], clinics=[clinic], user__username=f"r{n}")
    review = access_review.start_review(clinic=clinic, actor=manager)
    for line in review.lines.exclude(user=manager):
        changed: list[bool] = []

        def revoke(line: AccessReviewLine = line, changed: list[bool] = changed) -> None:
            done = access_review.decide(actor=manager, line=line, decision="revoked")
            changed.append(done.changed)

        assert at_once(revoke) == []
        assert changed.count(True) == 1
        line.user.refresh_from_db()
        assert not line.user.is_active
