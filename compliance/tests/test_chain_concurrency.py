"""Many writers at once still make one unbroken chain (real threads, real Postgres)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent

THREADS = 20
WRITES_PER_THREAD = 10
ROUNDS = 3


def _writer(barrier: threading.Barrier, thread_no: int, errors: list[BaseException]) -> None:
    try:
        barrier.wait()
        for n in range(WRITES_PER_THREAD):
            # Half the writes share a transaction with other work, as services do.
            with transaction.atomic():
                if n % 2:
                    AuditEvent.objects.exists()
                audit.record(
                    actor=f"thread-{thread_no}",
                    action=AuditEvent.Action.VIEW,
                    summary=f"write {n}",
                )
    except BaseException as exc:  # reported to the test below
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain() -> None:
    for round_no in range(1, ROUNDS + 1):
        # given twenty threads released at the same instant
        barrier = threading.Barrier(THREADS)
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=_writer, args=(barrier, n, errors)) for n in range(THREADS)
        ]
        # when each appends ten events
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # then none failed, nothing was lost, and the chain verifies with no gap or fork
        assert errors == []
        expected = round_no * THREADS * WRITES_PER_THREAD
        seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, expected + 1))
        result = audit.verify_chain()
        assert (result.checked, result.broken) == (expected, None)
        assert AuditEvent.objects.values("prev_hash").distinct().count() == expected
