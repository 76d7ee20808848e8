"""837P export: pyx12-valid files for varied claims, stored byte for byte, claims submitted,
control numbers unique and increasing under concurrent exports, and the command."""

from __future__ import annotations

import datetime as dt
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from clinicops.core.models import Coverage
from clinicops.core.tests.factories import ClinicFactory, PayerFactory
from revenue.models import Claim, ClaimStatus, ExportBatch
from revenue.services import claims, export
from revenue.x12.validate import validate_x12

from .factories import (
    BillingProfileFactory,
    PayerBillingSettingsFactory,
    billable_patient,
    checked_out_visit,
    coverage_for,
    provider_staff,
    standard_fees,
)

pytestmark = pytest.mark.django_db

TWELVE = (
    "E11.9",
    "I10",
    "J45.909",
    "E78.5",
    "M54.50",
    "R51.9",
    "Z00.00",
    "K21.9",
    "F41.1",
    "G43.909",
    "N39.0",
    "R05.9",
)


def test_varied_claims_export_as_one_pyx12_valid_interchange(
    clinic, payer, provider, visit, make_claim, biller
):
    other_payer = PayerFactory(name="Acme Mutual Insurance", payer_id="ACME2")
    PayerBillingSettingsFactory(payer=other_payer, claim_filing_indicator="BL")
    make_claim(visit, modifiers=("25", "59"))
    # A child on a parent's plan (patient != subscriber), 12 diagnoses, several lines, and a
    # secondary coverage (2320/2330 other payer).
    child = billable_patient(
        clinic, first_name="Sam", last_name="Doe", date_of_birth=dt.date(2015, 3, 4)
    )
    primary = coverage_for(
        child,
        other_payer,
        subscriber_relationship="child",
        subscriber_name="Doe, Jordan",
        subscriber_date_of_birth=dt.date(1980, 1, 2),
        subscriber_sex="F",
        subscriber_address_line1="12 Oak Avenue",
        subscriber_city="Springfield",
        subscriber_state="IL",
        subscriber_postal_code="627041234",
    )
    coverage_for(child, payer, priority=Coverage.Priority.SECONDARY)
    child_visit = checked_out_visit(clinic, provider=provider, patient=child, coverage=primary)
    dependent = make_claim(
        child_visit,
        diagnoses=TWELVE,
        lines=(("99214", [1, 2, 3, 4]), ("36415", [5]), ("81002", [12, 11]), ("90471", [6])),
    )
    assert dependent.status == ClaimStatus.SCRUBBED, dependent.edit_failures
    result = export.export_batch(actor=biller, clinic=clinic)
    assert result is not None
    assert (result.claims, result.lines) == (2, 5)
    text = bytes(result.batch.content).decode("ascii")
    assert validate_x12(text) == []
    assert text.count("GS*HC*") == 2  # one functional group per payer
    assert "REF*6R*" + dependent.control_number + "-1~" in text
    assert "PAT*19~" in text
    assert "SBR*S*" in text
    for claim in Claim.objects.all():
        assert claim.status == ClaimStatus.SUBMITTED
        assert claim.batch_id == result.batch.pk
        assert claim.events.filter(to_status=ClaimStatus.SUBMITTED).count() == 1


def test_nothing_to_export_writes_nothing(clinic, billing, biller):
    assert export.export_batch(actor=biller, clinic=clinic) is None
    assert not ExportBatch.objects.exists()


def test_one_payer_only(clinic, payer, visit, make_claim, biller):
    claim = make_claim(visit)
    other = PayerFactory(name="Acme Mutual Insurance", payer_id="ACME2")
    assert export.export_batch(actor=biller, clinic=clinic, payer=other) is None
    result = export.export_batch(actor=biller, clinic=clinic, payer=payer)
    assert result is not None
    assert result.claims == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED


def test_corrected_and_void_claims_link_to_the_original_and_validate(
    clinic, visit, make_claim, biller
):
    original = make_claim(visit)
    export.export_batch(actor=biller, clinic=clinic)
    claims.transition(actor=biller, claim=original, to_status="accepted", reason="277CA accepted")
    corrected = claims.replace_claim(
        actor=biller,
        claim=original,
        frequency="7",
        payer_claim_number="PCN998877",
        reason="wrong units",
    )
    assert corrected.original_id == original.pk
    assert corrected.frequency == "7"
    assert corrected.status == ClaimStatus.SCRUBBED, corrected.edit_failures
    assert corrected.control_number != original.control_number
    result = export.export_batch(actor=biller, clinic=clinic)
    text = bytes(result.batch.content).decode("ascii")
    assert "REF*F8*PCN998877~" in text
    assert ":7*" in text
    assert validate_x12(text) == []
    void = claims.replace_claim(
        actor=biller,
        claim=original,
        frequency="8",
        payer_claim_number="PCN998877",
        reason="billed in error",
    )
    assert void.frequency == "8"
    assert void.original_id == original.pk


