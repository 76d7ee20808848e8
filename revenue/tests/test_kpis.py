"""clean_claim_rate: parts per clinic and day, the range form, and the drill-down."""

from __future__ import annotations

import pytest

from clinicops.kpis import registry
from revenue.kpis import clean_claim_drilldown, clean_claim_rate_parts, clean_claim_rate_range
from revenue.models import Claim, PayerBillingSettings

from .factories import checked_out_visit

pytestmark = pytest.mark.django_db


def test_clean_claim_rate_counts_first_pass_clean_claims(
    clinic, other_clinic, payer, provider, patient, coverage, visit, make_claim, biller
):
    assert registry.get("clean_claim_rate").higher_is_better
    clean = make_claim(visit)
    PayerBillingSettings.objects.filter(payer=payer).update(prior_auth_codes=["99214"])
    second = checked_out_visit(clinic, provider=provider, patient=patient, coverage=coverage)
    held = make_claim(second, lines=(("99214", [1]),))
    assert clean.first_pass_clean is True
    assert held.first_pass_clean is False
    day = clean.first_scrubbed_at.astimezone(clinic.tz).date()
    assert clean_claim_rate_parts(clinic, day) == (1, 2)
    assert clean_claim_rate_range(clinic, day, day) == {day: (1, 2)}
    assert clean_claim_rate_parts(other_clinic, day) == (0, 0)
    # Fixing the held claim later does not make its first pass clean.
    from revenue.services import claims

    claims.update_claim(actor=biller, claim=held, prior_auth_number="A1")
    assert clean_claim_rate_parts(clinic, day) == (1, 2)
    drill = clean_claim_drilldown(clinic, day, day)
    assert [row[0] for row in drill.rows] == ["no", "yes"]
    assert drill.rows[0][2] == held.control_number
    assert set(drill.patient_ids) == {patient.pk}


def test_self_pay_claims_are_not_counted(clinic, provider, billing, fees, make_claim):
    visit = checked_out_visit(clinic, provider=provider)
    claim = make_claim(visit)
    assert claim.is_self_pay
    assert claim.first_scrubbed_at is None
    assert Claim.objects.count() == 1
    assert clean_claim_rate_parts(clinic, clinic.today()) == (0, 0)


# Revenue II: initial denial rate, days in A/R, net collection rate.


def _post(biller, billing, claim, *, deny=False, trace="K1"):
    from revenue.services import remittances
    from revenue.x12.writer_835 import Cas, RemitLine

    from .remits import D, paid_in_full_line, remit, remit_claim

    if deny:
        lines = tuple(
            RemitLine(x.procedure_code, x.charge, D("0"), (Cas("CO", "16", x.charge),),
                      line_id=x.line_id)
            for x in claim.lines.all()
        )  # fmt: skip
    else:
        lines = paid_in_full_line(claim, contractual=D("25"))
    remittances.import_835(actor=biller, content=remit([remit_claim(claim, lines)],
                                                        billing=billing, trace=trace))  # fmt: skip


def test_revenue_ii_metrics_are_registered_with_their_direction():
    assert not registry.get("initial_denial_rate").higher_is_better
    assert not registry.get("days_in_ar").higher_is_better
    assert registry.get("net_collection_rate").higher_is_better


def test_initial_denial_rate_counts_claims_denied_on_their_first_remittance(
    clinic, provider, patient, coverage, visit, make_claim, biller, billing
):
    from revenue.kpis import (
        initial_denial_drilldown,
        initial_denial_rate_parts,
        initial_denial_rate_range,
    )

    from .remits import submit

    paid = submit(make_claim(visit))
    denied = submit(make_claim(checked_out_visit(clinic, provider=provider, patient=patient,
                                                 coverage=coverage)))  # fmt: skip
    _post(biller, billing, paid, trace="P1")
    _post(biller, billing, denied, deny=True, trace="D1")
    # A later payment of the denied claim does not change its first remittance.
    _post(biller, billing, denied, trace="D2")
    denied.refresh_from_db()
    day = denied.first_remitted_at.astimezone(clinic.tz).date()
    assert initial_denial_rate_parts(clinic, day) == (1, 2)
    assert initial_denial_rate_range(clinic, day, day) == {day: (1, 2)}
    drill = initial_denial_drilldown(clinic, day, day)
    assert drill.rows[0][0] == "yes"
    assert drill.rows[0][2] == denied.control_number


def test_days_in_ar_and_net_collection_rate_from_the_ledger(
    clinic, visit, make_claim, biller, billing
):
    from decimal import Decimal

    from revenue.kpis import days_in_ar_parts, net_collection_rate_parts

    from .remits import submit

    claim = submit(make_claim(visit))  # 125.00
    today = clinic.today()
    # (90 x A/R, net charges of the last 90 days): A/R over the average daily net charges
    ar_90, net_charges = days_in_ar_parts(clinic, today)
    assert ar_90 == Decimal("125.00") * 90
    assert net_charges == Decimal("125.00")
    assert net_collection_rate_parts(clinic, claim.service_date) == (0, Decimal("125.00"))
    _post(biller, billing, claim)  # 100 paid, 25 contractual
    ar_90, net_charges = days_in_ar_parts(clinic, today)
    assert ar_90 == 0
    assert net_charges == Decimal("100.00")
    assert net_collection_rate_parts(clinic, claim.service_date) == (
        Decimal("100.00"),
        Decimal("100.00"),
    )
    # Yesterday's figure is as it stood then: nothing posted yet.
    yesterday = today - __import__("datetime").timedelta(days=1)
    if claim.service_date <= yesterday:
        from revenue.models import Claim

        Claim.objects.filter(pk=claim.pk).update(submitted_at=claim.created_at.replace(year=2020))
        assert days_in_ar_parts(clinic, yesterday)[0] == Decimal("125.00") * 90
