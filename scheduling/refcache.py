"""Scheduling's reference data, cached: what a day's grid needs besides its appointments.

The day view reads, for a clinic and a day: the providers with a template in effect, their
templates and blocks, their time off, the clinic's closure, the active appointment types and
the provider list of the filter. These change a few times a week, and every front desk click
on the day view read them again (seven queries). They are kept in the cache under a version
that any change to the models below replaces (clinicops.core.refcache). Appointments are
never cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model

from clinicops.core.models import Clinic, Staff
from clinicops.core.refcache import Reference

from .models import (
    AppointmentType,
    ClinicClosure,
    ProviderTimeOff,
    ScheduleTemplate,
    TemplateBlock,
    VisitTypeCopay,
)

REFERENCE = Reference("scheduling")


def cached(name: str, compute: Callable[[], Any]) -> Any:
    return REFERENCE.cached(name, compute)


def held(name: str, compute: Callable[[], Any]) -> Any:
    """`cached`, also kept in the process (`Reference.held`): for values only read."""
    return REFERENCE.held(name, compute)


def bump() -> None:
    REFERENCE.bump()


def watch() -> None:
    user = get_user_model()
    REFERENCE.watch(
        (
            AppointmentType,
            ScheduleTemplate,
            TemplateBlock,
            ProviderTimeOff,
            ClinicClosure,
            VisitTypeCopay,
            Staff,
            Clinic,
            user,
        ),
        m2m=(TemplateBlock.appointment_types.through, Staff.clinics.through, user.groups.through),
    )
