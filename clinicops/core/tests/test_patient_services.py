"""The front desk's services and selectors: registration, edits, coverage, search audit."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from clinicops.audit.models import AuditEvent
from clinicops.core import roles, selectors, services
from clinicops.core.models import Patient, luhn_check_digit
from clinicops.core.tests.factories import (
    ClinicFactory,
    CoverageFactory,
    PatientFactory,
    PayerFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db

FIELDS = {
    "first_name": "Jolene",
    "last_name": "Smithers",
    "date_of_birth": date(1988, 3, 14),
    "sex": Patient.Sex.FEMALE,
    "phone": "(555) 201-3344",
}


def test_register_patient_assigns_an_mrn_and_audits_the_snapshot(clinic, front_desk) -> None:
    patient = services.register_patient(actor=front_desk, clinic=clinic, **FIELDS)

    assert patient.pk is not None
    assert patient.clinic == clinic
    assert luhn_check_digit(patient.mrn[:-1]) == int(patient.mrn[-1])
    assert patient.phone_digits == "5552013344"
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE)
    assert event.actor == front_desk
    assert event.object_type == "core.patient"
    assert event.object_id == str(patient.pk)
    assert event.patient_id == patient.pk
    assert event.clinic_id == clinic.pk
    assert event.changes["mrn"] == patient.mrn
    assert event.changes["first_name"] == "Jolene"
    assert event.changes["date_of_birth"] == "1988-03-14"
    assert set(Patient.AUDITED_FIELDS) <= set(event.changes)


@pytest.mark.parametrize(
    ("dob", "message"),
    [
        (date.today() + timedelta(days=2), "cannot be in the future"),  # noqa: DTZ011
        (date(1850, 1, 1), "more than 120 years ago"),
    ],
)
def test_register_patient_refuses_an_impossible_birth_date(
    clinic, front_desk, dob: date, message: str
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        services.register_patient(
            actor=front_desk, clinic=clinic, **{**FIELDS, "date_of_birth": dob}
        )
    assert message in str(excinfo.value.message_dict["date_of_birth"])
    assert Patient.objects.count() == 0
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CREATE).exists()


def test_register_patient_refuses_fields_a_caller_may_not_set(clinic, front_desk) -> None:
    with pytest.raises(TypeError, match="mrn"):
        services.register_patient(actor=front_desk, clinic=clinic, mrn="123", **FIELDS)
    assert Patient.objects.count() == 0


def test_register_patient_refuses_a_missing_last_name(clinic, front_desk) -> None:
    with pytest.raises(ValidationError) as excinfo:
        services.register_patient(actor=front_desk, clinic=clinic, **{**FIELDS, "last_name": ""})
    assert "last_name" in excinfo.value.message_dict
    assert Patient.objects.count() == 0


def test_date_of_birth_rule_handles_29_february() -> None:
    today = date(2025, 2, 28)
    assert services.date_of_birth_problem(date(1905, 2, 28), today=today) is None
    assert services.date_of_birth_problem(date(1905, 2, 27), today=today) is not None
    # 1900 was not a leap year: 120 years before 29 February 2020 is taken as 28 February 1900.
    leap_today = date(2020, 2, 29)
    assert services.date_of_birth_problem(date(1900, 2, 28), today=leap_today) is None
    assert services.date_of_birth_problem(date(1900, 2, 27), today=leap_today) is not None
    assert services.date_of_birth_problem(leap_today, today=leap_today) is None


def test_update_patient_audits_only_what_changed(clinic, front_desk) -> None:
    patient = PatientFactory(clinic=clinic, first_name="Ana", phone="(555) 000-1111")

    services.update_patient(
        actor=front_desk, patient=patient, first_name="Anna", phone="(555) 000-1111"
    )

    patient.refresh_from_db()
    assert patient.first_name == "Anna"
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE)
    assert event.changes == {"first_name": ["Ana", "Anna"]}
    assert event.patient_id == patient.pk
    assert "first_name" in event.summary


def test_update_patient_without_a_change_writes_nothing(clinic, front_desk) -> None:
    patient = PatientFactory(clinic=clinic)
    before = patient.updated_at
    services.update_patient(actor=front_desk, patient=patient, first_name=patient.first_name)
    patient.refresh_from_db()
    assert patient.updated_at == before
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE).exists()


def test_update_patient_with_bad_data_changes_nothing(clinic, front_desk) -> None:
    patient = PatientFactory(clinic=clinic, email="a@example.com")
    with pytest.raises(ValidationError):
        services.update_patient(actor=front_desk, patient=patient, email="not-an-email")
    patient.refresh_from_db()
    assert patient.email == "a@example.com"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_edits_of_different_fields_both_survive(attempt: int) -> None:
    # given two clerks editing the same patient at the same moment, one the phone, one the email
    clinic = ClinicFactory(name="Riverside Family Clinic")
    clerk_a = StaffFactory(roles=[roles.FRONT_DESK], clinics=[clinic]).user
    clerk_b = StaffFactory(roles=[roles.FRONT_DESK], clinics=[clinic]).user
    patient = PatientFactory(clinic=clinic, phone="(555) 000-0000", email="old@example.com")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def edit(actor, **fields) -> None:
        try:
            stale = Patient.objects.get(pk=patient.pk)  # what each clerk's form loaded
            barrier.wait()
            services.update_patient(actor=actor, patient=stale, **fields)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    # when both save at once
    threads = [
        threading.Thread(target=edit, args=(clerk_a,), kwargs={"phone": "(555) 111-1111"}),
        threading.Thread(target=edit, args=(clerk_b,), kwargs={"email": "new@example.com"}),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then neither change is lost, and each audit entry holds only its own change
    assert errors == []
    patient.refresh_from_db()
    assert (patient.phone, patient.email) == ("(555) 111-1111", "new@example.com")
    changes = sorted(
        AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE).values_list(
            "changes", flat=True
        ),
        key=str,
    )
    assert changes == [
        {"email": ["old@example.com", "new@example.com"]},
        {"phone": ["(555) 000-0000", "(555) 111-1111"]},
    ]


def test_add_coverage_is_audited_against_the_patient(clinic, front_desk) -> None:
    patient = PatientFactory(clinic=clinic)
    payer = PayerFactory(name="Aetna")

    coverage = services.add_coverage(
        actor=front_desk,
        patient=patient,
        payer=payer,
        member_id="W123",
        effective_from=date(2025, 1, 1),
        eligibility_verified=True,
    )

    assert coverage.eligibility_verified_at is not None
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, object_type="core.coverage")
    assert event.patient_id == patient.pk
    assert event.clinic_id == clinic.pk
    assert event.changes["member_id"] == "W123"
    assert event.changes["payer"] == payer.pk


def test_coverage_that_ends_before_it_starts_is_refused(clinic, front_desk) -> None:
    patient = PatientFactory(clinic=clinic)
    with pytest.raises(ValidationError) as excinfo:
        services.add_coverage(
            actor=front_desk,
            patient=patient,
            payer=PayerFactory(),
            member_id="W1",
            effective_from=date(2025, 5, 1),
            effective_to=date(2025, 4, 1),
        )
    assert "effective_to" in excinfo.value.message_dict
    assert not patient.coverages.exists()


def test_update_coverage_stamps_verification_and_audits_the_diff(clinic, front_desk) -> None:
    coverage = CoverageFactory(patient=PatientFactory(clinic=clinic), member_id="OLD1")

    services.update_coverage(
        actor=front_desk, coverage=coverage, member_id="NEW1", eligibility_verified=True
    )

    coverage.refresh_from_db()
    assert coverage.member_id == "NEW1"
    assert coverage.eligibility_verified_at is not None
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE)
    assert event.changes["member_id"] == ["OLD1", "NEW1"]
    assert "eligibility_verified_at" in event.changes
    assert event.patient_id == coverage.patient_id


def test_a_search_that_shows_patients_is_audited_without_the_query(clinic, front_desk) -> None:
    patients = PatientFactory.create_batch(2, clinic=clinic)
    event = services.record_patient_search(
        actor=front_desk, clinic=clinic, query="smith, jo", patients=patients
    )
    assert event is not None
    assert event.action == AuditEvent.Action.SEARCH
    assert "smith" not in event.summary
    assert "9-character" in event.summary
    assert event.changes == {"patient_ids": [p.pk for p in patients]}
    assert event.clinic_id == clinic.pk


def test_a_search_that_shows_nobody_is_not_audited(clinic, front_desk) -> None:
    assert (
        services.record_patient_search(actor=front_desk, clinic=clinic, query="zz", patients=[])
        is None
    )
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).exists()


def test_search_selector_stays_in_the_clinic_and_caps_results(
    clinic, other_clinic, make_user
) -> None:
    user = make_user(roles.FRONT_DESK, clinics=[clinic, other_clinic])
    PatientFactory.create_batch(26, clinic=clinic, last_name="Quorra")
    PatientFactory(clinic=other_clinic, last_name="Quorra")

    found = selectors.search_patients(user=user, clinic=clinic, query="quo")

    assert len(found.patients) == 25
    assert found.has_more
    assert {p.clinic_id for p in found.patients} == {clinic.pk}
    exact = selectors.search_patients(user=user, clinic=other_clinic, query="quorra")
    assert len(exact.patients) == 1
    assert not exact.has_more


def test_search_selector_never_leaves_the_users_clinics(clinic, other_clinic, make_user) -> None:
    user = make_user(roles.FRONT_DESK)  # works only in `clinic`
    PatientFactory(clinic=other_clinic, last_name="Quorra")
    found = selectors.search_patients(user=user, clinic=other_clinic, query="quorra")
    assert found.patients == []


def test_duplicates_match_name_in_any_case_and_date_of_birth(clinic, other_clinic, front_desk):
    same = PatientFactory(
        clinic=clinic, first_name="Jo", last_name="Smith", date_of_birth=date(1990, 1, 2)
    )
    PatientFactory(
        clinic=clinic, first_name="Jo", last_name="Smith", date_of_birth=date(1990, 1, 3)
    )
    PatientFactory(
        clinic=other_clinic, first_name="Jo", last_name="Smith", date_of_birth=date(1990, 1, 2)
    )

    found = selectors.possible_duplicates(
        user=front_desk,
        clinic=clinic,
        first_name=" JO ",
        last_name="smith",
        date_of_birth=date(1990, 1, 2),
    )
    assert list(found) == [same]
    assert not selectors.possible_duplicates(
        user=front_desk,
        clinic=clinic,
        first_name="Jo",
        last_name="Smith",
        date_of_birth=date(1990, 1, 2),
        exclude_pk=same.pk,
    ).exists()


def test_coverage_rows_flag_expired_and_future_coverage(clinic) -> None:
    patient = PatientFactory(clinic=clinic)
    today = date(2025, 6, 1)
    CoverageFactory(
        patient=patient, effective_from=date(2024, 1, 1), effective_to=date(2024, 12, 31)
    )
    CoverageFactory(patient=patient, effective_from=date(2025, 7, 1), priority=2)
    CoverageFactory(patient=patient, effective_from=date(2025, 1, 1), priority=3)

    statuses = {
        row.coverage.priority: row.status
        for row in selectors.coverage_rows(patient=patient, today=today)
    }

    assert statuses == {1: "expired", 2: "future", 3: "active"}


def test_coverage_rows_are_primary_first_then_newest_with_their_payer_in_one_query(
    clinic, django_assert_num_queries
) -> None:
    # given: a patient's lapsed and current primary and a secondary; another patient's
    patient = PatientFactory(clinic=clinic)
    lapsed = CoverageFactory(
        patient=patient, effective_from=date(2023, 1, 1), effective_to=date(2023, 12, 31)
    )
    current = CoverageFactory(patient=patient, effective_from=date(2025, 1, 1))
    secondary = CoverageFactory(patient=patient, effective_from=date(2024, 1, 1), priority=2)
    CoverageFactory(patient=PatientFactory(clinic=clinic))

    # when
    with django_assert_num_queries(1):
        rows = selectors.coverage_rows(patient=patient, today=date(2025, 6, 1))
        payers = [row.coverage.payer.name for row in rows]
        patients = {row.coverage.patient for row in rows}

    # then
    assert [row.coverage for row in rows] == [current, lapsed, secondary]
    assert [row.status for row in rows] == ["active", "expired", "active"]
    assert payers == [c.payer.name for c in (current, lapsed, secondary)]
    assert patients == {patient}
