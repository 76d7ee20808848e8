"""Revenue metrics: the clean claim rate (shared/KPIS.md, HFMA MAP Key CL-1); the initial
denial rate, net days in A/R and the net collection rate (issue 14) further down.

A claim counts on the clinic-local day it first entered the scrubber (`first_scrubbed_at`):
the denominator is every claim that entered the scrubber that day, the numerator those that
passed every edit on that first pass with no manual change before it (`first_pass_clean`).
Self-pay claims never enter the scrubber, so they are in neither.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, TruncDate

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

from .models import Claim, LedgerEntry


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


# ---------------------------------------------------------------------------------------------
# Revenue II (issue 14): initial denial rate, net days in A/R, net collection rate.

_MONEY = DecimalField(max_digits=14, decimal_places=2)
_ZERO = Value(Decimal("0"))


def _first_remitted(clinic: Clinic, first: date, last: date):  # type: ignore[no-untyped-def]
    start, end = day_bounds(clinic, first)[0], day_bounds(clinic, last)[1]
    return Claim.objects.filter(
        clinic=clinic, first_remitted_at__gte=start, first_remitted_at__lt=end
    )


def initial_denial_rate_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(claims denied in full or in part on their first remittance, claims first remitted)
    that local day."""
    counts = _first_remitted(clinic, day, day).aggregate(
        n=Count("pk", filter=Q(first_remit_denied=True)), d=Count("pk")
    )
    return counts["n"], counts["d"]


def initial_denial_rate_range(
    clinic: Clinic, first: date, last: date
) -> dict[date, tuple[int, int]]:
    rows = by_local_day(
        Claim.objects.filter(clinic=clinic),
        "first_remitted_at",
        clinic=clinic,
        first=first,
        last=last,
        n=Count("pk", filter=Q(first_remit_denied=True)),
        d=Count("pk"),
    )
    return {day: (row["n"], row["d"]) for day, row in rows.items()}


def initial_denial_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    claims = list(
        _first_remitted(clinic, first, last)
        .select_related("patient", "payer")
        .order_by("-first_remit_denied", "first_remitted_at", "pk")
    )
    return Drilldown(
        columns=("Denied on first remittance", "First remitted", "Claim", "Patient MRN", "Payer"),
        rows=tuple(
            (
                "yes" if c.first_remit_denied else "no",
                c.first_remitted_at.astimezone(clinic.tz) if c.first_remitted_at else None,
                c.control_number,
                c.patient.mrn,
                c.payer.name if c.payer else "Self-pay",
            )
            for c in claims
        ),
        patient_ids=tuple(c.patient_id for c in claims),
        caption="Claims first remitted in the period: those denied first",
    )


def _money_sum(qs, field: str) -> Decimal:  # type: ignore[no-untyped-def]
    total = qs.aggregate(t=Coalesce(Sum(field), _ZERO, output_field=_MONEY))["t"]
    return Decimal(total)


def _ar_claims(clinic: Clinic, end: datetime):  # type: ignore[no-untyped-def]
    return Claim.objects.filter(clinic=clinic, submitted_at__lt=end)


def _window_claims(clinic: Clinic, day: date, end: datetime):  # type: ignore[no-untyped-def]
    return _ar_claims(clinic, end).filter(
        service_date__gt=day - timedelta(days=90), service_date__lte=day
    )


def days_in_ar_parts(clinic: Clinic, day: date) -> tuple[Decimal, Decimal]:
    """(90 x outstanding net A/R at the end of the local day, net charges of the 90 days
    ending that day): A/R over the average daily net charges, kept exact (dividing the charges
    by 90 and rounding them would make each day's denominator, and so every period's figure,
    slightly off). Net A/R: submitted claims' charges minus payments, contractual and other
    adjustments and write-offs posted by then; net charges: the charges of claims with a date
    of service in the window minus the contractual adjustments posted on them by then."""
    end = day_bounds(clinic, day)[1]
    ar = _ar_claims(clinic, end)
    reductions = LedgerEntry.objects.filter(
        claim__in=ar, kind__in=LedgerEntry.REDUCES_BALANCE, posted_at__lt=end
    )
    window = _window_claims(clinic, day, end)
    contractual = LedgerEntry.objects.filter(
        claim__in=window, kind=LedgerEntry.Kind.CONTRACTUAL, posted_at__lt=end
    )
    outstanding = _money_sum(ar, "total_charge") - _money_sum(reductions, "amount")
    net_charges = _money_sum(window, "total_charge") - _money_sum(contractual, "amount")
    return outstanding * 90, net_charges