def test_the_batch_downloads_byte_for_byte(client, clinic, visit, make_claim, biller, tmp_path):
    make_claim(visit)
    out = tmp_path / "batch.x12"
    call_command("export_837", "--clinic", clinic.short_name, "--out", str(out), stdout=StringIO())
    batch = ExportBatch.objects.get()
    client.force_login(biller)
    response = client.get(f"/billing/batches/{batch.pk}/download/")
    assert response.status_code == 200
    assert response.content == out.read_bytes() == bytes(batch.content)
    assert response["Content-Disposition"].endswith(f'filename="{batch.filename}"')


def test_command_prints_counts_and_nothing_to_export(clinic, visit, make_claim, tmp_path):
    make_claim(visit)
    out = tmp_path / "first.x12"
    stdout = StringIO()
    call_command("export_837", "--clinic", clinic.short_name, "--out", str(out), stdout=stdout)
    assert "1 claim, 1 line," in stdout.getvalue()
    assert out.read_bytes().startswith(b"ISA*")
    again = tmp_path / "second.x12"
    stdout = StringIO()
    call_command("export_837", "--clinic", clinic.short_name, "--out", str(again), stdout=stdout)
    assert "Nothing to export" in stdout.getvalue()
    assert not again.exists()
    with pytest.raises(CommandError, match="No clinic"):
        call_command("export_837", "--clinic", "nowhere", "--out", str(again))
    with pytest.raises(CommandError, match="No payer"):
        call_command(
            "export_837", "--clinic", clinic.short_name, "--payer", "NOPE", "--out", str(again)
        )


def _export_clinic(n: int):
    clinic = ClinicFactory(name=f"Concurrent {n}", short_name=f"C{n}")
    BillingProfileFactory(clinic=clinic)
    standard_fees(clinic)
    payer = PayerFactory(name=f"Payer {n}", payer_id=f"PAY{n}")
    provider = provider_staff(clinic, n=1000 + n)
    claims_made = []
    for k in range(2):
        patient = billable_patient(clinic)
        coverage = coverage_for(patient, payer)
        visit = checked_out_visit(clinic, provider=provider, patient=patient, coverage=coverage)
        from revenue.services import charges

        enc = charges.start_encounter(actor="test", visit=visit)
        charges.set_diagnoses(actor="test", encounter=enc, diagnoses=["I10"])
        charges.add_line(actor="test", encounter=enc, code="99213", pointers=[1])
        claims_made.append(charges.mark_ready(actor="test", encounter=enc))
        assert claims_made[-1].status == ClaimStatus.SCRUBBED, claims_made[-1].edit_failures
        del k
    return clinic


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_control_numbers_unique_and_increasing_under_concurrent_exports():
    clinics = [_export_clinic(n) for n in range(6)]
    for _round in range(3):
        results: list[ExportBatch] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(clinics))

        def run(clinic, barrier=barrier, results=results, errors=errors):
            try:
                barrier.wait()
                result = export.export_batch(actor="thread", clinic=clinic)
                if result is not None:
                    results.append(result.batch)
            except BaseException as error:
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(c,)) for c in clinics]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        # Each round: new scrubbed claims for the next one.
        for clinic in clinics:
            provider = provider_staff(clinic, n=5000 + clinic.pk * 10 + _round)
            patient = billable_patient(clinic)
            from revenue.services import charges

            visit = checked_out_visit(
                clinic,
                provider=provider,
                patient=patient,
                coverage=coverage_for(patient, clinic.claims.first().payer),
            )
            enc = charges.start_encounter(actor="test", visit=visit)
            charges.set_diagnoses(actor="test", encounter=enc, diagnoses=["I10"])
            charges.add_line(actor="test", encounter=enc, code="99213", pointers=[1])
            charges.mark_ready(actor="test", encounter=enc)
    batches = list(ExportBatch.objects.order_by("created_at", "pk"))
    assert len(batches) == 18
    numbers = []
    for batch in batches:
        text = bytes(batch.content).decode("ascii")
        isa13 = int(text.split("~")[0].split("*")[13])
        gs06 = int(text.split("GS*")[1].split("~")[0].split("*")[5])
        st02 = int(text.split("ST*837*")[1].split("*")[0])
        assert isa13 == batch.interchange_control_number
        numbers += [isa13, gs06, st02]
        assert isa13 < gs06 < st02
    assert len(numbers) == len(set(numbers))
    # Later rounds got larger numbers than earlier ones.
    by_round = [
        sorted(b.interchange_control_number for b in batches[i * 6 : (i + 1) * 6]) for i in range(3)
    ]
    assert by_round[0][-1] < by_round[1][0]
    assert by_round[1][-1] < by_round[2][0]
