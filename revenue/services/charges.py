"""Charge capture: coding a checked-out visit (diagnoses, service lines) until ready to bill."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction

from clinicops.audit.models import AuditEvent
from clinicops.core import servicekit
from clinicops.core.models import Coverage, Staff
from patientflow.models import Step, Visit

from .. import codes
from ..models import (
    MAX_DIAGNOSES,
    MAX_MODIFIERS,
    MAX_POINTERS,
    MODIFIER_RE,
    Claim,
    Encounter,
    ServiceLine,
    procedure_code_problem,
)
from . import fees
from .common import RevenueError, record


def billing_coverage(visit: Visit, on: Any) -> Coverage | None:
    """The primary coverage active on the date of service: the visit's own first, then the
    patient's; None means self-pay."""
    if (
        visit.coverage is not None
        and visit.coverage.priority == Coverage.Priority.PRIMARY
        and visit.coverage.is_active_on(on)
    ):
        return visit.coverage
    for coverage in Coverage._default_manager.filter(
        patient_id=visit.patient_id, priority=Coverage.Priority.PRIMARY
    ).select_related("payer"):
        if coverage.is_active_on(on):
            return coverage
    return None


def _lock(encounter: Encounter | int, actor: Any) -> Encounter:
    locked = servicekit.lock_row(Encounter, encounter, related=("clinic",))
    if not servicekit.works_at(actor, locked.clinic_id):
        raise Encounter.DoesNotExist
    return locked


def _require_draft(encounter: Encounter) -> None:
    if encounter.status != Encounter.Status.DRAFT:
        raise RevenueError(
            "This visit is already billed; change the claim (or send a corrected one) instead.",
            field="status",
        )


def start_encounter(*, actor: Any, visit: Visit | int) -> Encounter:
    """The visit's encounter, created (draft) on first use; the visit must be checked out."""
    with transaction.atomic():
        locked = servicekit.lock_row(Visit, visit, related=("appointment", "coverage"))
        if not servicekit.works_at(actor, locked.clinic_id):
            raise Visit.DoesNotExist
        existing = Encounter.objects.filter(visit=locked).first()
        if existing is not None:
            return existing
        if locked.step != Step.CHECKED_OUT or locked.checked_out_at is None:
            raise RevenueError("Only a checked-out visit can be coded.", field="visit")
        service_date = locked.checked_in_at.astimezone(locked.clinic.tz).date()
        encounter = Encounter.objects.create(
            visit=locked,
            clinic_id=locked.clinic_id,
            patient_id=locked.patient_id,
            service_date=service_date,
            rendering_provider_id=locked.appointment.provider_id,
        )
        record(actor, encounter, "Started coding the visit", action=AuditEvent.Action.CREATE)
        return encounter


def clean_diagnoses(raw: Sequence[str], *, on: Any) -> list[str]:
    """Diagnosis codes in order, normalised; RevenueError names the first bad one."""
    found: list[str] = []
    for code in raw:
        if not code.strip():
            continue
        problem = codes.icd_problem(code)
        if problem:
            raise RevenueError(problem, field="diagnoses")
        dotted = codes.normalize_icd(code)
        if dotted not in found:
            found.append(dotted)
    if len(found) > MAX_DIAGNOSES:
        raise RevenueError(f"A claim carries at most {MAX_DIAGNOSES} diagnoses.", field="diagnoses")
    return found


def set_diagnoses(*, actor: Any, encounter: Encounter | int, diagnoses: Sequence[str]) -> Encounter:
    with transaction.atomic():
        locked = _lock(encounter, actor)
        _require_draft(locked)
        cleaned = clean_diagnoses(diagnoses, on=locked.service_date)
        for line in locked.lines.all():
            if any(p > len(cleaned) for p in line.pointers):
                raise RevenueError(
                    f"Line {line.position} points at diagnosis {max(line.pointers)}; keep that "
                    "many diagnoses or change the line's pointers first.",
                    field="diagnoses",
                )
        before = list(locked.diagnoses)
        locked.diagnoses = cleaned
        locked.save(update_fields=["diagnoses", "updated_at"])
        record(actor, locked, "Set the diagnoses", changes={"diagnoses": [before, cleaned]})
        return locked


def set_prior_auth(*, actor: Any, encounter: Encounter | int, number: str) -> Encounter:
    number = (number or "").strip()[:50]
    with transaction.atomic():
        locked = _lock(encounter, actor)
        _require_draft(locked)
        before = locked.prior_auth_number
        locked.prior_auth_number = number
        locked.save(update_fields=["prior_auth_number", "updated_at"])
        record(
            actor,
            locked,
            "Set the prior authorization number",
            changes={"prior_auth_number": [before, number]},
        )
        return locked


