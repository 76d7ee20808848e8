"""The same incident request sent at once from several threads: one change, the rest replays.

Real threads against Postgres (transaction=True), repeated to catch a race: the row lock in
`incidents._begin` and the unique submission keys are what make a double click harmless."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from compliance import incidents
from compliance.models import Incident

from .incident_helpers import report

THREADS = 4
ROUNDS = 5


def at_once(call: Callable[[], Any]) -> list[Any]:
    """Run `call` in THREADS threads released together; their results (or exceptions)."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(call())
        except Exception as error:  # the test inspects what each thread got
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_a_close_sent_several_times_at_once_closes_once(
    clinic: Clinic, make_user: Callable[..., User]
) -> None:
    officer = make_user(roles.COMPLIANCE, username="officer")
    for _ in range(ROUNDS):
        incident = report(officer, clinic)

        results = at_once(
            lambda incident=incident: incidents.close_incident(
                actor=officer, incident=incident.pk, reason="Duplicate", expected="reported"
            )
        )

        assert all(isinstance(r, incidents.Outcome) for r in results), results
        assert sorted(r.replayed for r in results) == [False, True, True, True]
        closings = AuditEvent.objects.filter(
            object_type="compliance.incident",
            object_id=str(incident.pk),
            summary__contains="closed",
        )
        assert closings.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_report_sent_several_times_at_once_stores_one(
    clinic: Clinic, make_user: Callable[..., User]
) -> None:
    officer = make_user(roles.COMPLIANCE, username="officer")
    for round_ in range(ROUNDS):
        key = f"same-key-{round_}"

        results = at_once(
            lambda key=key: incidents.report_incident(
                actor=officer,
                clinic=clinic,
                kind="incident",
                title="Needle-stick",
                description="During disposal",
                location="Exam 3",
                occurred_at=timezone.now() - timedelta(minutes=5),
                category="workplace",
                harm="mild",
                submission_key=key,
            )
        )

        assert all(isinstance(r, incidents.Outcome) for r in results), results
        assert len({r.obj.pk for r in results}) == 1
        assert Incident.objects.filter(submission_key=key).count() == 1
