"""The break-glass banner on every page while a user's emergency access runs."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clinicops.core.models import Patient, User

from . import breakglass


def break_glass(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated or user.is_superuser:
        return {}
    # A callable: the template calls it (one roles query) only where it offers break-glass.
    context: dict[str, Any] = {"may_break_glass": lambda: breakglass.may_break_glass(user)}
    grants = breakglass.current_grants(user)  # cached: no query for a user without any
    if not grants:
        return context
    # Read with the user's clinics on a page (Grant.patient); on their own only elsewhere.
    patients = {g.patient_id: g.patient for g in grants if g.patient is not None}
    if unread := [g.patient_id for g in grants if g.patient is None]:
        patients.update(Patient.objects.in_bulk(unread))
    return {
        **context,
        "break_glass_grants": [
            {"patient": patients[g.patient_id], "expires_at": g.expires_at, "id": g.access_id}
            for g in sorted(grants, key=lambda g: g.expires_at)
            if g.patient_id in patients
        ],
    }
