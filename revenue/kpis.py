"""Revenue metrics: the clean claim rate (shared/KPIS.md, HFMA MAP Key CL-1).

A claim counts on the clinic-local day it first entered the scrubber (`first_scrubbed_at`):
the denominator is every claim that entered the scrubber that day, the numerator those that
passed every edit on that first pass with no manual change before it (`first_pass_clean`).
Self-pay claims never enter the scrubber, so they are in neither.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Count, Q

from clinicops.core.models import Clinic
from clinicops.kpis.registry import (
    Drilldown,
    Metric,
    Source,
    Unit,
    by_local_day,
    day_bounds,
    register,
)

from .models import Claim


def _entered(clinic: Clinic, first: date, last: date):  # type: ignore[no-untyped-def]
    start, end = day_bounds(clinic, first)[0], day_bounds(clinic, last)[1]
    return Claim.objects.filter(
        clinic=clinic, first_scrubbed_at__gte=start, first_scrubbed_at__lt=end
    )


def clean_claim_rate_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(claims clean on their first pass, claims that entered the scrubber) that local day."""
    counts = _entered(clinic, day, day).aggregate(
        n=Count("pk", filter=Q(first_pass_clean=True)), d=Count("pk")
    )
    return counts["n"], counts["d"]


def clean_claim_rate_range(clinic: Clinic, first: date, last: date) -> dict[date, tuple[int, int]]:
    """`clean_claim_rate_parts` for every local day first..last in one GROUP BY."""
    rows = by_local_day(
        Claim.objects.filter(clinic=clinic),
        "first_scrubbed_at",
        clinic=clinic,
        first=first,
        last=last,
        n=Count("pk", filter=Q(first_pass_clean=True)),
        d=Count("pk"),
    )
    return {day: (row["n"], row["d"]) for day, row in rows.items()}


def clean_claim_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """Every claim that entered the scrubber in the period; those not clean first, with the
    edits they failed on their latest run."""
    claims = list(
        _entered(clinic, first, last)
        .select_related("patient", "payer")
        .order_by("first_pass_clean", "first_scrubbed_at", "pk")
    )
    return Drilldown(
        columns=(
            "Clean on first pass",
            "First scrubbed",
            "Claim",
            "Patient MRN",
            "Payer",
            "Status",
            "Edits failed (latest run)",
        ),
        rows=tuple(
            (
                "yes" if c.first_pass_clean else "no",
                c.first_scrubbed_at.astimezone(clinic.tz) if c.first_scrubbed_at else None,
                c.control_number,
                c.patient.mrn,
                c.payer.name if c.payer else "Self-pay",
                c.get_status_display(),
                ", ".join(f["code"] for f in c.edit_failures)
                or ("manually changed" if c.manually_changed else ""),
            )
            for c in claims
        ),
        patient_ids=tuple(c.patient_id for c in claims),
        caption="Claims that entered the scrubber: those not clean on the first pass first",
    )


register(
    Metric(
        key="clean_claim_rate",
        label="Clean claim rate",
        unit=Unit.PERCENT,
        compute=clean_claim_rate_parts,
        compute_range=clean_claim_rate_range,
        drilldown=clean_claim_drilldown,
        sources=(Source("revenue.Claim", clinic="clinic", day="first_scrubbed_at"),),
        higher_is_better=True,
        default_target=Decimal(95),
        description="Claims that passed every scrubber edit on the first pass / claims scrubbed.",
        definition=(
            "Claims that passed every scrubber edit on their first pass with no manual change "
            "before it, divided by the claims that entered the scrubber, by the clinic-local "
            "day of their first scrub. A claim rebuilt after its coding was reopened, or "
            "changed by hand before its first scrub, counts as not clean. Self-pay claims "
            "(billed to the patient) never enter the scrubber and are in neither part."
        ),
    )
)
