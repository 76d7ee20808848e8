"""pyx12 checks every stored 837P batch in a Celery task queued when the export commits: valid
or findings, shown on the batch list and the batch page; idempotent; a missing batch, a down
broker (the sweep and "Check now" queue it again) and the command's inline check."""

from __future__ import annotations

import re
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerDown

from clinicops.audit.models import AuditEvent
from clinicops.core.models import User
from revenue import tasks
from revenue.models import CheckStatus, Claim, ClaimStatus, ExportBatch
from revenue.services import batch_check, export

from .factories import billable_patient, checked_out_visit, coverage_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The broker, replaced by a list of the batch ids queued (a worker is `run_queued`)."""
    sent: list[int] = []
    monkeypatch.setattr(
        tasks.check_export_batch, "apply_async", lambda args, **kw: sent.append(args[0])
    )
    return sent


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kw: Any) -> None:
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.check_export_batch, "apply_async", refuse)


def run_queued(sent: list[int]) -> list[str]:
    return [tasks.check_export_batch(batch_id) for batch_id in sent]


def exported(biller: User, clinic: Any, capture: Any) -> ExportBatch:
    """Export the clinic's claims and run what waits for the commit (queuing the check)."""
    with capture(execute=True):
        result = export.export_batch(actor=biller, clinic=clinic)
    assert result is not None
    return result.batch


def another_visit(visit: Any) -> Any:
    patient = billable_patient(visit.clinic)
    coverage = coverage_for(patient, visit.coverage.payer)
    provider = visit.appointment.provider
    return checked_out_visit(visit.clinic, provider=provider, patient=patient, coverage=coverage)


def checks_recorded(batch: ExportBatch) -> int:
    return AuditEvent.objects.filter(
        object_type="revenue.exportbatch",
        object_id=str(batch.pk),
        summary__contains="with pyx12",
    ).count()


def wrong_se_count(text: str) -> str:
    """The first SE segment's count, made wrong."""
    return re.sub(r"^SE\*", "SE*9", text, count=1, flags=re.MULTILINE)


def damage(batch: ExportBatch) -> None:
    """Write a bad file straight into the stored batch: a wrong SE count and a bad state."""
    text = bytes(batch.content).decode("ascii")
    bad = wrong_se_count(text).replace("*SPRINGFIELD*IL*62704", "*SPRINGFIELD*QQ*62704", 1)
    assert bad != text
    ExportBatch.objects.filter(pk=batch.pk).update(content=bad.encode("ascii"))


