"""Reads for the revenue screens, already limited to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from clinicops.core.models import Clinic, User
from patientflow.models import Step, Visit

from .models import (
    AdjustmentCode,
    BillingProfile,
    Claim,
    ClaimStatus,
    DenialBucket,
    DenialItem,
    Encounter,
    ExportBatch,
    LedgerEntry,
    Remittance,
)


def coding_queue(clinic: Clinic) -> QuerySet[Visit]:
    """Checked-out visits not yet billed (no encounter, or a draft one), oldest first; from the
    clinic's billing start date (`BillingProfile.coding_from`) when it has one."""
    visits = Visit.objects.filter(clinic=clinic, step=Step.CHECKED_OUT)
    profile = BillingProfile.objects.filter(clinic=clinic).first()
    if profile is not None and profile.coding_from is not None:
        visits = visits.filter(
            checked_in_at__gte=datetime.combine(profile.coding_from, time(0), tzinfo=clinic.tz)
        )
    return (
        visits.filter(Q(encounter__isnull=True) | Q(encounter__status=Encounter.Status.DRAFT))
        .select_related("patient", "appointment__provider__user", "encounter")
        .annotate(line_count=Count("encounter__lines"))
        .order_by("checked_out_at", "pk")
    )


def queue_rows(clinic: Clinic, *, today: date, limit: int = 200) -> list[dict[str, Any]]:
    rows = []
    for visit in coding_queue(clinic)[:limit]:
        day = visit.checked_in_at.astimezone(clinic.tz).date()
        encounter = getattr(visit, "encounter", None)
        rows.append(
            {
                "visit": visit,
                "service_date": day,
                "age_days": (today - day).days,
                "encounter": encounter,
            }
        )
    return rows


def encounter_for(user: User, pk: int) -> Encounter:
    return (
        Encounter.objects.for_user(user)
        .select_related("patient", "visit__coverage__payer", "rendering_provider__user", "clinic")
        .get(pk=pk)
    )


def claims_for(
    user: User,
    *,
    clinic_ids: list[int],
    status: str = "",
    payer_id: int | None = None,
    min_age: int | None = None,
    today: date,
) -> QuerySet[Claim]:
    qs = (
        Claim.objects.for_user(user)
        .filter(clinic_id__in=clinic_ids)
        .select_related("patient", "payer", "clinic")
        .order_by("service_date", "pk")
    )
    if status:
        qs = qs.filter(status=status)
    if payer_id:
        qs = qs.filter(payer_id=payer_id)
    if min_age is not None:
        qs = qs.filter(service_date__lte=today - timedelta(days=min_age))
    return qs


def held_claims(user: User, clinic_ids: list[int]) -> QuerySet[Claim]:
    return (
        Claim.objects.for_user(user)
        .filter(clinic_id__in=clinic_ids, status=ClaimStatus.HELD)
        .select_related("patient", "payer")
        .order_by("service_date", "pk")
    )


def claim_for(user: User, pk: int) -> Claim:
    return (
        Claim.objects.for_user(user)
        .select_related(
            "patient",
            "payer",
            "coverage",
            "clinic",
            "encounter",
            "original",
            "batch",
            "rendering_provider__user",
        )
        .prefetch_related("lines", "events", "replacements")
        .get(pk=pk)
    )


def batches_for(user: User, clinic: Clinic) -> QuerySet[ExportBatch]:
    return (
        ExportBatch.objects.for_user(user)
        .filter(clinic=clinic)
        .select_related("payer")
        .defer("content")
    )


# ---------------------------------------------------------------------------------------------
# Remittances, denials, A/R (issue 14)


def remittances_for(user: User, clinic: Clinic) -> QuerySet[Remittance]:
    return Remittance.objects.for_user(user).filter(clinic=clinic).select_related("payer")


def denial_queue(
    user: User,
    clinic: Clinic,
    *,
    today: date,
    state: str = "open",
    bucket: str = "",
    payer_id: int | None = None,
    owner: str = "",
    sort: str = "due_date",
    first: date | None = None,
    last: date | None = None,
) -> QuerySet[DenialItem]:
    qs = DenialItem.objects.for_user(user).filter(clinic=clinic)
    if state in ("open", "overdue"):
        qs = qs.filter(status__in=DenialItem.OPEN)
        if state == "overdue":
            qs = qs.filter(due_date__lt=today)
    elif state:
        qs = qs.filter(status=state)
    if bucket:
        qs = qs.filter(bucket=bucket)
    if payer_id is not None:
        qs = qs.filter(payer_id=payer_id)
    if owner == "me":
        qs = qs.filter(owner=user)
    elif owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif owner.isdigit():
        qs = qs.filter(owner_id=int(owner))
    if first is not None:
        qs = qs.filter(denied_on__gte=first)
    if last is not None:
        qs = qs.filter(denied_on__lte=last)
    order = (
        sort
        if sort in {"due_date", "-amount", "denied_on", "payer__name", "bucket"}
        else "due_date"
    )
    return qs.select_related("claim", "claim_line", "patient", "payer", "owner").order_by(
        order, "due_date", "pk"
    )


