"""What the revenue views share."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.fields import parse_id
from clinicops.core.web import HtmxHttpRequest

from ..services import RevenueError


def id_or_404(value: Any) -> int:
    parsed = parse_id(str(value))
    if parsed is None:
        raise Http404
    return parsed


def record_list_view(request: HtmxHttpRequest, object_type: str, summary: str, clinic: Any) -> None:
    """A list of patients' records was shown (no single patient: the list is the object)."""
    audit.record(
        actor=request.user,
        action=AuditEvent.Action.VIEW,
        object_type=object_type,
        clinic=clinic,
        summary=summary,
    )


def add_service_error(form: forms.Form, error: RevenueError) -> None:
    """A refused write shown on the form: on the field it names when the form has that field,
    else as a form-wide error."""
    form.add_error(error.field if error.field in form.fields else None, error.message)
