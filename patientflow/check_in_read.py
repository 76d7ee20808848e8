"""The check-in screen's appointment, read in one constant statement.

The desk opens the check-in screen for every patient, and building and compiling its ORM query
(the patient and who last confirmed their demographics, the provider and their user, the visit
type, the visit if there is one, and the open balance's subquery) was about 1.2 ms of CPU on
every request (docs/benchmarks.md, issue 18). The statement is built once per process from the
models' fields, with the balance's SQL compiled once from the expression billing registers
(`balances`): after every app is ready, so the first request builds it. test_check_in_read holds
it to what the scoped ORM queryset reads (as test_board_reads holds the board).
"""

from __future__ import annotations

import functools
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser
from django.db import connection, models

from clinicops.core.models import Patient, Staff, User
from scheduling.models import Appointment, AppointmentType

from . import balances
from .models import Visit

# Each joined table's alias and model, in the order of the statement's columns. The
# appointment's table keeps its name: the balance's compiled SQL refers to it by name.
_JOINED: list[tuple[str, type[models.Model]]] = [
    ("scheduling_appointment", Appointment),
    ("p", Patient),
    ("confirmed_by", User),
    ("s", Staff),
    ("su", User),
    ("t", AppointmentType),
    ("v", Visit),
]
_FIELDS = {alias: [f.attname for f in model._meta.concrete_fields] for alias, model in _JOINED}
_COLUMNS = ", ".join(
    f"{alias}.{f.column}" for alias, model in _JOINED for f in model._meta.concrete_fields
)
# Scoped as `for_user` scopes appointments: the user's clinics, every clinic for a superuser.
_SQL = f"""
    SELECT {_COLUMNS}, {{balance}}
      FROM scheduling_appointment
      JOIN core_patient p ON p.id = scheduling_appointment.patient_id
      LEFT JOIN core_user confirmed_by ON confirmed_by.id = p.demographics_confirmed_by_id
      JOIN core_staff s ON s.id = scheduling_appointment.provider_id
      JOIN core_user su ON su.id = s.user_id
      JOIN scheduling_appointmenttype t ON t.id = scheduling_appointment.appointment_type_id
      LEFT JOIN patientflow_visit v ON v.appointment_id = scheduling_appointment.id
     WHERE scheduling_appointment.id = %s
       AND (%s OR scheduling_appointment.clinic_id = ANY(%s))
"""  # noqa: S608 (column names from the models; the balance's SQL compiled by the ORM)


@functools.cache
def _statement() -> tuple[str, tuple[Any, ...], bool]:
    """The statement, the balance's parameters (before the statement's own), and whether
    billing answers with a balance (without it the column is NULL and there is none)."""
    expression = balances.patient_balance_expression("patient_id")
    if expression is None:
        return _SQL.format(balance="NULL"), (), False
    query = Appointment.objects.annotate(open_balance=expression).query
    sql, params = query.get_compiler(connection.alias).compile(query.annotations["open_balance"])
    return _SQL.format(balance=sql), tuple(params), True


def check_in_appointment(*, user: User | AnonymousUser, pk: int) -> Appointment | None:
    """The appointment `pk` among the user's, with its patient (and who confirmed their
    demographics), provider, type, visit and, where billing answers, `open_balance`: as
    `Appointment.objects.for_user(user).select_related(...)` gives them. None when there is
    no such appointment, or it is not the user's."""
    if not user.is_authenticated:
        return None  # for_user's none()
    sql, balance_params, has_balance = _statement()
    clinics = [] if user.is_superuser else list(user.clinic_ids)
    params = (*balance_params, pk, user.is_superuser, clinics)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    appointment, patient, confirmed_by, staff, provider_user, visit_type, visit = _instances(row)
    # Related to each other as select_related relates them: following a relation the screen
    # shows reads nothing more.
    Appointment.patient.field.set_cached_value(appointment, patient)
    Patient.demographics_confirmed_by.field.set_cached_value(patient, confirmed_by)
    Appointment.provider.field.set_cached_value(appointment, staff)
    Staff.user.field.set_cached_value(staff, provider_user)
    Appointment.appointment_type.field.set_cached_value(appointment, visit_type)
    # The reverse one-to-one: a cached None is "no visit" (appointment.visit raises
    # DoesNotExist without a query).
    Visit.appointment.field.remote_field.set_cached_value(appointment, visit)
    if visit is not None:
        Visit.appointment.field.set_cached_value(visit, appointment)
    if has_balance:
        appointment.open_balance = row[-1]
    return cast(Appointment, appointment)


def _instances(row: tuple[Any, ...]) -> list[Any]:
    """The row's instance of each joined model; None for a left join that found nothing."""
    instances: list[Any] = []
    start = 0
    for alias, model in _JOINED:
        names = _FIELDS[alias]
        values = row[start : start + len(names)]
        start += len(names)
        instances.append(
            None if values[0] is None else model.from_db(connection.alias, names, values)
        )
    return instances
