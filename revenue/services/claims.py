"""Claims: building one from a coded visit, the status machine's only writer, scrubbing, and
corrected (7) / void (8) claims that link to their original."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import servicekit
from clinicops.core.models import Coverage

from .. import claim_status
from ..models import Claim, ClaimEvent, ClaimLine, ClaimStatus, Encounter
from . import scrubber
from .common import RevenueError, record


def _lock(claim: Claim | int, actor: Any) -> Claim:
    locked = servicekit.lock_row(Claim, claim, related=("clinic",))
    if not servicekit.works_at(actor, locked.clinic_id):
        raise Claim.DoesNotExist
    return locked


def _move(claim: Claim, to_status: str, *, actor: Any, reason: str, now: datetime) -> None:
    """Change the status of a locked claim, with its event; IllegalMove when not allowed."""
    if not claim_status.can_move(claim.status, to_status):
        raise RevenueError(
            f"A {ClaimStatus(claim.status).label.lower()} claim cannot become "
            f"{ClaimStatus(to_status).label.lower()}.",
            field="status",
        )
    ClaimEvent.objects.create(
        claim=claim,
        from_status=claim.status,
        to_status=to_status,
        at=now,
        actor=servicekit.user_or_none(actor),
        actor_label=servicekit.actor_label(actor),
        reason=reason[:255],
    )
    claim.status = to_status
    claim.status_changed_at = now


def transition(*, actor: Any, claim: Claim | int, to_status: str, reason: str) -> Claim:
    """Move a claim by hand (accepted, rejected, paid, denied, appealed, closed...), with why."""
    reason = (reason or "").strip()
    if to_status not in ClaimStatus.values:
        raise RevenueError("Choose a status from the list.", field="status")
    if to_status not in claim_status.MANUAL:
        raise RevenueError(
            "That status is set by the scrubber or the export, not by hand.", field="status"
        )
    if not reason:
        raise RevenueError("Say why the status changes.", field="reason")
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(claim, actor)
        before = locked.status
        _move(locked, to_status, actor=actor, reason=reason, now=now)
        locked.save(update_fields=["status", "status_changed_at"])
        record(
            actor,
            locked,
            f"Status {before} -> {to_status}: {reason}",
            changes={"status": [before, to_status]},
        )
        return locked


def build_claim(
    *,
    actor: Any,
    encounter: Encounter,
    coverage: Coverage | None,
    frequency: str = Claim.Frequency.ORIGINAL,
    original: Claim | None = None,
    payer_claim_number: str = "",
    manually_changed: bool = False,
) -> Claim:
    """A draft claim from a ready encounter, for the coverage's payer (None: self-pay)."""
    now = timezone.now()
    with transaction.atomic():
        lines = list(encounter.lines.all())
        (control,) = Claim.next_control_numbers(1)
        claim = Claim.objects.create(
            clinic_id=encounter.clinic_id,
            encounter=encounter,
            patient_id=encounter.patient_id,
            coverage=coverage,
            payer_id=coverage.payer_id if coverage else None,
            control_number=control,
            frequency=frequency,
            original=original,
            payer_claim_number=payer_claim_number,
            service_date=encounter.service_date,
            rendering_provider_id=encounter.rendering_provider_id,
            diagnoses=list(encounter.diagnoses),
            prior_auth_number=encounter.prior_auth_number,
            total_charge=sum((line.charge for line in lines), start=Decimal("0")),
            balance=sum((line.charge for line in lines), start=Decimal("0")),
            manually_changed=manually_changed,
        )
        ClaimLine.objects.bulk_create(
            ClaimLine(
                claim=claim,
                position=line.position,
                line_id=f"{control}-{line.position}",
                procedure_code=line.procedure_code,
                modifiers=line.modifiers,
                units=line.units,
                pointers=line.pointers,
                charge=line.charge,
                service_date=encounter.service_date,
                rendering_provider_id=line.rendering_provider_id,
            )
            for line in lines
        )
        ClaimEvent.objects.create(
            claim=claim,
            from_status="",
            to_status=ClaimStatus.DRAFT,
            at=now,
            actor=servicekit.user_or_none(actor),
            actor_label=servicekit.actor_label(actor),
            reason="Built from the coded visit"
            if original is None
            else f"{Claim.Frequency(frequency).label} of {original.control_number}",
        )
        record(
            actor,
            claim,
            f"Built claim {control} ({len(lines)} lines)",
            action=AuditEvent.Action.CREATE,
        )
        return claim