def test_a_valid_batch_is_checked_after_the_export_and_shown_valid(
    client: Client,
    visit: Any,
    make_claim: Callable[..., Claim],
    biller: User,
    queued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a scrubbed claim exported (the check is queued when the export commits)
    make_claim(visit)
    batch = exported(biller, visit.clinic, django_capture_on_commit_callbacks)
    assert queued == [batch.pk]
    batch.refresh_from_db()
    assert batch.check_status == CheckStatus.PENDING
    assert batch.check_requested_at is not None
    client.force_login(biller)
    page = client.get(reverse("revenue:batch", args=[batch.pk])).content.decode()
    assert "Being checked…" in page
    assert 'hx-trigger="every 3s"' in page
    assert "Being checked…" in client.get(reverse("revenue:batches")).content.decode()
    # when the worker runs it
    assert run_queued(queued) == ["valid"]
    # then the batch is valid, the check audited, and both screens say so
    batch.refresh_from_db()
    assert (batch.check_status, batch.finding_count, batch.findings) == ("valid", 0, [])
    assert batch.checked_at is not None
    assert checks_recorded(batch) == 1
    page = client.get(reverse("revenue:batch", args=[batch.pk])).content.decode()
    assert "Checked by pyx12: no findings" in page
    assert "every 3s" not in page
    listing = client.get(reverse("revenue:batches")).content.decode()
    assert "Checked by pyx12: no findings" in listing
    assert "every 5s" not in listing


def test_a_damaged_batch_ends_with_findings_shown_and_is_kept(
    client: Client,
    visit: Any,
    make_claim: Callable[..., Claim],
    biller: User,
    queued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    claim = make_claim(visit)
    batch = exported(biller, visit.clinic, django_capture_on_commit_callbacks)
    damage(batch)
    assert run_queued(queued) == ["findings"]
    batch.refresh_from_db()
    assert batch.check_status == CheckStatus.FINDINGS
    assert batch.finding_count == len(batch.findings) >= 2
    segments = {f["segment"] for f in batch.findings}
    assert "ST" in segments  # the SE count, reported on its transaction set
    assert any(f["element"] == "N402" for f in batch.findings)
    # Flagged, not deleted: the batch and its submitted claim stay as they were.
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED
    assert claim.batch_id == batch.pk
    client.force_login(biller)
    page = client.get(reverse("revenue:batch", args=[batch.pk])).content.decode()
    assert f"pyx12 found {batch.finding_count} problems: do not send this file" in page
    first = batch.findings[0]
    assert f'<td class="mono">{first["segment"]}</td>' in page
    assert first["message"].replace("'", "&#x27;") in page
    # The findings can quote the file's values: reading them is audited.
    assert AuditEvent.objects.filter(
        action="view", object_type="revenue.exportbatch", object_id=str(batch.pk)
    ).exists()
    listing = client.get(reverse("revenue:batches")).content.decode()
    assert f"{batch.finding_count} findings: do not send" in listing


def test_a_batch_downloads_only_once_checked(
    client: Client,
    visit: Any,
    make_claim: Callable[..., Claim],
    biller: User,
    queued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A file nobody has checked could reach the clearinghouse broken: until pyx12 has read
    it, the download answers with the batch page and a message, and exports nothing."""
    make_claim(visit)
    batch = exported(biller, visit.clinic, django_capture_on_commit_callbacks)
    client.force_login(biller)
    url = reverse("revenue:batch_download", args=[batch.pk])
    exports = AuditEvent.objects.filter(
        action=AuditEvent.Action.EXPORT, object_id=str(batch.pk), summary__startswith="Downloaded"
    )
    assert url not in client.get(reverse("revenue:batches")).content.decode()
    assert url not in client.get(reverse("revenue:batch", args=[batch.pk])).content.decode()

    response = client.get(url, follow=True)

    assert response.redirect_chain == [(reverse("revenue:batch", args=[batch.pk]), 302)]
    page = response.content.decode()
    assert f"Batch {batch.interchange_control_number:09d} is not checked yet" in page
    assert not exports.exists()
    # once checked (valid or with findings, which still downloads to be looked into)
    assert run_queued(queued) == ["valid"]
    assert url in client.get(reverse("revenue:batches")).content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert response.content == bytes(batch.content)
    assert exports.count() == 1


def test_the_same_check_twice_changes_nothing_the_second_time(
    visit: Any,
    make_claim: Callable[..., Claim],
    biller: User,
    queued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_claim(visit)
    batch = exported(biller, visit.clinic, django_capture_on_commit_callbacks)
    damage(batch)
    fields = ("check_status", "checked_at", "finding_count", "findings", "check_requested_at")
    assert tasks.check_export_batch(batch.pk) == "findings"
    first = ExportBatch.objects.values(*fields).get(pk=batch.pk)
    # A redelivered task (or the sweep racing the first run) finds it checked: nothing changes.
    assert tasks.check_export_batch(batch.pk) == "findings"
    assert ExportBatch.objects.values(*fields).get(pk=batch.pk) == first
    assert checks_recorded(batch) == 1


def test_the_check_of_a_missing_batch_does_not_crash(db: None) -> None:
    assert tasks.check_export_batch(987654321) == "missing"
    assert batch_check.check_batch(987654321) is None


def test_broker_down_leaves_it_unchecked_until_check_now_or_the_sweep(
    client: Client,
    visit: Any,
    make_claim: Callable[..., Claim],
    biller: User,
    broker_down: None,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given an export while the broker is down: it is stored and submitted, but not checked
    make_claim(visit)
    batch = exported(biller, visit.clinic, django_capture_on_commit_callbacks)
    batch.refresh_from_db()
    assert (batch.check_status, batch.check_requested_at) == ("pending", None)
    client.force_login(biller)
    url = reverse("revenue:batch", args=[batch.pk])
    page = client.get(url).content.decode()
    assert "Not yet checked" in page
    assert "Check now" in page
    assert "every 3s" not in page  # nothing to wait for
    assert "Not yet checked" in client.get(reverse("revenue:batches")).content.decode()
    # "Check now" with the broker still down says so, and the sweep queues nothing
    answer = client.post(reverse("revenue:batch_check", args=[batch.pk]), follow=True)
    assert "cannot be reached" in answer.content.decode()
    assert batch_check.requeue_unchecked() == 0
    # when the broker is back, the sweep queues it (once: a queued check is not queued again)
    sent: list[int] = []
    monkeypatch.setattr(
        tasks.check_export_batch, "apply_async", lambda args, **kw: sent.append(args[0])
    )
    assert tasks.requeue_unchecked_batches() == 1
    assert tasks.requeue_unchecked_batches() == 0
    assert sent == [batch.pk]
    assert "Being checked…" in client.get(url).content.decode()
    assert run_queued(sent) == ["valid"]
    assert "Checked by pyx12: no findings" in client.get(url).content.decode()


def test_check_now_queues_an_unchecked_batch(
    client: Client,
    visit: Any,
    make_claim: Callable[..., Claim],
    biller: User,
    queued: list[int],
) -> None:
    make_claim(visit)
    # Exported without its on-commit callback (as when the process died right after commit).
    result = export.export_batch(actor=biller, clinic=visit.clinic)
    assert result is not None
    client.force_login(biller)
    answer = client.post(reverse("revenue:batch_check", args=[result.batch.pk]), follow=True)
    assert "The check is queued" in answer.content.decode()
    assert queued == [result.batch.pk]
    # Already queued: a second click queues nothing more.
    answer = client.post(reverse("revenue:batch_check", args=[result.batch.pk]), follow=True)
    assert "being checked" in answer.content.decode()
    assert queued == [result.batch.pk]


def test_the_batch_page_is_scoped_and_check_now_needs_the_submit_permission(
    client: Client,
    visit: Any,
    make_claim: Callable[..., Claim],
    biller: User,
    make_user: Callable[..., User],
    other_clinic: Any,
    queued: list[int],
) -> None:
    from clinicops.core import roles

    make_claim(visit)
    result = export.export_batch(actor=biller, clinic=visit.clinic)
    assert result is not None
    url = reverse("revenue:batch", args=[result.batch.pk])
    client.force_login(make_user(roles.BILLER, clinics=[other_clinic]))
    assert client.get(url).status_code == 404
    assert client.post(reverse("revenue:batch_check", args=[result.batch.pk])).status_code == 404
    client.force_login(make_user(roles.MANAGER))
    assert client.get(url).status_code == 200
    assert client.post(reverse("revenue:batch_check", args=[result.batch.pk])).status_code == 403
    assert queued == []


def test_the_command_checks_inline_and_says_so(
    visit: Any,
    make_claim: Callable[..., Claim],
    queued: list[int],
    tmp_path: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_claim(visit)
    out = tmp_path / "batch.x12"
    stdout = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "export_837", "--clinic", visit.clinic.short_name, "--out", str(out), stdout=stdout
        )
    assert "pyx12: 0 findings" in stdout.getvalue()
    batch = ExportBatch.objects.get()
    assert batch.check_status == CheckStatus.VALID
    assert queued == []  # checked here, not queued as well
    # A file pyx12 refuses: written and kept, but the command fails and names the findings.
    from revenue.x12 import validate

    real = validate.validate_x12

    def damaged_validate(text: str, **kw: Any) -> Any:
        return real(wrong_se_count(text), **kw)

    monkeypatch.setattr(batch_check, "validate_x12", damaged_validate)
    make_claim(another_visit(visit))
    stderr = StringIO()
    with pytest.raises(CommandError, match=r"findings in batch \d+: do not send"):
        call_command(
            "export_837",
            "--clinic",
            visit.clinic.short_name,
            "--out",
            str(tmp_path / "second.x12"),
            stdout=StringIO(),
            stderr=stderr,
        )
    assert "ST:" in stderr.getvalue()
    assert (tmp_path / "second.x12").exists()
    assert ExportBatch.objects.filter(check_status=CheckStatus.FINDINGS).count() == 1
    # --no-validate: nothing checked here, the background check is queued instead.
    make_claim(another_visit(visit))
    stdout = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "export_837",
            "--clinic",
            visit.clinic.short_name,
            "--out",
            str(tmp_path / "third.x12"),
            "--no-validate",
            stdout=stdout,
        )
    assert "pyx12: not run" in stdout.getvalue()
    third = ExportBatch.objects.order_by("-pk").first()
    assert third is not None
    assert third.check_status == CheckStatus.PENDING
    assert queued == [third.pk]