def days_in_ar_range(
    clinic: Clinic, first: date, last: date
) -> dict[date, tuple[Decimal, Decimal]]:
    """`days_in_ar_parts` of every local day first..last: three GROUP BYs and running sums.

    Each amount counts from a day on: a claim's charges from the local day it was submitted;
    a reduction from the later of its posting day and its claim's submission day; a claim's
    charges in the 90-day window, and the contractual adjustments on it, from the later of
    those days and its date of service, until 90 days after the date of service."""
    tz = clinic.tz
    end = day_bounds(clinic, last)[1]
    submitted = TruncDate("submitted_at", tzinfo=tz)
    ar: dict[date, Decimal] = defaultdict(Decimal)  # outstanding A/R, change from a day on
    charges: dict[date, Decimal] = defaultdict(Decimal)  # 90-day net charges, change
    window = timedelta(days=90)

    def in_window(since: date, service: date, amount: Decimal) -> None:
        if since < service + window:
            charges[max(since, service)] += amount
            charges[service + window] -= amount

    for row in (
        Claim.objects.filter(clinic=clinic, submitted_at__lt=end)
        .annotate(since=submitted)
        .values("since", "service_date")
        .annotate(charge=Sum("total_charge"))
        .order_by()
    ):
        ar[row["since"]] += row["charge"]
        in_window(row["since"], row["service_date"], row["charge"])
    entries = LedgerEntry.objects.filter(
        claim__clinic=clinic, claim__submitted_at__lt=end, posted_at__lt=end
    ).annotate(
        since=Greatest(
            TruncDate("posted_at", tzinfo=tz), TruncDate("claim__submitted_at", tzinfo=tz)
        )
    )
    for reduction in (
        entries.filter(kind__in=LedgerEntry.REDUCES_BALANCE)
        .values("since")
        .annotate(amount=Sum("amount"))
        .order_by()
    ):
        ar[reduction["since"]] -= reduction["amount"]
    for adjustment in (
        entries.filter(kind=LedgerEntry.Kind.CONTRACTUAL)
        .values("since", "claim__service_date")
        .annotate(amount=Sum("amount"))
        .order_by()
    ):
        in_window(adjustment["since"], adjustment["claim__service_date"], -adjustment["amount"])
    outstanding = sum((v for d, v in ar.items() if d < first), Decimal(0))
    net = sum((v for d, v in charges.items() if d < first), Decimal(0))
    found = {}
    day = first
    while day <= last:
        outstanding += ar.get(day, Decimal(0))
        net += charges.get(day, Decimal(0))
        found[day] = (outstanding * 90, net)
        day += timedelta(days=1)
    return found


def days_in_ar_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """The claims outstanding at the end of the period, oldest date of service first."""
    end = day_bounds(clinic, last)[1]
    claims = list(
        _ar_claims(clinic, end).exclude(balance=0).select_related("patient", "payer")
        .order_by("service_date", "pk")[:2000]
    )  # fmt: skip
    return Drilldown(
        columns=("Claim", "Date of service", "Patient MRN", "Payer", "Charges", "Balance now"),
        rows=tuple(
            (
                c.control_number,
                c.service_date,
                c.patient.mrn,
                c.payer.name if c.payer else "Self-pay",
                c.total_charge,
                c.balance,
            )
            for c in claims
        ),
        patient_ids=tuple(c.patient_id for c in claims),
        caption="Submitted claims with a balance, oldest first",
    )


def _cohort(clinic: Clinic, first: date, last: date):  # type: ignore[no-untyped-def]
    return Claim.objects.filter(
        clinic=clinic, service_date__gte=first, service_date__lte=last, submitted_at__isnull=False
    )


def net_collection_rate_parts(clinic: Clinic, day: date) -> tuple[Decimal, Decimal]:
    """(payments net of refunds/reversals, charges minus contractual adjustments) of the
    submitted claims whose date of service is this day: a cohort, so each payment counts
    against the charges it pays (the "lagged window" of the definition)."""
    cohort = _cohort(clinic, day, day)
    paid = LedgerEntry.objects.filter(
        claim__in=cohort,
        kind__in=(LedgerEntry.Kind.PAYMENT, LedgerEntry.Kind.PATIENT_PAYMENT),
    )
    contractual = LedgerEntry.objects.filter(claim__in=cohort, kind=LedgerEntry.Kind.CONTRACTUAL)
    return (
        _money_sum(paid, "amount"),
        _money_sum(cohort, "total_charge") - _money_sum(contractual, "amount"),
    )