def code_texts(codes: list[str], kind: str) -> dict[str, str]:
    """{code: text} for CARCs ("CO-16" -> "16") or RARCs, from the code table."""
    bare = {c.split("-", 1)[-1] for c in codes}
    return dict(
        AdjustmentCode.objects.filter(kind=kind, code__in=bare).values_list("code", "description")
    )


AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("91-120", 91, 120),
    ("120+", 121, None),
)


def _aging_bucket(age: int) -> str:
    for label, low, high in AGING_BUCKETS:
        if age >= low and (high is None or age <= high):
            return label
    return AGING_BUCKETS[0][0]


@dataclass
class AgingRow:
    key: str
    label: str
    amounts: dict[str, Decimal]
    patient_id: int | None = None

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), Decimal("0"))


def ar_aging(clinic: Clinic, *, as_of: date, by: str = "payer") -> tuple[list[AgingRow], AgingRow]:
    """Outstanding A/R of the clinic's submitted claims as of the end of `as_of` (clinic-local),
    aged by date of service, grouped by payer (the payer's part of each balance, under the
    next payer when it moved) or by patient (the patient's part). Balances are recomputed from
    the ledger rows posted by then, so a past date shows what was owed that day."""
    end = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=clinic.tz)
    money = DecimalField(max_digits=14, decimal_places=2)
    zero = Value(Decimal("0"))

    def total(*kinds: str) -> Coalesce:
        return Coalesce(
            Sum("ledger__amount", filter=Q(ledger__kind__in=kinds, ledger__posted_at__lt=end)),
            zero,
            output_field=money,
        )

    K = LedgerEntry.Kind
    claims = (
        Claim.objects.filter(clinic=clinic, submitted_at__lt=end, service_date__lte=as_of)
        .annotate(
            reductions=total(*LedgerEntry.REDUCES_BALANCE),
            patient_part=total(K.PATIENT_RESPONSIBILITY),
            moved=total(K.TRANSFER, K.PATIENT_PAYMENT),
        )
        .values(
            "pk",
            "service_date",
            "total_charge",
            "reductions",
            "patient_part",
            "moved",
            "payer_id",
            "payer__name",
            "next_payer_id",
            "next_payer__name",
            "patient_id",
            "patient__last_name",
            "patient__first_name",
            "patient__mrn",
        )
    )
    rows: dict[str, AgingRow] = {}
    for c in claims.iterator():
        balance = c["total_charge"] - c["reductions"]
        patient = c["patient_part"] - c["moved"]
        if by == "patient":
            amount = patient
            key = str(c["patient_id"])
            label = f"{c['patient__last_name']}, {c['patient__first_name']} ({c['patient__mrn']})"
        else:
            amount = balance - patient
            payer_id = c["next_payer_id"] or c["payer_id"]
            key = str(payer_id or "self")
            label = (
                c["next_payer__name"] if c["next_payer_id"] else c["payer__name"]
            ) or "Self-pay"
        if amount == 0:
            continue
        row = rows.setdefault(
            key,
            AgingRow(
                key,
                label,
                {b[0]: Decimal("0") for b in AGING_BUCKETS},
                c["patient_id"] if by == "patient" else None,
            ),
        )
        row.amounts[_aging_bucket((as_of - c["service_date"]).days)] += amount
    ordered = sorted(rows.values(), key=lambda r: (-r.total, r.label))
    totals = AgingRow("total", "Total", {b[0]: Decimal("0") for b in AGING_BUCKETS})
    for row in ordered:
        for name, amount in row.amounts.items():
            totals.amounts[name] += amount
    return ordered, totals


@dataclass(frozen=True)
class ParetoBar:
    key: str
    label: str
    amount: Decimal
    count: int
    cumulative_pct: Decimal


def denial_pareto(
    clinic: Clinic, *, first: date, last: date, by: str = "bucket"
) -> list[ParetoBar]:
    """Denial dollars of the period (by the day they were denied), largest first, with the
    cumulative share: by root-cause bucket or by payer."""
    field = "bucket" if by == "bucket" else "payer__name"
    rows = (
        DenialItem.objects.filter(clinic=clinic, denied_on__gte=first, denied_on__lte=last)
        .values(field, "payer_id")
        .annotate(amount=Sum("amount"), count=Count("pk"))
    )
    merged: dict[str, list[Any]] = {}
    for row in rows:
        if by == "bucket":
            key = row["bucket"]
            label = DenialBucket(row["bucket"]).label if row["bucket"] else "Unknown"
        else:
            key = str(row["payer_id"] or "none")
            label = row["payer__name"] or "Unknown payer"
        entry = merged.setdefault(key, [label, Decimal("0"), 0])
        entry[1] += row["amount"]
        entry[2] += row["count"]
    total = sum((v[1] for v in merged.values()), Decimal("0"))
    bars: list[ParetoBar] = []
    running = Decimal("0")
    for key, (label, amount, count) in sorted(merged.items(), key=lambda kv: (-kv[1][1], kv[1][0])):
        running += amount
        pct = (running * 100 / total).quantize(Decimal("0.1")) if total else Decimal("0")
        bars.append(ParetoBar(key, label, amount, count, pct))
    return bars
