"""The demo billing seed: claims in every status from checked-out visits; idempotent."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from clinicops.core.models import Coverage
from revenue.models import Claim, Encounter, ExportBatch
from revenue.selectors import coding_queue
from revenue.x12.validate import validate_x12

from .factories import billable_patient, checked_out_visit, coverage_for

pytestmark = pytest.mark.django_db


def test_seed_codes_visits_into_claims_in_many_statuses(clinic, biller, provider, payer):
    payer.payer_id = "60054"
    payer.save()
    today = clinic.today()
    for n in range(70):
        patient = billable_patient(clinic)
        coverage = coverage_for(patient, payer)
        if n % 9 == 0:  # a child on a parent's plan, the subscriber's details missing
            Coverage.objects.filter(pk=coverage.pk).update(
                subscriber_relationship="child", subscriber_name=""
            )
        checked_out_visit(
            clinic,
            provider=provider,
            patient=patient,
            coverage=coverage,
            day=today - dt.timedelta(days=1 + n // 2),
        )
    call_command("seed_revenue", stdout=StringIO())
    statuses = set(Claim.objects.values_list("status", flat=True))
    assert {"scrubbed", "submitted", "accepted", "paid"} <= statuses, statuses
    assert Claim.objects.filter(frequency="7").exists()
    assert ExportBatch.objects.exists()
    for batch in ExportBatch.objects.all():
        assert validate_x12(bytes(batch.content).decode("ascii")) == []
    assert Encounter.objects.filter(status="draft").exists()
    assert coding_queue(clinic).exists()  # the last days are left to code
    # 835s for the claims sent: paid, partial, denied in several buckets, a PLB, a reversal,
    # posted through the importer; balances match the ledger.
    from revenue.models import DenialItem, LedgerEntry, Remittance
    from revenue.services import balances

    assert Remittance.objects.exists()
    assert {"paid", "denied"} <= set(Claim.objects.values_list("status", flat=True))
    assert DenialItem.objects.values("bucket").distinct().count() >= 2
    assert LedgerEntry.objects.filter(kind="provider").exists()
    assert LedgerEntry.objects.filter(reversal=True).exists()
    assert DenialItem.objects.filter(status="appealed").exists()
    assert balances.check()[1] == []
    count = Claim.objects.count()
    remits = Remittance.objects.count()
    rows = LedgerEntry.objects.count()
    call_command("seed_revenue", stdout=StringIO())
    assert Claim.objects.count() == count
    assert (Remittance.objects.count(), LedgerEntry.objects.count()) == (remits, rows)
