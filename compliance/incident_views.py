"""Incidents: report, list, the incident page (triage, analysis, actions, links, closing) and
the manager's monthly counts. Thin: a form, a service from `incidents`, the page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.fields import parse_id
from clinicops.core.models import User
from clinicops.core.web import HtmxHttpRequest, current_clinic

from . import flags, incidents, selectors, services
from . import incident_states as states
from .forms import AuditSearchForm
from .incident_forms import (
    ActionForm,
    AnalysisForm,
    CancelActionForm,
    CompleteActionForm,
    IncidentForm,
    LinkEventForm,
    LinkFlagForm,
    MoveForm,
    ReasonForm,
    ReassignActionForm,
    TriageForm,
    VerifyActionForm,
)
from .models import CorrectiveAction, Flag, Incident

DETAIL = "compliance/incident_detail.html"
MAX_SEARCH_ROWS = 25


def _user(request: HtmxHttpRequest) -> User:
    return cast(User, request.user)


def _incident(request: HtmxHttpRequest, pk: int) -> Incident:
    """The incident if it belongs to one of the user's clinics, else 404."""
    incident_id = parse_id(str(pk))
    found = (
        incidents.visible_incidents(_user(request))
        .filter(pk=incident_id)
        .select_related("clinic", "patient", "reported_by", "lead", "closed_by")
        .first()
        if incident_id
        else None
    )
    if found is None:
        raise Http404("No such incident.")
    return found


def _action(request: HtmxHttpRequest, pk: int) -> CorrectiveAction:
    action_id = parse_id(str(pk))
    found = (
        CorrectiveAction.objects.filter(
            pk=action_id, incident__in=incidents.visible_incidents(_user(request))
        )
        .select_related("incident", "incident__clinic")
        .first()
        if action_id
        else None
    )
    if found is None:
        raise Http404("No such action.")
    return found


# ---- list, report, monthly ------------------------------------------------------------------