def net_collection_rate_range(
    clinic: Clinic, first: date, last: date
) -> dict[date, tuple[Decimal, Decimal]]:
    """`net_collection_rate_parts` of every date of service first..last: one GROUP BY of the
    cohorts' charges and one of their ledger."""
    cohort = _cohort(clinic, first, last)
    found: dict[date, tuple[Decimal, Decimal]] = {
        row["service_date"]: (Decimal(0), row["charge"])
        for row in cohort.values("service_date").annotate(charge=Sum("total_charge")).order_by()
    }
    for row in (
        LedgerEntry.objects.filter(claim__in=cohort)
        .values("claim__service_date")
        .annotate(
            paid=Sum(
                "amount",
                filter=Q(kind__in=(LedgerEntry.Kind.PAYMENT, LedgerEntry.Kind.PATIENT_PAYMENT)),
                default=_ZERO,
            ),
            contractual=Sum("amount", filter=Q(kind=LedgerEntry.Kind.CONTRACTUAL), default=_ZERO),
        )
        .order_by()
    ):
        paid, charge = found[row["claim__service_date"]]
        found[row["claim__service_date"]] = (paid + row["paid"], charge - row["contractual"])
    return found


def net_collection_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    claims = list(
        _cohort(clinic, first, last)
        .select_related("patient", "payer")
        .order_by("service_date", "pk")
    )
    return Drilldown(
        columns=(
            "Claim",
            "Date of service",
            "Patient MRN",
            "Payer",
            "Charges",
            "Paid",
            "Adjusted",
            "Balance",
        ),
        rows=tuple(
            (
                c.control_number,
                c.service_date,
                c.patient.mrn,
                c.payer.name if c.payer else "Self-pay",
                c.total_charge,
                c.paid_amount,
                c.adjusted_amount,
                c.balance,
            )
            for c in claims
        ),
        patient_ids=tuple(c.patient_id for c in claims),
        caption="Submitted claims with a date of service in the period",
    )


register(
    Metric(
        key="initial_denial_rate",
        label="Initial denial rate",
        unit=Unit.PERCENT,
        compute=initial_denial_rate_parts,
        compute_range=initial_denial_rate_range,
        drilldown=initial_denial_drilldown,
        sources=(Source("revenue.Claim", clinic="clinic", day="first_remitted_at"),),
        higher_is_better=False,
        default_target=Decimal(5),
        description="Claims denied in full or in part on their first remittance / claims remitted.",
        definition=(
            "Claims with a zero-paid line (or a zero-paid claim) carrying a CO, PI or OA denial "
            "reason on their first remittance, divided by the claims first remitted, by the "
            "clinic-local day of that first remittance. Contractual adjustments (CO-45) and "
            "patient responsibility (PR) are not denials; which reason codes are denials is "
            "the CARC table's denial bucket. A reversal is never a first remittance."
        ),
    )
)

register(
    Metric(
        key="days_in_ar",
        label="Net days in A/R",
        unit=Unit.DAYS,
        compute=days_in_ar_parts,
        compute_range=days_in_ar_range,
        drilldown=days_in_ar_drilldown,
        sources=(
            Source("revenue.Claim", clinic="clinic", day="service_date", onward=True),
            Source("revenue.LedgerEntry", clinic="clinic", day="posted_at", onward=True),
        ),
        higher_is_better=False,
        default_target=Decimal(35),
        description="Outstanding net A/R / average daily net charges of the last 90 days.",
        definition=(
            "For one day: the net A/R outstanding at the end of the clinic-local day (submitted "
            "claims' charges minus payments, contractual and other adjustments and write-offs "
            "posted by then; denials stay in A/R until written off) divided by the net charges "
            "(charges minus contractual adjustments) of the claims submitted by that day with a "
            "date of service in the 90 days ending it, over 90 (self-pay visits and claims not "
            "yet submitted are in neither). For a longer period the engine adds the "
            "days' parts, so the figure is the period's average A/R over its average daily net "
            "charges, not the value at the period's end that shared/KPIS.md names: the last "
            "day alone gives that."
        ),
    )
)

register(
    Metric(
        key="net_collection_rate",
        label="Net collection rate",
        unit=Unit.PERCENT,
        compute=net_collection_rate_parts,
        compute_range=net_collection_rate_range,
        drilldown=net_collection_drilldown,
        sources=(
            Source("revenue.Claim", clinic="clinic", day="service_date"),
            Source("revenue.LedgerEntry", clinic="clinic", day="claim__service_date"),
        ),
        higher_is_better=True,
        default_target=Decimal(95),
        description="(Payments - refunds) / (charges - contractual adjustments).",
        definition=(
            "Payments (payer and patient) net of reversals and refunds, divided by charges "
            "minus contractual adjustments, for the submitted claims whose date of service "
            "falls in the period: each payment counts against the charges it pays, whenever "
            "it arrives (the lag of the definition), so a recent period rises as its "
            "remittances come in."
        ),
    )
)
