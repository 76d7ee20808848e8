"""What the scheduling screens share: the user's appointments, the status names.

Each view renders its whole page, or for an htmx request only the fragment that changed.
"""

from __future__ import annotations

from typing import Any

from clinicops.core.web import HtmxHttpRequest

from ..models import Appointment

Status = Appointment.Status


def _appointments(request: HtmxHttpRequest) -> Any:
    return Appointment.objects.for_user(request.user).select_related(
        "clinic", "patient", "provider__user", "appointment_type", "room", "booked_by"
    )