@require_GET
@permission_required("compliance.view_incident", raise_exception=True)
def incident_list(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    status = request.GET.get("status", "open")
    if status not in ("open", "all", *Incident.Status.values):
        status = "open"
    mine = request.GET.get("mine") == "1"
    rows = list(
        incidents.incident_list(clinic, status=status, mine=_user(request) if mine else None)[:200]
    )
    statuses = [("open", "Open"), ("all", "All"), *Incident.Status.choices]
    return render(
        request,
        "compliance/incident_list.html",
        {
            "clinic": clinic,
            "incidents": rows,
            "status": status,
            "statuses": statuses,
            "mine": mine,
        },
    )


@require_http_methods(["GET", "POST"])
@permission_required("compliance.add_incident", raise_exception=True)
def incident_create(request: HtmxHttpRequest) -> HttpResponse:
    """Report an incident; `?flag=<id>` starts from a flag of the inbox and links it."""
    clinic = current_clinic(request)
    user = _user(request)
    flag = _flag_to_convert(request)
    if request.method == "GET":
        initial: dict[str, Any] = {}
        if flag is not None:
            initial = {
                "title": flag.description[:80],
                "description": flag.description,
                "location": flag.page,
                "patient_mrn": flag.patient.mrn if flag.patient else "",
            }
        form = IncidentForm(initial=initial, user=user, clinic=clinic)
        return _create_page(request, form, clinic, flag)
    form = IncidentForm(request.POST, user=user, clinic=clinic)
    if not form.is_valid():
        return _create_page(request, form, clinic, flag)
    data = form.cleaned_data
    try:
        outcome = incidents.report_incident(
            actor=user,
            clinic=clinic,
            kind=data["kind"],
            title=data["title"],
            description=data["description"],
            location=data["location"],
            occurred_at=data["occurred_at"],
            category=data["category"],
            harm=data["harm"],
            patient=form.patient,
            witnesses=data["witnesses"],
            immediate_action=data["immediate_action"],
            submission_key=data["submission_key"],
            flag=flag,
        )
    except incidents.Refused as refused:
        _refusal_on(form, refused)
        return _create_page(request, form, clinic, flag)
    incident = outcome.obj
    if outcome.replayed:
        messages.info(
            request,
            f"Already reported as incident {incident.pk}. This was sent twice; nothing new "
            "was stored.",
        )
    else:
        messages.success(
            request,
            f"Incident {incident.pk} reported: “{incident.title}”, "
            f"{incident.get_category_display().lower()}, {incident.get_harm_display().lower()}"
            + (f", linked to flag {flag.pk}" if flag is not None else "")
            + ".",
        )
    if request.user.has_perm("compliance.view_incident"):
        return redirect("compliance:incident_detail", pk=incident.pk)
    return redirect("home")


def _flag_to_convert(request: HtmxHttpRequest) -> Flag | None:
    raw = request.GET.get("flag") or request.POST.get("flag") or ""
    if not raw:
        return None
    flag_id = parse_id(raw)
    if not request.user.has_perm("compliance.view_flag") or flag_id is None:
        raise Http404("No such flag.")
    flag = flags.visible_flag(_user(request), flag_id).first()
    if flag is None:
        raise Http404("No such flag.")
    return flag


def _create_page(
    request: HtmxHttpRequest, form: IncidentForm, clinic: Any, flag: Flag | None
) -> HttpResponse:
    return render(
        request, "compliance/incident_form.html", {"form": form, "clinic": clinic, "flag": flag}
    )


def _year(raw: str | None, today: date) -> int:
    year = parse_id(raw or "")
    return year if year is not None and 2000 <= year <= 2199 else today.year


@require_GET
@permission_required("compliance.view_incident", raise_exception=True)
def incident_monthly(request: HtmxHttpRequest) -> HttpResponse:
    """Counts per clinic-local month of occurrence, by category and by harm."""
    clinic = current_clinic(request)
    year = _year(request.GET.get("year"), clinic.today())
    by_category = incidents.monthly_by_category(clinic, year)
    by_harm = incidents.monthly_by_harm(clinic, year)
    month_names = [date(year, m, 1) for m in by_category.months]
    return render(
        request,
        "compliance/incident_monthly.html",
        {
            "clinic": clinic,
            "year": year,
            "previous_year": year - 1,
            "next_year": year + 1 if year < clinic.today().year else None,
            "by_category": by_category,
            "by_harm": by_harm,
            "months": month_names,
            "chart": _chart(by_harm),
        },
    )


HARM_COLOURS = {
    "death": "harm-death",
    "severe": "harm-severe",
    "moderate": "harm-moderate",
    "mild": "harm-mild",
    "no_harm": "harm-none",
    "unknown": "harm-unknown",
    "not_reached": "harm-not-reached",
}


def _chart(table: incidents.MonthlyTable) -> dict[str, Any]:
    """A stacked bar per month (harm levels), as SVG rectangles computed here."""
    width, height, left, bottom, bar = 640, 220, 36, 24, 30
    top = max(table.totals) if table.totals and max(table.totals) > 0 else 1
    step = (width - left) / 12
    plot = height - bottom - 10
    bars = []
    for index in range(12):
        x = left + index * step + (step - bar) / 2
        y = float(height - bottom)
        for value, label, per_month, _ in table.rows:
            n = per_month[index]
            if not n:
                continue
            h = plot * n / top
            y -= h
            bars.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "w": bar,
                    "h": round(h, 1),
                    "css": HARM_COLOURS.get(value, "harm-unknown"),
                    "title": f"{label}: {n}",
                }
            )
    ticks = sorted({0, top, (top + 1) // 2})
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "labels": [
            {"x": round(left + i * step + step / 2, 1), "y": height - 6, "text": m}
            for i, m in enumerate("JFMAMJJASOND")
        ],
        "ticks": [
            {"y": round(height - bottom - plot * t / top, 1), "text": t, "x": left - 6}
            for t in ticks
        ],
        "axis_y": height - bottom,
        "left": left,
        "legend": [(HARM_COLOURS[v], label) for v, label in Incident.Harm.choices],
        "empty": table.total == 0,
    }


# ---- the incident page ----------------------------------------------------------------------


def _detail(request: HtmxHttpRequest, incident: Incident, **bound: Any) -> HttpResponse:
    """The incident page, with any bound (invalid) form in place of its blank one."""
    user = _user(request)
    clinic = incident.clinic
    status = incident.status
    actions = list(incident.actions.select_related("owner", "verified_by"))
    today = clinic.today()
    forms_by_action: dict[int, dict[str, forms.Form]] = {}
    for action in actions:
        forms_by_action[action.pk] = {
            "done": bound.get(f"done_{action.pk}")
            or CompleteActionForm(prefix=f"a{action.pk}-done"),
            "verify": bound.get(f"verify_{action.pk}")
            or VerifyActionForm(prefix=f"a{action.pk}-verify"),
            "cancel": bound.get(f"cancel_{action.pk}")
            or CancelActionForm(prefix=f"a{action.pk}-cancel"),
            "reassign": bound.get(f"reassign_{action.pk}")
            or ReassignActionForm(
                prefix=f"a{action.pk}-reassign",
                clinic=clinic,
                initial={"owner": action.owner_id, "due_date": action.due_date},
            ),
        }
    pending = [a for a in actions if not a.is_finished]
    context: dict[str, Any] = {
        "incident": incident,
        "clinic": clinic,
        "moves": states.moves_from(status),
        "actions": [
            {"action": a, "overdue": a.is_overdue(today), "forms": forms_by_action[a.pk]}
            for a in actions
        ],
        "pending_actions": len(pending),
        "can_close_plainly": status == Incident.Status.ACTING
        and not pending
        and any(a.status == CorrectiveAction.Status.VERIFIED for a in actions),
        "triage_form": bound.get("triage")
        or TriageForm(
            prefix="triage",
            clinic=clinic,
            initial={
                "expected": status,
                "category": incident.category,
                "harm": incident.harm,
                "lead": user.pk
                if incidents.leads_for(clinic).filter(pk=user.pk).exists()
                else None,
            },
        ),
        "close_form": bound.get("close")
        or ReasonForm(prefix="close", initial={"expected": status}),
        "reopen_form": bound.get("reopen")
        or ReasonForm(prefix="reopen", initial={"expected": status}),
        "analysis_form": bound.get("analysis")
        or AnalysisForm(prefix="rca", initial=AnalysisForm.initial_for(incident)),
        "action_form": bound.get("action") or ActionForm(prefix="action", clinic=clinic),
        "event_form": bound.get("event") or LinkEventForm(prefix="event"),
        "move_error": bound.get("move_error"),
        "analysis_open": status in states.ANALYSIS_STATES,
        "actions_open": status in states.ACTION_STATES,
        "linked_events": incidents.linked_events(user, incident),
        "linked_flags": list(incident.flags.order_by("pk")),
        "history": selectors.audit_rows(user, incidents.history(incident)[:200]),
    }
    if incident.patient_id:
        audit.record(
            actor=user,
            action=AuditEvent.Action.VIEW,
            obj=incident,
            patient=incident.patient_id,
            clinic=incident.clinic_id,
            summary=f"Incident {incident.pk} naming a patient",
        )
    return render(request, DETAIL, context)


@require_GET
@permission_required("compliance.view_incident", raise_exception=True)
def incident_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _incident(request, pk))


