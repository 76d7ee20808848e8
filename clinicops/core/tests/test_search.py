"""What the front desk types, and what it finds."""

from __future__ import annotations

import datetime as dt

import pytest

from clinicops.core.models import Patient
from clinicops.core.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def found(query: str) -> set[int]:
    return set(Patient.objects.search(query).values_list("pk", flat=True))


def test_a_whole_mrn_that_also_reads_as_a_date_still_finds_the_patient(clinic) -> None:
    # 10276095 also parses as MMDDYYYY (10/27/6095); it must still find the MRN.
    patient = PatientFactory(clinic=clinic)
    Patient.objects.filter(pk=patient.pk).update(mrn="10276095")
    assert found("10276095") == {patient.pk}


def test_eight_digits_find_a_date_of_birth_typed_without_separators(clinic) -> None:
    patient = PatientFactory(clinic=clinic, date_of_birth=dt.date(1984, 3, 7))
    assert patient.pk in found("03071984")
    assert found("03/07/1984") == {patient.pk}
    assert found("1984-03-07") == {patient.pk}


def test_every_seeded_mrn_finds_its_patient(clinic) -> None:
    patients = PatientFactory.create_batch(20, clinic=clinic)
    for patient in patients:
        assert patient.pk in found(patient.mrn), patient.mrn


def test_phone_numbers_match_on_their_last_ten_digits(clinic) -> None:
    patient = PatientFactory(clinic=clinic, phone="+1 (617) 555-0142")
    assert found("6175550142") == {patient.pk}
    assert found("617-555-0142") == {patient.pk}
    assert found("16175550142") == {patient.pk}


def test_names_in_either_order_and_with_a_comma(clinic) -> None:
    jo = PatientFactory(clinic=clinic, first_name="Joanna", last_name="Smithers")
    PatientFactory(clinic=clinic, first_name="Mark", last_name="Smith")
    assert jo.pk in found("smi")
    assert found("smithers, jo") == {jo.pk}
    assert found("jo smith") == {jo.pk}
    assert found("smithers jo") == {jo.pk}


@pytest.mark.parametrize("query", ["", "   ", "%", "_", "((", "'; drop table core_patient;--"])
def test_odd_input_finds_nothing_and_breaks_nothing(clinic, query: str) -> None:
    PatientFactory(clinic=clinic, last_name="Ng")
    assert found(query) == set()
