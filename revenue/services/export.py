"""837P export: a batch of scrubbed claims -> one interchange from `revenue.x12` -> stored.

This module is the one place our models are mapped to the writer's dataclasses
(`revenue.x12.claim_data`). `export_batch` locks the clinic's scrubbed claims (for one payer,
or all of them: one functional group per payer), takes envelope control numbers from a Postgres
sequence (unique and increasing under concurrent exports), writes the file, stores it byte for
byte with the batch, and marks the claims submitted, all in one transaction. pyx12 then
checks the stored batch in the background (`batch_check`).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import servicekit
from clinicops.core.models import Clinic, Coverage, Patient, Payer, Staff

from ..models import (
    BillingProfile,
    Claim,
    ClaimStatus,
    ExportBatch,
    PayerBillingSettings,
    next_x12_control_numbers,
)
from ..x12 import claim_data as x12
from ..x12.writer_837p import build_837p
from . import batch_check
from . import claims as claim_service
from .common import RevenueError, record

RELATIONSHIP_CODES: dict[str, str] = {
    Coverage.Relationship.SPOUSE: "01",
    Coverage.Relationship.CHILD: "19",
    Coverage.Relationship.OTHER: "G8",
}
FILING_BY_KIND: dict[str, str] = {
    Payer.Kind.MEDICARE: "MB",
    Payer.Kind.MEDICAID: "MC",
    Payer.Kind.WORKERS_COMP: "WC",
    Payer.Kind.COMMERCIAL: "CI",
}
RESPONSIBILITY = {1: "P", 2: "S", 3: "T"}


@dataclass(frozen=True)
class ExportResult:
    batch: ExportBatch
    claims: int
    lines: int


def _zip(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def _address(line1: str, city: str, state: str, postal_code: str, line2: str = "") -> x12.Address:
    return x12.Address(line1, city, (state or "").strip().upper()[:2], _zip(postal_code), line2)


def _split_name(full: str) -> x12.PersonName:
    """'Last, First Middle' or 'First Middle Last' -> a person name."""
    full = " ".join((full or "").split())
    if "," in full:
        last, _, rest = full.partition(",")
        parts = rest.split()
        return x12.PersonName(last.strip(), parts[0] if parts else "", " ".join(parts[1:]))
    parts = full.split()
    if len(parts) == 1:
        return x12.PersonName(parts[0])
    return x12.PersonName(parts[-1], parts[0], " ".join(parts[1:-1]))


def filing_indicator(payer: Payer, settings: PayerBillingSettings | None) -> str:
    if settings is not None:
        return settings.claim_filing_indicator
    return FILING_BY_KIND.get(payer.kind, "ZZ")


def _x12_payer(payer: Payer) -> x12.Payer:
    return x12.Payer(payer.name, payer.payer_id)


def billing_provider(profile: BillingProfile) -> x12.BillingProvider:
    pay_to = None
    if profile.pay_to_address_line1:
        pay_to = _address(
            profile.pay_to_address_line1,
            profile.pay_to_city,
            profile.pay_to_state,
            profile.pay_to_postal_code,
        )
    return x12.BillingProvider(
        name=profile.billing_name,
        npi=profile.group_npi,
        ein=profile.tax_id,
        address=_address(profile.address_line1, profile.city, profile.state, profile.postal_code),
        taxonomy=profile.taxonomy,
        pay_to_address=pay_to,
    )


def _patient_address(patient: Patient) -> x12.Address:
    return _address(
        patient.address_line1,
        patient.city,
        patient.state,
        patient.postal_code,
        patient.address_line2,
    )


def _subscriber(claim: Claim, settings: dict[int, PayerBillingSettings]) -> x12.Subscriber:
    coverage, payer = claim.coverage, claim.payer
    if coverage is None or payer is None:
        raise RevenueError(f"Claim {claim.control_number} is self-pay.", field="payer")
    patient = claim.patient
    filing = filing_indicator(payer, settings.get(payer.pk))
    common: dict[str, Any] = {
        "payer": _x12_payer(payer),
        "claim_filing_indicator": filing,
        "member_id": coverage.member_id.strip(),
        "group_number": coverage.group_number.strip(),
        "payer_responsibility": RESPONSIBILITY.get(coverage.priority, "P"),
    }
    if coverage.subscriber_relationship == Coverage.Relationship.SELF:
        return x12.Subscriber(
            name=x12.PersonName(patient.last_name, patient.first_name, patient.middle_name),
            birth_date=patient.date_of_birth,
            sex=patient.sex if patient.sex in ("F", "M") else "U",
            address=_patient_address(patient),
            **common,
        )
    return x12.Subscriber(
        name=_split_name(coverage.subscriber_name),
        birth_date=coverage.subscriber_date_of_birth,
        sex=coverage.subscriber_sex if coverage.subscriber_sex in ("F", "M") else "U",
        address=_address(
            coverage.subscriber_address_line1,
            coverage.subscriber_city,
            coverage.subscriber_state,
            coverage.subscriber_postal_code,
        ),
        **common,
    )


def _other_payers(
    claim: Claim, others: list[Coverage], settings: dict[int, PayerBillingSettings]
) -> tuple[x12.OtherPayer, ...]:
    found = []
    for other in others:
        if other.pk == claim.coverage_id or not other.is_active_on(claim.service_date):
            continue
        if other.subscriber_relationship == Coverage.Relationship.SELF:
            name = x12.PersonName(claim.patient.last_name, claim.patient.first_name)
            relation = "18"
        else:
            name = _split_name(other.subscriber_name)
            relation = RELATIONSHIP_CODES.get(other.subscriber_relationship, "G8")
        found.append(
            x12.OtherPayer(
                payer=_x12_payer(other.payer),
                payer_responsibility=RESPONSIBILITY.get(other.priority, "S"),
                relationship_code=relation,
                claim_filing_indicator=filing_indicator(other.payer, settings.get(other.payer_id)),
                subscriber_name=name,
                member_id=other.member_id.strip(),
                group_number=other.group_number.strip(),
            )
        )
    return tuple(found[:10])


def _rendering(staff: Staff | None) -> x12.RenderingProvider | None:
    if staff is None:
        return None
    user = staff.user
    return x12.RenderingProvider(
        x12.PersonName(user.last_name or user.username, user.first_name), staff.npi
    )


def x12_claim(
    claim: Claim,
    *,
    place_of_service: str,
    settings: dict[int, PayerBillingSettings],
    other_coverages: list[Coverage],
) -> x12.Claim:
    """One of our claims as the writer's dataclass (lines, subscriber/patient, other payers)."""
    coverage = claim.coverage
    if coverage is None:
        raise RevenueError(f"Claim {claim.control_number} is self-pay.", field="payer")
    patient_loop = None
    if coverage.subscriber_relationship != Coverage.Relationship.SELF:
        p = claim.patient
        patient_loop = x12.Patient(
            relationship_code=RELATIONSHIP_CODES.get(coverage.subscriber_relationship, "G8"),
            name=x12.PersonName(p.last_name, p.first_name, p.middle_name),
            birth_date=p.date_of_birth,
            sex=p.sex if p.sex in ("F", "M") else "U",
            address=_patient_address(p),
        )
    lines = tuple(
        x12.ServiceLine(
            procedure_code=line.procedure_code,
            charge=line.charge,
            units=Decimal(line.units),
            diagnosis_pointers=tuple(line.pointers),
            line_control_number=line.line_id,
            modifiers=tuple(line.modifiers),
            service_date=line.service_date,
        )
        for line in claim.lines.all()
    )
    return x12.Claim(
        patient_control_number=claim.control_number,
        total_charge=claim.total_charge,
        place_of_service=place_of_service,
        service_date=claim.service_date,
        subscriber=_subscriber(claim, settings),
        diagnoses=tuple(claim.diagnoses),
        lines=lines,
        patient=patient_loop,
        frequency_code=claim.frequency,
        original_claim_reference=claim.payer_claim_number if claim.frequency != "1" else "",
        prior_authorization=claim.prior_auth_number,
        rendering_provider=_rendering(claim.rendering_provider),
        other_payers=_other_payers(claim, other_coverages, settings),
    )


