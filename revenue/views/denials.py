"""The denial work queue: the list (filters, sort, bulk assign, overdue highlighted), one work
item (notes, status, correct & resubmit, appeal with a printable letter, write off), and the
Pareto chart of denial dollars with drill-down to the items."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.audit import audit
from clinicops.core.models import Clinic, Payer, User
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from .. import selectors
from ..charts import pareto_chart
from ..forms import (
    AssignForm,
    DenialFilterForm,
    DenialStatusForm,
    NoteForm,
    ParetoForm,
    ResubmitForm,
    WriteOffForm,
)
from ..models import AdjustmentCode, BillingProfile, DenialItem
from ..services import RevenueError, denials
from .common import add_service_error, id_or_404, record_list_view

QUEUE = "revenue/denials.html"
ITEM = "revenue/denial.html"
LETTER = "revenue/appeal_letter.html"
PARETO = "revenue/pareto.html"
PAGE_SIZE = 200


def _owners(clinic: Clinic) -> list[tuple[str, str]]:
    users = (
        User.objects.filter(
            is_active=True,
            staff__clinics=clinic,
            groups__permissions__codename="work_denial",
        )
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
    return [(str(u.pk), u.get_full_name() or u.get_username()) for u in users]


@never_cache
@require_GET
@permission_required("revenue.view_denialitem", raise_exception=True)
def queue(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    today = clinic.today()
    owners = _owners(clinic)
    form = DenialFilterForm(request.GET or {"state": "open"}, owners=owners)
    data: dict[str, Any] = form.cleaned_data if form.is_valid() else {"state": "open"}
    payer = data.get("payer")
    qs = selectors.denial_queue(
        request.user,  # type: ignore[arg-type]
        clinic,
        today=today,
        state=data.get("state", "open") or "",
        bucket=data.get("bucket") or "",
        payer_id=payer.pk if payer else None,
        owner=data.get("owner") or "",
        sort=data.get("sort") or "due_date",
        first=data.get("period_from"),
        last=data.get("period_to"),
    )
    total = qs.count()
    rows = list(qs[:PAGE_SIZE])
    for row in rows:
        row.age_days = (today - row.denied_on).days  # type: ignore[attr-defined]
        row.overdue = row.is_open and row.due_date < today  # type: ignore[attr-defined]
    record_list_view(request, "revenue.denialitem", f"Denial queue ({total} items)", clinic)
    context = {
        "clinic": clinic,
        "form": form,
        "rows": rows,
        "total": total,
        "shown": len(rows),
        "owners": owners,
        "payers": Payer.objects.filter(
            pk__in=DenialItem.objects.filter(clinic=clinic).values("payer_id")
        ),
        "today": today,
        "tab": "denials",
        "assign_error": "",
    }
    return render_page(request, QUEUE, "denial-results", context)


@never_cache
@require_POST
@permission_required("revenue.work_denial", raise_exception=True)
def assign(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    owners = _owners(clinic)
    open_ids = list(
        DenialItem.objects.for_user(request.user)
        .filter(clinic=clinic, status__in=DenialItem.OPEN)
        .values_list("pk", flat=True)
    )
    form = AssignForm(request.POST, item_ids=open_ids, owners=owners)
    back = request.POST.get("next") or reverse("revenue:denials")
    if not back.startswith("/"):
        back = reverse("revenue:denials")
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, f"Nothing was assigned: {errors}")
        return redirect(back)
    owner_id = form.cleaned_data["owner"]
    owner = User.objects.filter(pk=int(owner_id)).first() if owner_id else None
    try:
        changed = denials.assign(
            actor=request.user, items=form.cleaned_data["items"], owner=owner, clinic_id=clinic.pk
        )
    except RevenueError as error:
        messages.error(request, f"Nothing was assigned: {error.message}")
        return redirect(back)
    stored = DenialItem.objects.filter(pk__in=form.cleaned_data["items"], owner=owner).count()
    who = (owner.get_full_name() or owner.get_username()) if owner else "nobody"
    messages.success(
        request,
        f"{stored} work item{'s' if stored != 1 else ''} now with {who} ({changed} changed).",
    )
    return redirect(back)


def _item(request: HtmxHttpRequest, pk: int) -> DenialItem:
    try:
        return (
            DenialItem.objects.for_user(request.user)
            .select_related("claim", "claim_line", "patient", "payer", "owner", "remittance")
            .get(pk=id_or_404(pk))
        )
    except DenialItem.DoesNotExist:
        raise Http404 from None


def _texts(item: DenialItem) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    carc = selectors.code_texts(item.carcs, AdjustmentCode.Kind.CARC)
    rarc = selectors.code_texts(item.rarcs, AdjustmentCode.Kind.RARC)
    return (
        [
            (c, carc.get(c.split("-", 1)[-1], "Unknown code (not in the code table)"))
            for c in item.carcs
        ],
        [(r, rarc.get(r, "Unknown code (not in the code table)")) for r in item.rarcs],
    )


def _render_item(
    request: HtmxHttpRequest, item: DenialItem, status: int = 200, **forms: Any
) -> HttpResponse:
    today = item.clinic.today()
    carcs, rarcs = _texts(item)
    context = {
        "item": item,
        "carcs": carcs,
        "rarcs": rarcs,
        "overdue": item.is_open and item.due_date < today,
        "age_days": (today - item.denied_on).days,
        "next_statuses": [
            (s, DenialItem.Status(s).label) for s in denials.next_statuses(item.status)
        ],
        "status_form": forms.get("status_form") or DenialStatusForm(),
        "note_form": forms.get("note_form") or NoteForm(),
        "resubmit_form": forms.get("resubmit_form") or ResubmitForm(prefix="resubmit"),
        "writeoff_form": forms.get("writeoff_form") or WriteOffForm(prefix="writeoff"),
        "error": forms.get("error", ""),
        "tab": "denials",
    }
    return render(request, ITEM, context, status=status)


@never_cache
@require_GET
@permission_required("revenue.view_denialitem", raise_exception=True)
def item_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk)
    audit.record_view(request, item, summary=f"Viewed denial {item.pk}")
    return _render_item(request, item)


def _done(request: HtmxHttpRequest, item: DenialItem, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("revenue:denial", pk=item.pk)


@never_cache
@require_POST
@permission_required("revenue.work_denial", raise_exception=True)
def item_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk)
    form = DenialStatusForm(request.POST)
    if not form.is_valid():
        return _render_item(request, item, 422, status_form=form, error="Choose a status.")
    try:
        stored = denials.move(
            actor=request.user,
            item=item.pk,
            to_status=form.cleaned_data["status"],
            reason=form.cleaned_data["reason"],
        )
    except RevenueError as error:
        add_service_error(form, error)
        return _render_item(request, item, 422, status_form=form, error=error.message)
    return _done(
        request, stored, f"Denial {stored.pk} is now {stored.get_status_display().lower()}."
    )


@never_cache
@require_POST
@permission_required("revenue.work_denial", raise_exception=True)
def item_note(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _render_item(request, item, 422, note_form=form, error="Write the note.")
    try:
        stored = denials.add_note(actor=request.user, item=item.pk, text=form.cleaned_data["note"])
    except RevenueError as error:
        add_service_error(form, error)
        return _render_item(request, item, 422, note_form=form, error=error.message)
    return _done(request, stored, f"Note saved; the item is {stored.get_status_display().lower()}.")


@never_cache
@require_POST
@permission_required("revenue.work_denial", raise_exception=True)
def item_appeal(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk)
    try:
        stored = denials.appeal(actor=request.user, item=item.pk)
    except RevenueError as error:
        return _render_item(request, item, 422, error=error.message)
    stored.claim.refresh_from_db()
    messages.success(
        request,
        f"Denial {stored.pk} is {stored.get_status_display().lower()}; claim "
        f"{stored.claim.control_number} is {stored.claim.get_status_display().lower()}. "
        "Print the appeal letter below.",
    )
    return redirect("revenue:denial", pk=stored.pk)


@never_cache
@require_GET
@permission_required("revenue.view_denialitem", raise_exception=True)
def appeal_letter(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk)
    carcs, rarcs = _texts(item)
    profile = BillingProfile.objects.filter(clinic_id=item.clinic_id).first()
    audit.record_view(request, item, summary=f"Printed the appeal letter of denial {item.pk}")
    context = {
        "item": item,
        "carcs": carcs,
        "rarcs": rarcs,
        "profile": profile,
        "today": item.clinic.today(),
        "lines": list(item.claim.lines.all()),
    }
    return render(request, LETTER, context)


@never_cache
@require_POST
@permission_required("revenue.work_denial", raise_exception=True)
def item_resubmit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk)
    form = ResubmitForm(request.POST, prefix="resubmit")
    if not form.is_valid():
        return _render_item(request, item, 422, resubmit_form=form, error="Say what was corrected.")
    try:
        new = denials.resubmit(actor=request.user, item=item.pk, reason=form.cleaned_data["reason"])
    except RevenueError as error:
        add_service_error(form, error)
        return _render_item(request, item, 422, resubmit_form=form, error=error.message)
    messages.success(
        request,
        f"Built corrected claim {new.control_number} (frequency 7) for "
        f"{item.claim.control_number}; it is {new.get_status_display().lower()}.",
    )
    return redirect("revenue:denial", pk=item.pk)


@never_cache
@require_POST
@permission_required("revenue.write_off_denial", raise_exception=True)
def item_write_off(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk)
    form = WriteOffForm(request.POST, prefix="writeoff")
    if not form.is_valid():
        return _render_item(request, item, 422, writeoff_form=form, error="Say why.")
    try:
        stored = denials.write_off(
            actor=request.user, item=item.pk, reason=form.cleaned_data["reason"]
        )
    except RevenueError as error:
        add_service_error(form, error)
        return _render_item(request, item, 422, writeoff_form=form, error=error.message)
    stored.claim.refresh_from_db()
    return _done(
        request,
        stored,
        f"Wrote off {stored.amount} on claim {stored.claim.control_number}; its balance is now "
        f"{stored.claim.balance}.",
    )


@never_cache
@require_GET
@permission_required("revenue.view_denialitem", raise_exception=True)
def pareto(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    today = clinic.today()
    form = ParetoForm(request.GET or None)
    data: dict[str, Any] = form.cleaned_data if form.is_bound and form.is_valid() else {}
    last = data.get("period_to") or today
    first = data.get("period_from") or (last - dt.timedelta(days=89))
    by = data.get("by") or "bucket"
    bars = selectors.denial_pareto(clinic, first=first, last=last, by=by)
    base = reverse("revenue:denials")
    hrefs = []
    for bar in bars:
        params = {"state": "", "period_from": first.isoformat(), "period_to": last.isoformat()}
        if by == "bucket":
            params["bucket"] = bar.key
        elif bar.key.isdigit():
            params["payer"] = bar.key
        hrefs.append(f"{base}?{urlencode(params)}")
    title = "Denial dollars by " + ("root cause" if by == "bucket" else "payer")
    chart = pareto_chart(bars, title=title, hrefs=hrefs)
    context = {
        "clinic": clinic,
        "form": form
        if form.is_bound
        else ParetoForm(initial={"period_from": first, "period_to": last, "by": by}),
        "chart": chart,
        "first": first,
        "last": last,
        "by": by,
        "tab": "pareto",
    }
    return render(request, PARETO, context)