def _done(request: HtmxHttpRequest, incident_id: int, message: str, replayed: bool) -> HttpResponse:
    if replayed:
        messages.info(request, f"{message} This was sent twice; nothing changed the second time.")
    else:
        messages.success(request, message)
    return redirect("compliance:incident_detail", pk=incident_id)


@require_POST
@permission_required("compliance.change_incident", raise_exception=True)
def incident_triage(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)
    form = TriageForm(request.POST, prefix="triage", clinic=incident.clinic)
    if not form.is_valid():
        return _detail(request, incident, triage=form)
    data = form.cleaned_data
    try:
        outcome = incidents.triage(
            actor=_user(request),
            incident=incident,
            priority=data["priority"],
            lead=data["lead"],
            category=data["category"],
            harm=data["harm"],
            note=data["note"],
            expected=data["expected"],
        )
    except (incidents.Refused, states.IllegalMove) as refused:
        _refusal_on(form, refused)
        return _detail(request, incident, triage=form)
    stored = outcome.obj
    return _done(
        request,
        stored.pk,
        f"Incident {stored.pk} triaged: {stored.get_priority_display().lower()} priority, led by "
        f"{stored.lead.display_name if stored.lead else '—'}, "
        f"{stored.get_harm_display().lower()}.",
        outcome.replayed,
    )


