"""What the patient-flow screens share: the visit lookup, the audit entry, form errors.

Views parse a form, call a service or a selector, and render the page or (for htmx) the
fragment that changed. A refused action answers 200 with the fragment and a message, since
htmx does not swap 4xx bodies; the service has changed nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.fields import parse_id
from clinicops.core.middleware import is_background_poll
from clinicops.core.web import HtmxHttpRequest

from .. import services
from ..models import Step, Visit


def _is_refresh(request: HtmxHttpRequest) -> bool:
    """A board re-rendered by a poll or after an action on it, not opened by someone: its audit
    entry is needed only if it shows other patients than the last one recorded."""
    return is_background_poll(request) or request.method == "POST"


def _expected_step(value: str | None) -> str:
    """The step the form was showing; the checkout form shows "ready for checkout"."""
    return value if value in Step.values else Step.READY_FOR_CHECKOUT


def _pk(value: str | None) -> int:
    """An id from a query string or form; a malformed one is simply not found."""
    number = parse_id(value)
    if number is None:
        raise Http404("Not found.")
    return number


def _visit_for(request: HtmxHttpRequest, pk: int) -> Visit:
    return get_object_or_404(
        Visit.objects.for_user(request.user).select_related(
            "clinic",
            "patient",
            "appointment__provider__user",
            "appointment__appointment_type",
            "room",
            "follow_up__provider__user",
            "coverage__payer",
        ),
        pk=pk,
    )


def _record_view(request: HtmxHttpRequest, visit: Visit, summary: str, *, action: str = "") -> None:
    audit.record(
        actor=request.user,
        action=action or AuditEvent.Action.VIEW,
        obj=visit,
        patient=visit.patient_id,
        clinic=visit.clinic_id,
        summary=summary,
    )


def _first_error(form: Any) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}: {errors[0]}" if label else errors[0]
    return "Check the form and try again."


def _form_error(form: Any, error: services.FlowError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


_LEVELS = {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}
