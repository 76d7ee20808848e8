"""Scoped reads for the front desk's screens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import QuerySet

from .fields import clean_text
from .models import Clinic, Coverage, Patient, Payer, User

SEARCH_LIMIT = 25


@dataclass(frozen=True)
class PatientSearch:
    query: str
    patients: list[Patient] = field(default_factory=list)
    has_more: bool = False

    @property
    def searched(self) -> bool:
        return bool(self.query)


def search_patients(
    *, user: User | AnonymousUser, clinic: Clinic | None, query: str, limit: int = SEARCH_LIMIT
) -> PatientSearch:
    """At most `limit` of the current clinic's patients matching `query`, and whether more do."""
    query = " ".join(clean_text(query).split())[:100]
    if not query or clinic is None:
        return PatientSearch(query=query)
    found = list(Patient.objects.for_user(user).for_clinic(clinic).search(query)[: limit + 1])
    return PatientSearch(query=query, patients=found[:limit], has_more=len(found) > limit)


def possible_duplicates(
    *,
    user: User | AnonymousUser,
    clinic: Clinic,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    exclude_pk: int | None = None,
) -> QuerySet[Patient]:
    """Patients at `clinic` with the same name (any case) and date of birth."""
    found = (
        Patient.objects.for_user(user)
        .for_clinic(clinic)
        .filter(
            first_name__iexact=first_name.strip(),
            last_name__iexact=last_name.strip(),
            date_of_birth=date_of_birth,
        )
    )
    return found.exclude(pk=exclude_pk) if exclude_pk else found


@dataclass(frozen=True)
class CoverageRow:
    coverage: Coverage
    status: str  # "active", "expired" or "future"

    @property
    def is_active(self) -> bool:
        return self.status == "active"


# The check-in screen's coverage read as one constant statement, the columns of both models
# taken from their fields once: building and compiling the ORM query was most of this read's
# CPU time on a page the desk opens for every patient (docs/benchmarks.md, issue 18).
_COVERAGE_FIELDS = [f.attname for f in Coverage._meta.concrete_fields]
_PAYER_FIELDS = [f.attname for f in Payer._meta.concrete_fields]
_COVERAGE_COLUMNS = ", ".join(
    [f"c.{f.column}" for f in Coverage._meta.concrete_fields]
    + [f"p.{f.column}" for f in Payer._meta.concrete_fields]
)
# Column names from the models, the patient's id a parameter.
_COVERAGE_SQL = f"""
    SELECT {_COVERAGE_COLUMNS}
      FROM core_coverage c JOIN core_payer p ON p.id = c.payer_id
     WHERE c.patient_id = %s
     ORDER BY c.priority, c.effective_from DESC
"""  # noqa: S608


def coverage_rows(*, patient: Patient, today: date) -> list[CoverageRow]:
    """The patient's coverages, primary first, each with its standing on `today`."""
    with connection.cursor() as cursor:
        cursor.execute(_COVERAGE_SQL, [patient.pk])
        found = cursor.fetchall()
    split = len(_COVERAGE_FIELDS)
    rows = []
    for values in found:
        coverage = Coverage.from_db(connection.alias, _COVERAGE_FIELDS, values[:split])
        coverage.payer = Payer.from_db(connection.alias, _PAYER_FIELDS, values[split:])
        coverage.patient = patient
        if coverage.effective_from > today:
            status = "future"
        elif coverage.is_active_on(today):
            status = "active"
        else:
            status = "expired"
        rows.append(CoverageRow(coverage=coverage, status=status))
    return rows


def active_payers() -> QuerySet[Payer]:
    return Payer.objects.filter(is_active=True).order_by("name")