MOVE_VIEWS: dict[str, Callable[..., incidents.Outcome[Incident]]] = {
    "investigate": incidents.start_investigation,
    "plan": incidents.finish_analysis,
}


@require_POST
@permission_required("compliance.change_incident", raise_exception=True)
def incident_move(request: HtmxHttpRequest, pk: int, move: str) -> HttpResponse:
    """Moves without fields: start the investigation, finish the analysis."""
    if move not in MOVE_VIEWS:
        raise Http404("No such step.")
    incident = _incident(request, pk)
    form = MoveForm(request.POST)
    form.is_valid()
    try:
        outcome = MOVE_VIEWS[move](
            actor=_user(request), incident=incident, expected=form.cleaned_data.get("expected", "")
        )
    except (incidents.Refused, states.IllegalMove) as refused:
        return _detail(request, incident, move_error=str(refused))
    stored = outcome.obj
    return _done(
        request,
        stored.pk,
        f"Incident {stored.pk} is now {stored.get_status_display().lower()}.",
        outcome.replayed,
    )


def _refusal_on(form: forms.Form, refused: Exception) -> None:
    """A refused move shown on the form: on the field it names when the form has that field
    (an illegal state move names none), else as a form-wide error."""
    field = getattr(refused, "field", None)
    form.add_error(field if field in form.fields else None, str(refused))


def _reason_move(
    request: HtmxHttpRequest,
    pk: int,
    *,
    prefix: str,
    service: Callable[..., Any],
    message: Callable[[Incident], str],
) -> HttpResponse:
    """Close or reopen: a move that takes a reason, its refusal shown on the move's own form
    (`prefix` names both the form and the detail page's slot for it)."""
    incident = _incident(request, pk)
    form = ReasonForm(request.POST, prefix=prefix)
    if not form.is_valid():
        return _detail(request, incident, **{prefix: form})
    try:
        outcome = service(
            actor=_user(request),
            incident=incident,
            reason=form.cleaned_data["reason"],
            expected=form.cleaned_data["expected"],
        )
    except (incidents.Refused, states.IllegalMove) as refused:
        form.add_error("reason" if isinstance(refused, incidents.Refused) else None, str(refused))
        return _detail(request, incident, **{prefix: form})
    stored = outcome.obj
    return _done(request, stored.pk, message(stored), outcome.replayed)


