"""Reads for the revenue screens, already limited to what the user may see."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet

from clinicops.core.models import Clinic, User
from patientflow.models import Step, Visit

from .models import BillingProfile, Claim, ClaimStatus, Encounter, ExportBatch


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
