"""Concurrent punches with real threads and real transactions: a double tap or a retry (the same
request key) records one punch, and two different taps to clock in at once record one clock-in."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from clinicops.core.models import Clinic, Staff, User
from workforce.models import Punch, RosterRole
from workforce.services import timeclock
from workforce.services.timeclock import PunchError

from .conftest import person

THREADS = 6


def race(target: Callable[[int], object]) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(THREADS)
    results: list[object] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results.append(target(i))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.fixture
def nurse(clinic: Clinic) -> Staff:
    staff = person(clinic, "Nolan", RosterRole.NURSE, first="Nia", username="nia")
    timeclock.set_pin(actor=None, staff=staff, pin="4321")
    return staff


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(5))
def test_the_same_request_key_from_six_threads_records_one_punch(
    clinic: Clinic, nurse: Staff, round_: int
) -> None:
    key = uuid.uuid4()

    def tap(_: int) -> tuple[int, bool]:
        row, new = timeclock.punch(
            actor=None, staff=nurse, clinic=clinic, kind="in", request_key=key, source="kiosk"
        )
        return row.pk, new

    results, errors = race(tap)
    assert errors == []
    assert Punch.objects.count() == 1
    ids = {pk for pk, _ in results}  # type: ignore[misc]
    assert ids == {Punch.objects.get().pk}
    assert sum(1 for _, new in results if new) == 1  # type: ignore[misc]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(5))
def test_six_different_clock_ins_at_once_record_one(
    clinic: Clinic, nurse: Staff, round_: int
) -> None:
    def tap(_: int) -> int:
        row, _new = timeclock.punch(
            actor=None,
            staff=nurse,
            clinic=clinic,
            kind="in",
            request_key=uuid.uuid4(),
            source="kiosk",
        )
        return row.pk

    results, errors = race(tap)
    assert len(results) == 1
    assert len(errors) == THREADS - 1
    assert all(isinstance(e, PunchError) and "already clocked in" in str(e) for e in errors)
    assert Punch.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_kiosk_double_tap_through_http_records_one_punch(
    clinic: Clinic, manager: User, nurse: Staff, round_: int
) -> None:
    key = str(uuid.uuid4())

    def tap(_: int) -> int:
        c = Client()
        c.force_login(manager)
        answer = c.post(
            "/roster/kiosk/punch/",
            {"staff": nurse.pk, "pin": "4321", "kind": "in", "request_key": key},
        )
        return answer.status_code

    results, errors = race(tap)
    assert errors == []
    assert results == [200] * THREADS
    assert Punch.objects.count() == 1
