"""The front desk's writes on the shared model: patients and their coverage."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent

from .models import Clinic, Coverage, Patient, User

# A date of birth further back than this is a typo (1925 for 2025), not a patient.
MAX_AGE_YEARS = 120

COVERAGE_AUDITED_FIELDS = (
    "payer",
    "priority",
    "member_id",
    "group_number",
    "subscriber_relationship",
    "subscriber_name",
    "effective_from",
    "effective_to",
    "eligibility_verified_at",
    "copay_amount",
    "copay_percent",
)

# What a caller may set on a patient; mrn, clinic and the derived phone digits are not theirs.
PATIENT_FIELDS = frozenset(Patient.AUDITED_FIELDS)
COVERAGE_FIELDS = frozenset(COVERAGE_AUDITED_FIELDS)


def date_of_birth_problem(day: date, *, today: date) -> str | None:
    """Why `day` cannot be a living patient's date of birth, or None if it can."""
    if day > today:
        return "Date of birth cannot be in the future."
    try:
        earliest = today.replace(year=today.year - MAX_AGE_YEARS)
    except ValueError:  # 29 February, 120 years before a non-leap year
        earliest = today.replace(year=today.year - MAX_AGE_YEARS, day=28)
    if day < earliest:
        return f"Date of birth is more than {MAX_AGE_YEARS} years ago; check the year."
    return None


def _check_fields(fields: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"Not editable here: {', '.join(sorted(unknown))}")


def _validate_patient(patient: Patient, *, today: date) -> None:
    errors: dict[str, list[str]] = {}
    try:
        patient.full_clean(exclude=["mrn", "phone_digits", "clinic"], validate_unique=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if isinstance(patient.date_of_birth, date):
        problem = date_of_birth_problem(patient.date_of_birth, today=today)
        if problem:
            errors.setdefault("date_of_birth", []).append(problem)
    if errors:
        raise ValidationError(errors)


def register_patient(*, actor: User, clinic: Clinic, **fields: Any) -> Patient:
    """Register a new patient at `clinic`; the MRN comes from the database sequence."""
    _check_fields(fields, PATIENT_FIELDS)
    patient = Patient(clinic=clinic, **fields)
    _validate_patient(patient, today=clinic.today())
    with transaction.atomic():
        patient.save()
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=patient,
            summary=f"Registered patient MRN {patient.mrn}",
            changes={"mrn": patient.mrn, **audit.snapshot(patient, Patient.AUDITED_FIELDS)},
        )
    return patient


def update_patient(*, actor: User, patient: Patient, **fields: Any) -> Patient:
    """Change a patient's demographics; the audit entry holds only what changed."""
    _check_fields(fields, PATIENT_FIELDS)
    with transaction.atomic():
        # Lock the row so the diff is against what is stored now, not what the form loaded.
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        before = audit.snapshot(locked, Patient.AUDITED_FIELDS)
        for name, value in fields.items():
            setattr(locked, name, value)
        _validate_patient(locked, today=locked.clinic.today())
        changes = audit.diff(before, audit.snapshot(locked, Patient.AUDITED_FIELDS))
        if changes:
            locked.save()
            audit.record(
                actor=actor,
                action=AuditEvent.Action.UPDATE,
                obj=locked,
                summary=f"Changed {', '.join(sorted(changes))}",
                changes=changes,
            )
    return locked


def _validate_coverage(coverage: Coverage) -> None:
    try:
        # The end-after-start constraint is checked below with a message a person can act on.
        coverage.full_clean(exclude=["patient"], validate_constraints=False)
    except ValidationError as exc:
        errors = exc.message_dict
    else:
        errors = {}
    ends = coverage.effective_to
    if ends is not None and coverage.effective_from and ends < coverage.effective_from:
        errors.setdefault("effective_to", []).append(
            "The end date must be on or after the start date."
        )
    if errors:
        raise ValidationError(errors)


def add_coverage(
    *, actor: User, patient: Patient, eligibility_verified: bool = False, **fields: Any
) -> Coverage:
    """Add an insurance coverage to a patient."""
    _check_fields(fields, COVERAGE_FIELDS)
    coverage = Coverage(patient=patient, **fields)
    if eligibility_verified:
        coverage.eligibility_verified_at = timezone.now()
    _validate_coverage(coverage)
    with transaction.atomic():
        coverage.save()
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=coverage,
            patient=patient,
            clinic=patient.clinic_id,
            summary=f"Added {coverage.get_priority_display().lower()} coverage",
            changes=audit.snapshot(coverage, COVERAGE_AUDITED_FIELDS),
        )
    return coverage


def update_coverage(
    *, actor: User, coverage: Coverage, eligibility_verified: bool = False, **fields: Any
) -> Coverage:
    """Change a coverage; ticking "eligibility verified" stamps it with the current time."""
    _check_fields(fields, COVERAGE_FIELDS)
    with transaction.atomic():
        locked = Coverage.objects.select_for_update().select_related("patient").get(pk=coverage.pk)
        before = audit.snapshot(locked, COVERAGE_AUDITED_FIELDS)
        for name, value in fields.items():
            setattr(locked, name, value)
        if eligibility_verified:
            locked.eligibility_verified_at = timezone.now()
        _validate_coverage(locked)
        changes = audit.diff(before, audit.snapshot(locked, COVERAGE_AUDITED_FIELDS))
        if changes:
            locked.save()
            audit.record(
                actor=actor,
                action=AuditEvent.Action.UPDATE,
                obj=locked,
                patient=locked.patient,
                clinic=locked.patient.clinic_id,
                summary=f"Changed coverage {', '.join(sorted(changes))}",
                changes=changes,
            )
    return locked


def record_patient_search(
    *, actor: User, clinic: Clinic | None, query: str, patients: list[Patient]
) -> AuditEvent | None:
    """Audit one search that showed patients; the query text itself is PHI and is not kept."""
    if not patients:
        return None
    # One INSERT, atomic on its own: no BEGIN and COMMIT round trips (a read's entry).
    return audit.record(
        actor=actor,
        action=AuditEvent.Action.SEARCH,
        object_type="core.patient",
        clinic=clinic,
        summary=f"Patient search: {len(query)}-character query, {len(patients)} shown",
        changes={"patient_ids": [p.pk for p in patients]},
    )


def confirm_demographics(*, actor: User, patient: Patient) -> Patient:
    """The desk went over the patient's contact details with them: record who and when."""
    with transaction.atomic():
        patient.demographics_confirmed_at = timezone.now()
        patient.demographics_confirmed_by = actor
        patient.save(update_fields=["demographics_confirmed_at", "demographics_confirmed_by"])
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            obj=patient,
            summary="Demographics confirmed with the patient",
            changes={"demographics_confirmed_at": patient.demographics_confirmed_at.isoformat()},
        )
    return patient