def exportable(clinic: Clinic, payer: Payer | None = None) -> Any:
    """The clinic's scrubbed claims not yet submitted (for one payer when given)."""
    qs = Claim.objects.filter(clinic=clinic, status=ClaimStatus.SCRUBBED, payer__isnull=False)
    return qs.filter(payer=payer) if payer is not None else qs


def build_file(
    profile: BillingProfile,
    claims: list[Claim],
    *,
    controls: list[int],
    now: datetime,
) -> str:
    """The 837P text for `claims` (one group per payer); `controls` has 1 + 2 x payers numbers."""
    settings = {
        s.payer_id: s
        for s in PayerBillingSettings.objects.filter(payer_id__in={c.payer_id for c in claims})
    }
    others: dict[int, list[Coverage]] = defaultdict(list)
    for coverage in Coverage._default_manager.filter(
        patient_id__in={c.patient_id for c in claims}
    ).select_related("payer"):
        others[coverage.patient_id].append(coverage)
    by_payer: dict[int, list[Claim]] = defaultdict(list)
    for claim in claims:
        if claim.payer_id is None:
            raise RevenueError(f"Claim {claim.control_number} is self-pay.", field="payer")
        by_payer[claim.payer_id].append(claim)
    provider = billing_provider(profile)
    groups = []
    for n, (_payer_id, payer_claims) in enumerate(sorted(by_payer.items())):
        groups.append(
            x12.ClaimGroup(
                group_control_number=controls[1 + 2 * n],
                transaction_control_number=controls[2 + 2 * n],
                application_receiver_code=profile.receiver_id,
                receiver=x12.Receiver(profile.receiver_name, profile.receiver_id),
                billing_provider=provider,
                claims=tuple(
                    x12_claim(
                        c,
                        place_of_service=profile.place_of_service,
                        settings=settings,
                        other_coverages=others[c.patient_id],
                    )
                    for c in payer_claims
                ),
            )
        )
    interchange = x12.Interchange(
        sender_id=profile.submitter_id,
        receiver_id=profile.receiver_id,
        control_number=controls[0],
        created_at=now.astimezone(profile.clinic.tz).replace(tzinfo=None),
        submitter=x12.Submitter(
            profile.billing_name, profile.submitter_id, profile.contact_name, profile.contact_phone
        ),
        usage_indicator="P" if profile.production else "T",
    )
    return build_837p(interchange, groups)