def scrub(*, actor: Any, claim: Claim | int, today: date | None = None) -> Claim:
    """Run every edit: scrubbed when all pass, held with the failures otherwise. The first
    run records whether the claim was clean on its first pass (no manual change before it)."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(claim, actor)
        if locked.status not in claim_status.SCRUBBABLE:
            raise RevenueError(
                f"A {ClaimStatus(locked.status).label.lower()} claim is not scrubbed again.",
                field="status",
            )
        if locked.is_self_pay:
            raise RevenueError(
                "A self-pay claim is billed to the patient, not scrubbed.", field="payer"
            )
        failures = scrubber.run(locked, today=today or locked.clinic.today())
        passed = not failures
        to_status = ClaimStatus.SCRUBBED if passed else ClaimStatus.HELD
        summary = (
            "all edits passed"
            if passed
            else f"{len(failures)} edit(s) failed: " + ", ".join(f.code for f in failures)
        )
        _move(locked, to_status, actor=actor, reason=f"Scrubber: {summary}"[:255], now=now)
        locked.edit_failures = [f.as_dict() for f in failures]
        locked.last_scrubbed_at = now
        fields = ["status", "status_changed_at", "edit_failures", "last_scrubbed_at"]
        if locked.first_scrubbed_at is None:
            locked.first_scrubbed_at = now
            locked.first_pass_clean = passed and not locked.manually_changed
            fields += ["first_scrubbed_at", "first_pass_clean"]
        locked.save(update_fields=fields)
        record(actor, locked, f"Scrubbed: {summary}"[:255])
        return locked


def update_claim(
    *,
    actor: Any,
    claim: Claim | int,
    prior_auth_number: str | None = None,
    payer_claim_number: str | None = None,
) -> Claim:
    """A manual change (the claim is then not clean on its first pass); scrubbed again."""
    with transaction.atomic():
        locked = _lock(claim, actor)
        if locked.status not in claim_status.SCRUBBABLE:
            raise RevenueError(
                "Only a claim not yet submitted can be changed; send a corrected claim instead.",
                field="status",
            )
        changes: dict[str, list[str]] = {}
        if prior_auth_number is not None:
            changes["prior_auth_number"] = [
                locked.prior_auth_number,
                prior_auth_number.strip()[:50],
            ]
            locked.prior_auth_number = prior_auth_number.strip()[:50]
        if payer_claim_number is not None:
            changes["payer_claim_number"] = [
                locked.payer_claim_number,
                payer_claim_number.strip()[:50],
            ]
            locked.payer_claim_number = payer_claim_number.strip()[:50]
        locked.manually_changed = True
        locked.save(update_fields=["prior_auth_number", "payer_claim_number", "manually_changed"])
        record(actor, locked, "Changed the claim by hand", changes=changes)
    return scrub(actor=actor, claim=locked.pk)


def replace_claim(
    *, actor: Any, claim: Claim | int, frequency: str, payer_claim_number: str, reason: str
) -> Claim:
    """A corrected (7) or void (8) claim for one the payer has, linked to it, scrubbed."""
    if frequency not in (Claim.Frequency.CORRECTED, Claim.Frequency.VOID):
        raise RevenueError("Choose corrected (7) or void (8).", field="frequency")
    if not (reason or "").strip():
        raise RevenueError("Say why the claim is corrected or voided.", field="reason")
    with transaction.atomic():
        original = _lock(claim, actor)
        if original.status not in claim_status.REPLACEABLE:
            raise RevenueError(
                "Only a claim sent to the payer can be corrected or voided.", field="status"
            )
        number = (payer_claim_number or original.payer_claim_number).strip()[:50]
        if not number:
            raise RevenueError(
                "Enter the payer's claim number of the original claim.", field="payer_claim_number"
            )
        replacement = build_claim(
            actor=actor,
            encounter=original.encounter,
            coverage=original.coverage,
            frequency=frequency,
            original=original,
            payer_claim_number=number,
        )
        record(
            actor,
            original,
            f"{Claim.Frequency(frequency).label}: {replacement.control_number}"
            f" ({reason.strip()[:150]})",
        )
    return scrub(actor=actor, claim=replacement.pk)


def mark_submitted(*, actor: Any, claims: list[Claim], batch_id: int, now: datetime) -> None:
    """The export marks its claims submitted (already locked by the caller), one event each."""
    events = []
    for claim in claims:
        if not claim_status.can_move(claim.status, ClaimStatus.SUBMITTED):
            raise RevenueError(f"Claim {claim.control_number} is not scrubbed.", field="status")
        events.append(
            ClaimEvent(
                claim=claim,
                from_status=claim.status,
                to_status=ClaimStatus.SUBMITTED,
                at=now,
                actor=servicekit.user_or_none(actor),
                actor_label=servicekit.actor_label(actor),
                reason=f"Exported in batch {batch_id}",
            )
        )
        claim.status = ClaimStatus.SUBMITTED
        claim.status_changed_at = now
        claim.batch_id = batch_id
        claim.submitted_at = now
    ClaimEvent.objects.bulk_create(events, batch_size=2000)
    # One UPDATE: every claim gets the same values (bulk_update would write a CASE per row).
    Claim.objects.filter(pk__in=[c.pk for c in claims]).update(
        status=ClaimStatus.SUBMITTED, status_changed_at=now, batch_id=batch_id, submitted_at=now
    )
