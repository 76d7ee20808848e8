"""Many writers and a running sealer still make one unbroken chain (real threads, Postgres).

Writers insert unsealed rows with no lock; transactions commit out of id order (a writer holds
its transaction open for a random while after inserting); sealers run concurrently the whole
time. At the end every row is sealed exactly once, `seq` is 1..N with no gap, every prev_hash
links, and the chain verifies. A sealer killed in the middle of a round loses and forks nothing.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time

import pytest
from django.db import connection, transaction

from clinicops.audit import audit, sealer
from clinicops.audit.models import AuditEvent

THREADS = 12
WRITES_PER_THREAD = 10
ROUNDS = 3


def _writer(
    barrier: threading.Barrier, thread_no: int, errors: list[BaseException], seed: int
) -> None:
    rng = random.Random(seed)
    try:
        barrier.wait()
        for n in range(WRITES_PER_THREAD):
            with transaction.atomic():
                audit.record(
                    actor=f"thread-{thread_no}", action=AuditEvent.Action.VIEW, summary=f"w{n}"
                )
                # Hold the transaction open after the insert, so rows with lower ids often
                # commit after rows with higher ids (and after a sealer round has passed).
                time.sleep(rng.random() * 0.02)
                if rng.random() < 0.1:
                    transaction.set_rollback(True)  # a rolled-back row never reaches the chain
    except BaseException as exc:  # reported to the test below
        errors.append(exc)
    finally:
        connection.close()


def _sealer_loop(stop: threading.Event, errors: list[BaseException], rounds: list[int]) -> None:
    try:
        while not stop.is_set():
            result = sealer.seal_pending(batch_size=7)
            rounds.append(result.sealed)
            time.sleep(0.002)
    except BaseException as exc:
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sealers_make_one_unbroken_chain() -> None:
    for round_no in range(ROUNDS):
        barrier = threading.Barrier(THREADS)
        errors: list[BaseException] = []
        stop = threading.Event()
        sealed_rounds: list[int] = []
        # two sealers at once: the advisory lock must keep them from ever forking the chain
        sealers = [
            threading.Thread(target=_sealer_loop, args=(stop, errors, sealed_rounds))
            for _ in range(2)
        ]
        writers = [
            threading.Thread(target=_writer, args=(barrier, n, errors, round_no * 100 + n))
            for n in range(THREADS)
        ]
        for thread in (*sealers, *writers):
            thread.start()
        for thread in writers:
            thread.join(timeout=60)
        stop.set()
        for thread in sealers:
            thread.join(timeout=60)
        assert errors == []
        # the sealers ran while writes were still committing (so late commits were exercised)
        assert sum(sealed_rounds) > 0
        sealer.seal_pending()  # the last beat
        total = AuditEvent.objects.count()
        assert not AuditEvent.objects.filter(seq__isnull=True).exists()
        seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, total + 1))
        result = audit.verify_chain()
        assert (result.checked, result.broken, result.unsealed) == (total, None, 0)
        assert AuditEvent.objects.values("prev_hash").distinct().count() == total
    # (Whether a lower id was sealed after a higher one here depends on timing; the next test
    # makes that case happen on purpose.)


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_row_committed_late_with_a_lower_id_is_sealed_by_the_next_round() -> None:
    early_insert = threading.Event()
    may_commit = threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                audit.record(actor="slow", action=AuditEvent.Action.VIEW)
                early_insert.set()
                may_commit.wait(10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    early_insert.wait(10)
    fast = audit.record(actor="fast", action=AuditEvent.Action.VIEW)
    assert sealer.seal_pending().sealed == 1  # the slow row is not committed: not visible
    may_commit.set()
    thread.join(10)
    assert errors == []
    assert sealer.seal_pending().sealed == 1
    chain = list(AuditEvent.objects.order_by("seq").values_list("actor_label", "id"))
    assert [label for label, _ in chain] == ["fast", "slow"]
    assert chain[1][1] < fast.pk  # the lower id, sealed second
    assert audit.verify_chain().checked == 2


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_a_sealer_killed_mid_round_loses_and_forks_nothing(attempt: int) -> None:
    for n in range(5):
        audit.record(actor="before", action=AuditEvent.Action.VIEW, summary=f"{n}")
    sealer.seal_pending()
    for n in range(8):
        audit.record(actor="pending", action=AuditEvent.Action.VIEW, summary=f"{n}")
    sealed_uncommitted = threading.Event()
    killed = threading.Event()
    pid: list[int] = []
    errors: list[BaseException] = []

    def doomed_sealer() -> None:
        # It seals its whole batch inside its transaction, then hangs before commit (as a
        # worker would if it were killed with SIGKILL): the test then kills its connection.
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [sealer.SEAL_LOCK_KEY])
                    assert cursor.fetchone()[0]
                head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first()
                assert head is not None
                pending = list(AuditEvent.objects.filter(seq__isnull=True).order_by("id"))
                seq, prev = head.seq, head.hash
                args: list[list[object]] = [[], [], [], [], []]
                for event in pending:
                    seq += 1
                    event.seq, event.key_id = seq, audit.active_key_id()
                    hash_ = audit.content_hash(
                        {f: getattr(event, f) for f in audit.CONTENT_FIELDS},
                        event.key_id,
                        prev,
                    )
                    for column, value in zip(
                        args, (event.pk, seq, prev, hash_, event.key_id), strict=True
                    ):
                        column.append(value)
                    prev = hash_
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT audit_seal_events(%s::bigint[], %s::bigint[], %s::text[], "
                        "%s::text[], %s::text[])",
                        args,
                    )
                sealed_uncommitted.set()
                killed.wait(30)
                AuditEvent.objects.exists()  # its connection is gone: this fails
        except BaseException as exc:
            errors.append(exc)
        finally:
            with contextlib.suppress(BaseException):  # its connection was killed
                connection.close()

    thread = threading.Thread(target=doomed_sealer)
    thread.start()
    assert sealed_uncommitted.wait(10)
    # while it holds the lock, another sealer stands aside instead of forking the chain
    assert sealer.seal_pending().busy
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid[0]])
    killed.set()
    thread.join(40)
    assert errors, "the killed sealer's connection failed"
    # nothing it sealed survived; the next sealer seals all eight, once, in one chain
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 8
    for _ in range(50):  # the killed backend releases its lock when it exits
        result = sealer.seal_pending()
        if not result.busy:
            break
        time.sleep(0.05)
    assert (result.sealed, result.head_seq) == (8, 13)
    verification = audit.verify_chain()
    assert (verification.checked, verification.broken, verification.unsealed) == (13, None, 0)
