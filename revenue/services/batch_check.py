"""pyx12's check of every stored 837P batch, in the background.

`export_batch` stores the batch and marks its claims submitted in the request (the file is
kept byte for byte either way); pyx12 takes about a minute for 5,000 claims, so the check runs
in a Celery task queued when the export commits (`check_after_commit`). The task calls
`check_batch`, which validates the stored bytes and records the verdict on the batch: valid, or
findings (the count and the first findings), and flags nothing else: a batch with findings
stays, and its page says not to send the file.

A broker that is down when the export commits leaves the batch "not yet checked" with no
request time; the beat sweep (`requeue_unchecked`, every few minutes) and the batch page's
"Check now" button queue it again. See docs/decisions/0045-pyx12-check-of-every-batch.md.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import CheckStatus, ExportBatch
from ..x12.validate import X12Issue, validate_x12
from .common import record

log = logging.getLogger(__name__)

ACTOR = "pyx12 check"
# Findings kept on the batch (the count is kept whole): a damaged 5,000-claim file can have
# thousands, and the page shows the first few.
KEPT_FINDINGS = 50
# A check queued longer ago than this and still pending is taken as lost (its worker died or
# the broker dropped it) and queued again. Longer than the task's hard time limit
# (CELERY_TASK_TIME_LIMIT, 14 min), so a check still running is not started twice.
REQUEUE_AFTER = timedelta(minutes=20)


def _issues(content: bytes) -> list[X12Issue]:
    try:
        text = content.decode("ascii")
    except UnicodeDecodeError as error:
        return [
            X12Issue(
                "", "", "encoding", f"The file is not ASCII: byte {error.start} is not readable."
            )
        ]
    return validate_x12(text)


def check_batch(batch_id: int, *, now: datetime | None = None) -> ExportBatch | None:
    """Validate a pending batch's stored bytes with pyx12 and record the verdict; a batch
    already checked is left as it is (the bytes never change), a missing one is None."""
    batch = ExportBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        log.warning("pyx12 check: batch %s does not exist (deleted?); nothing to check", batch_id)
        return None
    if batch.check_status != CheckStatus.PENDING:
        return batch
    # Validation takes up to a minute: no transaction or lock is held during it; the verdict is
    # written only if the batch is still pending, so two checks at once record it once.
    issues = _issues(bytes(batch.content))
    status = CheckStatus.FINDINGS if issues else CheckStatus.VALID
    kept = [
        {
            "segment": i.segment,
            "element": i.element,
            "code": i.code,
            "message": i.message,
            "line": i.line,
        }
        for i in issues[:KEPT_FINDINGS]
    ]
    now = now or timezone.now()
    with transaction.atomic():
        updated = ExportBatch.objects.filter(pk=batch.pk, check_status=CheckStatus.PENDING).update(
            check_status=status, checked_at=now, finding_count=len(issues), findings=kept
        )
        batch.refresh_from_db(fields=["check_status", "checked_at", "finding_count", "findings"])
        if updated:
            record(
                ACTOR,
                batch,
                f"Checked 837P batch {batch.interchange_control_number:09d} with pyx12: "
                + (f"{len(issues)} findings, not to be sent" if issues else "no findings"),
            )
    return batch


def request_check(batch_id: int, *, now: datetime | None = None) -> bool:
    """Queue the check of a batch; False (and the batch stays not yet checked, with no request
    time) when the broker cannot be reached."""
    from ..tasks import check_export_batch

    try:
        check_export_batch.apply_async((batch_id,), retry=False)
    except Exception:  # the broker is down: the sweep or the "Check now" button queues it again
        log.warning("pyx12 check: broker unavailable, batch %s stays unchecked", batch_id)
        return False
    ExportBatch.objects.filter(pk=batch_id, check_status=CheckStatus.PENDING).update(
        check_requested_at=now or timezone.now()
    )
    return True


def check_after_commit(batch_id: int) -> None:
    """Queue the check once the export's transaction commits (a rolled-back batch is not)."""
    transaction.on_commit(lambda: request_check(batch_id))


def unchecked(now: datetime | None = None) -> Any:
    """Pending batches whose check was never queued, or queued so long ago it is lost."""
    now = now or timezone.now()
    return ExportBatch.objects.filter(check_status=CheckStatus.PENDING).filter(
        Q(check_requested_at__isnull=True) | Q(check_requested_at__lt=now - REQUEUE_AFTER)
    )


def requeue_unchecked(now: datetime | None = None) -> int:
    """Queue the check of every batch `unchecked` (oldest first); how many were queued."""
    queued = 0
    for batch_id in unchecked(now).order_by("created_at", "pk").values_list("pk", flat=True):
        if not request_check(batch_id, now=now):
            break  # the broker is still down: the next sweep tries again
        queued += 1
    return queued


def is_stale(batch: ExportBatch, now: datetime | None = None) -> bool:
    """A pending batch nobody is checking: never queued, or queued too long ago."""
    if batch.check_status != CheckStatus.PENDING:
        return False
    now = now or timezone.now()
    return batch.check_requested_at is None or batch.check_requested_at < now - REQUEUE_AFTER