@require_POST
@permission_required("compliance.change_incident", raise_exception=True)
def incident_close(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _reason_move(
        request,
        pk,
        prefix="close",
        service=incidents.close_incident,
        message=lambda stored: (
            f"Incident {stored.pk} closed"
            + (
                f" with the reason “{stored.close_reason}”."
                if stored.close_reason
                else ": every action verified effective."
            )
        ),
    )


@require_POST
@permission_required("compliance.change_incident", raise_exception=True)
def incident_reopen(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _reason_move(
        request,
        pk,
        prefix="reopen",
        service=incidents.reopen_incident,
        message=lambda stored: (
            f"Incident {stored.pk} reopened ({stored.reopen_count} time"
            f"{'s' if stored.reopen_count != 1 else ''}); it is "
            f"{stored.get_status_display().lower()} again."
        ),
    )


@require_POST
@permission_required("compliance.change_incident", raise_exception=True)
def incident_analysis(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)
    form = AnalysisForm(request.POST, prefix="rca")
    if not form.is_valid():
        return _detail(request, incident, analysis=form)
    try:
        outcome = incidents.save_analysis(
            actor=_user(request),
            incident=incident,
            whys=form.whys(),
            fishbone=form.fishbone(),
            root_cause=form.cleaned_data["root_cause"],
        )
    except (incidents.Refused, states.IllegalMove) as refused:
        form.add_error(None, str(refused))
        return _detail(request, incident, analysis=form)
    stored = outcome.obj
    if outcome.replayed:
        messages.info(request, "The analysis is as it was: nothing changed.")
        return redirect("compliance:incident_detail", pk=stored.pk)
    return _done(
        request,
        stored.pk,
        f"Analysis of incident {stored.pk} saved: {len(stored.whys)} why(s), "
        f"{len(stored.fishbone)} fishbone categor{'y' if len(stored.fishbone) == 1 else 'ies'}"
        f", root cause {'written' if stored.root_cause else 'not written yet'}.",
        False,
    )


@require_POST
@permission_required("compliance.add_correctiveaction", raise_exception=True)
def action_add(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)
    form = ActionForm(request.POST, prefix="action", clinic=incident.clinic)
    if not form.is_valid():
        return _detail(request, incident, action=form)
    data = form.cleaned_data
    try:
        outcome = incidents.add_action(
            actor=_user(request),
            incident=incident,
            kind=data["kind"],
            description=data["description"],
            owner=data["owner"],
            due_date=data["due_date"],
            submission_key=data["submission_key"],
        )
    except (incidents.Refused, states.IllegalMove) as refused:
        _refusal_on(form, refused)
        return _detail(request, incident, action=form)
    action = outcome.obj
    return _done(
        request,
        incident.pk,
        f"Action {action.pk} added: {action.get_kind_display().lower()}, owned by "
        f"{action.owner.display_name}, due {action.due_date:%a %d %b %Y}.",
        outcome.replayed,
    )


def _action_post(
    request: HtmxHttpRequest,
    pk: int,
    name: str,
    form_class: Callable[..., forms.Form],
    call: Callable[[CorrectiveAction, dict[str, Any]], incidents.Outcome[CorrectiveAction]],
    say: Callable[[CorrectiveAction], str],
    *,
    chooses_owner: bool = False,
) -> HttpResponse:
    """One action's form posted: the service called, the page again on bad input or a
    refusal. A form that chooses an owner offers the incident's clinic's people."""
    action = _action(request, pk)
    incident = _incident(request, action.incident_id)
    extra = {"clinic": incident.clinic} if chooses_owner else {}
    form = form_class(request.POST, prefix=f"a{action.pk}-{name}", **extra)
    if not form.is_valid():
        return _detail(request, incident, **{f"{name}_{action.pk}": form})
    try:
        outcome = call(action, form.cleaned_data)
    except (incidents.Refused, states.IllegalMove) as refused:
        _refusal_on(form, refused)
        return _detail(request, incident, **{f"{name}_{action.pk}": form})
    return _done(request, incident.pk, say(outcome.obj), outcome.replayed)


@require_POST
@permission_required("compliance.change_correctiveaction", raise_exception=True)
def action_done(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _action_post(
        request,
        pk,
        "done",
        CompleteActionForm,
        lambda action, data: incidents.complete_action(
            actor=_user(request), action=action, note=data["note"]
        ),
        lambda a: f"Action {a.pk} is {a.get_status_display().lower()}.",
    )


@require_POST
@permission_required("compliance.verify_correctiveaction", raise_exception=True)
def action_verify(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _action_post(
        request,
        pk,
        "verify",
        VerifyActionForm,
        lambda action, data: incidents.verify_action(
            actor=_user(request),
            action=action,
            effective=data["effective"],
            note=data["note"],
            new_due_date=data.get("new_due_date"),
        ),
        lambda a: (
            f"Action {a.pk} is {a.get_status_display().lower()}"
            + (f", due again {a.due_date:%a %d %b %Y}." if a.status == "open" else ".")
        ),
    )


@require_POST
@permission_required("compliance.change_incident", raise_exception=True)
def action_reassign(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """An open action's owner or due date changed, with why."""
    return _action_post(
        request,
        pk,
        "reassign",
        ReassignActionForm,
        lambda action, data: incidents.reassign_action(
            actor=_user(request),
            action=action,
            owner=data["owner"],
            due_date=data["due_date"],
            reason=data["reason"],
        ),
        lambda a: (
            f"Action {a.pk} is owned by {a.owner.display_name}, due {a.due_date:%a %d %b %Y}."
        ),
        chooses_owner=True,
    )


@require_POST
@permission_required("compliance.change_incident", raise_exception=True)
def action_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _action_post(
        request,
        pk,
        "cancel",
        CancelActionForm,
        lambda action, data: incidents.cancel_action(
            actor=_user(request), action=action, reason=data["reason"]
        ),
        lambda a: f"Action {a.pk} is cancelled: {a.cancel_reason}",
    )


# ---- links ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required("compliance.change_incident", raise_exception=True)
@permission_required("audit.view_auditevent", raise_exception=True)
def incident_events(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Find audit events (the audit log's filters) and link one; or link an event by id."""
    incident = _incident(request, pk)
    user = _user(request)
    if request.method == "POST":
        form = LinkEventForm(request.POST, prefix="event")
        if not form.is_valid():
            return _detail(request, incident, event=form)
        try:
            outcome = incidents.link_audit_event(
                actor=user,
                incident=incident,
                event_id=form.cleaned_data["event_id"],
                note=form.cleaned_data["note"],
            )
        except incidents.Refused as refused:
            form.add_error("event_id", str(refused))
            return _detail(request, incident, event=form)
        return _done(
            request,
            incident.pk,
            f"Audit event {outcome.obj.event_id} is linked to incident {incident.pk}.",
            outcome.replayed,
        )
    tz = incident.clinic.tz
    search = AuditSearchForm(request.GET or None, user=user, tz=tz)
    rows: list[selectors.AuditRow] = []
    if search.is_bound and search.is_valid():
        events = selectors.filter_audit_events(
            selectors.visible_audit_events(user), **search.filters()
        )
        rows = selectors.audit_rows(user, events[:MAX_SEARCH_ROWS])
        services.record_audit_log_access(
            actor=user,
            clinic=incident.clinic,
            action=AuditEvent.Action.SEARCH,
            filters=f"for incident {incident.pk}: {search.describe()}",
            patient_ids=search.cleaned_data.get("patient_ids"),
            rows=len(rows),
        )
    linked = set(incident.audit_links.values_list("event_id", flat=True))
    return render(
        request,
        "compliance/incident_events.html",
        {
            "incident": incident,
            "form": search,
            "rows": rows,
            "linked": linked,
            "tz": tz,
            "limit": MAX_SEARCH_ROWS,
        },
    )


@require_POST
@permission_required("compliance.change_incident", raise_exception=True)
def flag_link(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Link a flag of the inbox to an open incident of its clinic."""
    flag_id = parse_id(str(pk))
    flag = flags.visible_flag(_user(request), flag_id).first() if flag_id else None
    if flag is None:
        raise Http404("No such flag.")
    form = LinkFlagForm(request.POST, clinic=flag.clinic)
    if not form.is_valid():
        messages.error(request, "Open incident: choose an open incident of this clinic.")
        return redirect("compliance:flag_detail", pk=flag.pk)
    try:
        outcome = incidents.link_flag(
            actor=_user(request), incident=form.cleaned_data["incident"], flag=flag
        )
    except (incidents.Refused, states.IllegalMove) as refused:
        messages.error(request, str(refused))
        return redirect("compliance:flag_detail", pk=flag.pk)
    return _done(
        request,
        outcome.obj.pk,
        f"Flag {flag.pk} is linked to incident {outcome.obj.pk}.",
        outcome.replayed,
    )