def export_batch(
    *,
    actor: Any,
    clinic: Clinic,
    payer: Payer | None = None,
    now: datetime | None = None,
    through: date | None = None,
    queue_check: bool = True,
) -> ExportResult | None:
    """Write every scrubbed, unsubmitted claim of the clinic (for `payer`, or all payers) into
    one interchange (with `through`, only dates of service up to it); None when there is
    nothing to export (and nothing is written). Once stored, pyx12 checks the batch in a
    Celery task (`queue_check=False`: the caller checks it, as the command does)."""
    now = now or timezone.now()
    if not servicekit.works_at(actor, clinic.pk):
        raise RevenueError("You do not work at this clinic.", field="clinic")
    profile = BillingProfile.objects.select_related("clinic").filter(clinic=clinic).first()
    if profile is None:
        raise RevenueError(
            "The clinic has no billing profile; an administrator sets it up.", field="clinic"
        )
    with transaction.atomic():
        waiting = exportable(clinic, payer)
        if through is not None:
            waiting = waiting.filter(service_date__lte=through)
        claims = list(
            waiting.select_for_update(of=("self",))
            .select_related("patient", "coverage", "payer", "rendering_provider__user")
            .prefetch_related("lines")
            .order_by("payer_id", "pk")
        )
        if not claims:
            return None
        payer_count = len({c.payer_id for c in claims})
        controls = next_x12_control_numbers(1 + 2 * payer_count)
        try:
            text = build_file(profile, claims, controls=controls, now=now)
        except x12.X12DataError as error:
            raise RevenueError(
                f"A claim cannot be written: {error.field}: {error.message}", field=error.field
            ) from error
        content = text.encode("ascii")
        line_count = sum(len(c.lines.all()) for c in claims)
        batch = ExportBatch.objects.create(
            clinic=clinic,
            payer=payer,
            interchange_control_number=controls[0],
            created_by=servicekit.user_or_none(actor),
            created_by_label=servicekit.actor_label(actor),
            claim_count=len(claims),
            line_count=line_count,
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
        )
        claim_service.mark_submitted(actor=actor, claims=claims, batch_id=batch.pk, now=now)
        record(
            actor,
            batch,
            f"Exported an 837P batch: {len(claims)} claims, {line_count} lines",
            action=AuditEvent.Action.EXPORT,
        )
        if queue_check:
            batch_check.check_after_commit(batch.pk)
        return ExportResult(batch=batch, claims=len(claims), lines=line_count)


def preview(claim: Claim) -> str:
    """The 837P a scrubbed claim would be sent as (control numbers 1: nothing is consumed)."""
    profile = (
        BillingProfile.objects.select_related("clinic").filter(clinic_id=claim.clinic_id).first()
    )
    if profile is None:
        raise RevenueError("The clinic has no billing profile.", field="clinic")
    full = (
        Claim.objects.select_related("patient", "coverage", "payer", "rendering_provider__user")
        .prefetch_related("lines")
        .get(pk=claim.pk)
    )
    try:
        return build_file(profile, [full], controls=[1, 1, 1], now=timezone.now())
    except x12.X12DataError as error:
        raise RevenueError(f"{error.field}: {error.message}", field=error.field) from error
