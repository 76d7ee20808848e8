"""The billing screens: a biller codes a visit and exports a batch through the views."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from revenue.models import Claim, ClaimStatus, Encounter, ExportBatch

pytestmark = pytest.mark.django_db


def test_biller_codes_a_visit_and_exports_from_the_screens(client, biller, visit):
    client.force_login(biller)
    queue = client.get(reverse("revenue:queue"))
    assert queue.status_code == 200
    assert "Quimby" in queue.content.decode()
    response = client.post(reverse("revenue:start", args=[visit.pk]))
    encounter = Encounter.objects.get(visit=visit)
    assert response.url == reverse("revenue:charge_entry", args=[encounter.pk])
    page = client.get(response.url)
    assert page.status_code == 200
    assert "Service lines" in page.content.decode()
    client.post(
        reverse("revenue:set_diagnoses", args=[encounter.pk]),
        {"diagnoses": "e11.9, I10", "prior_auth_number": ""},
    )
    added = client.post(
        reverse("revenue:add_line", args=[encounter.pk]),
        {"procedure_code": "99213", "modifiers": "25", "units": "1", "pointers": "1 2"},
        headers={"HX-Request": "true"},
    )
    assert "Added line 1: 99213 x1, 125.00." in added.content.decode()
    ready = client.post(reverse("revenue:mark_ready", args=[encounter.pk]))
    claim = Claim.objects.get(encounter=encounter)
    assert ready.url == reverse("revenue:claim", args=[claim.pk])
    assert claim.status == ClaimStatus.SCRUBBED
    detail = client.get(ready.url).content.decode()
    assert f"CLM*{claim.control_number}*125" in detail  # the 837 preview
    assert "Passed" in detail
    batches = client.get(reverse("revenue:batches"))
    assert "1 scrubbed claim" in batches.content.decode()
    exported = client.post(reverse("revenue:export"), {"payer": ""}, follow=True)
    assert "1 claim, 1 line." in exported.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED
    assert ExportBatch.objects.count() == 1
    assert "Nothing to export" in client.get(reverse("revenue:batches")).content.decode()
    assert AuditEvent.objects.filter(action="export", object_type="revenue.exportbatch").exists()


def test_a_bad_line_keeps_what_was_typed_and_names_the_field(client, biller, visit):
    client.force_login(biller)
    client.post(reverse("revenue:start", args=[visit.pk]))
    encounter = Encounter.objects.get(visit=visit)
    response = client.post(
        reverse("revenue:add_line", args=[encounter.pk]),
        {"procedure_code": "99213", "modifiers": "25 59", "units": "2", "pointers": "3"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Pointer 3 names no diagnosis" in body
    assert 'value="25 59"' in body
    assert 'value="2"' in body
    assert not encounter.lines.exists()


def test_code_search_as_you_type(client, biller, visit, fees):
    client.force_login(biller)
    icd = client.get(reverse("revenue:code_search"), {"kind": "icd", "diagnoses": "I10 E11.6"})
    assert "E11.610" in icd.content.decode()
    cpt = client.get(reverse("revenue:code_search"), {"kind": "cpt", "procedure_code": "9921"})
    assert "99213" in cpt.content.decode()
    assert "99214" in cpt.content.decode()


def test_held_claims_show_their_failed_edits_and_the_fix(client, biller, visit, make_claim):
    claim = make_claim(visit, diagnoses=("I10",), lines=(("99213", [1]),))
    Claim.objects.filter(pk=claim.pk).update(diagnoses=["E11"])
    client.force_login(biller)
    client.post(reverse("revenue:claim_scrub", args=[claim.pk]))
    listing = client.get(reverse("revenue:claims"), {"status": "held"}).content.decode()
    assert "Held claims (1)" in listing
    assert "Diagnosis 1" in listing
    assert reverse("revenue:charge_entry", args=[claim.encounter_id]) in listing


def test_claim_list_filters(client, biller, visit, make_claim):
    claim = make_claim(visit)
    client.force_login(biller)
    assert (
        claim.control_number
        in client.get(reverse("revenue:claims"), {"status": "scrubbed"}).content.decode()
    )
    assert (
        claim.control_number
        not in client.get(reverse("revenue:claims"), {"status": "paid"}).content.decode()
    )
    assert (
        claim.control_number
        not in client.get(reverse("revenue:claims"), {"min_age": "30"}).content.decode()
    )


def test_status_change_from_the_claim_page_needs_a_reason(
    client, clinic, biller, visit, make_claim
):
    claim = make_claim(visit)
    client.force_login(biller)
    response = client.post(
        reverse("revenue:claim_status", args=[claim.pk]), {"status": "closed", "reason": ""}
    )
    assert response.status_code == 200
    assert "Say why" in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SCRUBBED


def test_roles(client, make_user, visit, make_claim):
    claim = make_claim(visit)
    desk = make_user(roles.FRONT_DESK, username="desk")
    client.force_login(desk)
    assert client.get(reverse("revenue:queue")).status_code == 403
    manager = make_user(roles.MANAGER, username="mgr")
    client.force_login(manager)
    assert client.get(reverse("revenue:claim", args=[claim.pk])).status_code == 200
    assert client.post(reverse("revenue:export")).status_code == 403
    provider = make_user(roles.PROVIDER, username="doc")
    client.force_login(provider)
    assert client.get(reverse("revenue:queue")).status_code == 200
    assert client.get(reverse("revenue:claims")).status_code == 403


def test_imports_through_the_screens(client, biller, clinic, payer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from revenue.models import FeeSchedule, ProcedureCode

    client.force_login(biller)
    bad = SimpleUploadedFile("codes.csv", b"code,description\n99213,Visit\n9921,Short\n")
    page = client.post(reverse("revenue:import_codes"), {"file": bad}).content.decode()
    assert "Nothing was imported: 1 problem" in page
    assert "9921" in page
    assert not ProcedureCode.objects.exists()
    good = SimpleUploadedFile("codes.csv", b"code,description\n99213,Visit\n")
    page = client.post(reverse("revenue:import_codes"), {"file": good}).content.decode()
    assert "1 created" in page
    fees = SimpleUploadedFile("fees.csv", b"procedure_code,charge\n99213,130.00\n")
    page = client.post(
        reverse("revenue:import_fees"),
        {"file": fees, "name": "BVHP 2027", "payer": payer.pk, "effective_from": "2027-01-01"},
    ).content.decode()
    assert "1 fee." in page
    assert FeeSchedule.objects.get().items.get().charge == 130
    # A form error keeps what was typed.
    fees = SimpleUploadedFile("fees.csv", b"procedure_code,charge\n99213,130.00\n")
    page = client.post(
        reverse("revenue:import_fees"),
        {
            "file": fees,
            "name": "Typed name",
            "effective_from": "2027-02-01",
            "effective_to": "2027-01-01",
        },
    ).content.decode()
    assert "The end date is before the start date." in page
    assert 'value="Typed name"' in page