def clean_line(
    encounter: Encounter,
    *,
    code: str,
    modifiers: Sequence[str],
    units: int,
    pointers: Sequence[int],
) -> tuple[str, list[str], int, list[int]]:
    code = (code or "").strip().upper()
    problem = procedure_code_problem(code)
    if problem:
        raise RevenueError(problem, field="procedure_code")
    mods = [m.strip().upper() for m in modifiers if m.strip()]
    if len(mods) > MAX_MODIFIERS:
        raise RevenueError(f"A line takes at most {MAX_MODIFIERS} modifiers.", field="modifiers")
    for mod in mods:
        if not MODIFIER_RE.match(mod):
            raise RevenueError(
                f"{mod!r} is not a modifier: 2 letters or digits.", field="modifiers"
            )
    if not 1 <= units <= 999:
        raise RevenueError("Units are a whole number from 1 to 999.", field="units")
    ptrs = list(dict.fromkeys(pointers))
    if not ptrs:
        raise RevenueError("Point the line at 1 to 4 of the visit's diagnoses.", field="pointers")
    if len(ptrs) > MAX_POINTERS:
        raise RevenueError(f"A line points at most at {MAX_POINTERS} diagnoses.", field="pointers")
    count = len(encounter.diagnoses)
    for p in ptrs:
        if not 1 <= p <= count:
            raise RevenueError(
                f"Pointer {p} names no diagnosis: the visit has {count}; enter diagnoses first.",
                field="pointers",
            )
    return code, mods, units, ptrs


def add_line(
    *,
    actor: Any,
    encounter: Encounter | int,
    code: str,
    modifiers: Sequence[str] = (),
    units: int = 1,
    pointers: Sequence[int] = (1,),
    rendering_provider: Staff | None = None,
) -> ServiceLine:
    """Add a service line; its charge is the fee schedule's, in force on the date of service."""
    with transaction.atomic():
        locked = _lock(encounter, actor)
        _require_draft(locked)
        code, mods, units, ptrs = clean_line(
            locked, code=code, modifiers=modifiers, units=units, pointers=pointers
        )
        visit = Visit.objects.select_related("coverage").get(pk=locked.visit_id)
        coverage = billing_coverage(visit, locked.service_date)
        fee = fees.fee_for(
            locked.clinic_id,
            coverage.payer_id if coverage else None,
            code,
            mods,
            locked.service_date,
        )
        if fee is None:
            raise RevenueError(
                f"No fee schedule in force on {locked.service_date} prices {code}; add it to the "
                "fee schedule (or import one) first.",
                field="procedure_code",
            )
        position = (
            locked.lines.order_by("-position").values_list("position", flat=True).first() or 0
        ) + 1
        line = ServiceLine.objects.create(
            encounter=locked,
            position=position,
            procedure_code=code,
            modifiers=mods,
            units=units,
            pointers=ptrs,
            unit_charge=fee.charge,
            charge=(fee.charge * units).quantize(Decimal("0.01")),
            rendering_provider=rendering_provider,
        )
        locked.save(update_fields=["updated_at"])
        record(
            actor,
            locked,
            f"Added line {position}: {code} x{units} at {fee.charge}",
            changes={
                "line": [None, {"code": code, "modifiers": mods, "units": units, "pointers": ptrs}]
            },
        )
        return line


def remove_line(*, actor: Any, encounter: Encounter | int, position: int) -> Encounter:
    with transaction.atomic():
        locked = _lock(encounter, actor)
        _require_draft(locked)
        line = locked.lines.filter(position=position).first()
        if line is None:
            raise RevenueError(f"There is no line {position}.", field="position")
        line.delete()
        record(actor, locked, f"Removed line {position}: {line.procedure_code}")
        return locked


def mark_ready(*, actor: Any, encounter: Encounter | int) -> Claim:
    """Ready to bill: the encounter is frozen and its claim is built and scrubbed."""
    from . import claims

    with transaction.atomic():
        locked = _lock(encounter, actor)
        _require_draft(locked)
        if not locked.lines.exists():
            raise RevenueError("Add at least one service line first.", field="lines")
        if not locked.diagnoses:
            raise RevenueError("Enter at least one diagnosis first.", field="diagnoses")
        locked.status = Encounter.Status.READY
        locked.save(update_fields=["status", "updated_at"])
        record(actor, locked, "Marked ready to bill", changes={"status": ["draft", "ready"]})
        visit = Visit.objects.select_related("coverage").get(pk=locked.visit_id)
        rebuilt = locked.claims.exists()
        claim = claims.build_claim(
            actor=actor,
            encounter=locked,
            coverage=billing_coverage(visit, locked.service_date),
            manually_changed=rebuilt,
        )
        if not claim.is_self_pay:
            claims.scrub(actor=actor, claim=claim)
        claim.refresh_from_db()
        return claim


def reopen(*, actor: Any, encounter: Encounter | int, reason: str) -> Encounter:
    """Back to draft to fix the coding: its unsent claims are closed (a new one is built when
    it is ready again, and that one is not clean on first pass)."""
    from . import claims

    if not (reason or "").strip():
        raise RevenueError("Say why the coding changes.", field="reason")
    with transaction.atomic():
        locked = _lock(encounter, actor)
        if locked.status != Encounter.Status.READY:
            raise RevenueError("This visit is still being coded.", field="status")
        open_claims = list(locked.claims.filter(status__in=["draft", "held", "scrubbed"]))
        if locked.claims.exclude(status__in=["draft", "held", "scrubbed", "closed"]).exists():
            raise RevenueError(
                "A claim of this visit was sent to the payer: send a corrected claim instead.",
                field="status",
            )
        for claim in open_claims:
            claims.transition(
                actor=actor,
                claim=claim,
                to_status="closed",
                reason=f"Coding reopened: {reason.strip()[:200]}",
            )
        locked.status = Encounter.Status.DRAFT
        locked.save(update_fields=["status", "updated_at"])
        record(
            actor,
            locked,
            f"Reopened the coding: {reason.strip()[:200]}",
            changes={"status": ["ready", "draft"]},
        )
        return locked
