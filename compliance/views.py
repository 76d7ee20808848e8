"""The compliance officer's screens: the audit log and its CSV export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, tzinfo
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.db.models import Max, Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinicops.audit.models import AuditEvent
from clinicops.core.web import HtmxHttpRequest, is_fragment

from . import selectors, services
from .forms import AuditSearchForm

PAGE = "compliance/audit_log.html"
EXPORT_BATCH = 2000


def _clinic_tz(request: HttpRequest) -> tzinfo:
    clinic = getattr(request, "clinic", None)
    return clinic.tz if clinic is not None else UTC


@require_GET
@permission_required("audit.view_auditevent", raise_exception=True)
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    tz = _clinic_tz(request)
    form = AuditSearchForm(request.GET, user=request.user, tz=tz)
    context: dict[str, Any] = {
        "form": form,
        "tz": tz,
        "rows": [],
        "older_than": None,
        "newer_than": None,
    }
    if form.is_valid():
        events = selectors.filter_audit_events(
            selectors.visible_audit_events(request.user), **form.filters()
        )
        page = selectors.page_of(
            events, before=form.cleaned_data["before"], after=form.cleaned_data["after"]
        )
        context["older_than"], context["newer_than"] = page.older, page.newer
        context["rows"] = selectors.audit_rows(request.user, page.events)
        services.record_audit_log_access(
            actor=request.user,
            clinic=getattr(request, "clinic", None),
            action=AuditEvent.Action.SEARCH,
            filters=form.describe(),
            patient_ids=form.cleaned_data.get("patient_ids"),
            rows=len(context["rows"]),
        )
    template = f"{PAGE}#htmx-update" if is_fragment(request, target="audit-results") else PAGE
    return render(request, template, context)


@require_GET
@permission_required("audit.view_auditevent", raise_exception=True)
def audit_export(request: HttpRequest) -> HttpResponse:
    tz = _clinic_tz(request)
    form = AuditSearchForm(request.GET, user=request.user, tz=tz)
    if not form.is_valid():
        return render(
            request,
            PAGE,
            {"form": form, "tz": tz, "rows": [], "older_than": None, "newer_than": None},
        )
    events = selectors.filter_audit_events(
        selectors.visible_audit_events(request.user), **form.filters()
    )
    # Export what exists now: events written while the file streams (this export's own audit
    # entry among them) are not in it, and the count in the audit entry is exact.
    head = AuditEvent.objects.aggregate(head=Max("id"))["head"] or 0
    events = selectors.older_than(events, form.cleaned_data["before"]).filter(id__lte=head)
    services.record_audit_log_access(
        actor=request.user,
        clinic=getattr(request, "clinic", None),
        action=AuditEvent.Action.EXPORT,
        filters=form.describe(),
        patient_ids=form.cleaned_data.get("patient_ids"),
        rows=events.count(),
    )
    stamp = timezone.localtime(timezone.now(), tz).strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        _csv_lines(request, events, tz), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_HEADER = (
    "event_id",
    "seq",
    "time",
    "user",
    "action",
    "object",
    "patient",
    "mrn",
    "clinic_id",
    "ip_address",
    "summary",
    "changes",
)


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula (names and summaries are typed in)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_lines(request: HttpRequest, events: QuerySet[AuditEvent], tz: tzinfo) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    batch = list(events[:EXPORT_BATCH])
    while batch:
        for row in selectors.audit_rows(request.user, batch):
            event, patient = row.event, row.patient
            yield writer.writerow(
                _cell(value)
                for value in (
                    event.pk,
                    event.seq,
                    timezone.localtime(event.occurred_at, tz).isoformat(timespec="seconds"),
                    event.actor_label,
                    event.get_action_display(),
                    row.object_label,
                    patient.full_name
                    if patient
                    else (f"#{event.patient_id}" if event.patient_id else ""),
                    patient.mrn if patient else "",
                    event.clinic_id,
                    event.ip_address,
                    event.summary,
                    "; ".join(row.changes),
                )
            )
        last = batch[-1]
        batch = list(
            events.filter(
                Q(occurred_at__lt=last.occurred_at)
                | Q(occurred_at=last.occurred_at, id__lt=last.pk)
            )[:EXPORT_BATCH]
        )
