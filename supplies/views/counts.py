"""Cycle counts: starting a count, counting, posting the variances; found-at-use review."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinicops.core.fields import parse_id
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from .. import selectors, services
from ..forms import CountForm, PostCountForm, count_name, reason_name
from ..models import CountSession, LocationItem, LotStock, StockLocation, StockMovement
from ..services import counts as count_services
from ..services import usage
from .common import _error_text, _location

COUNTS = "supplies/counts.html"
COUNT = "supplies/count.html"
# The counts screen lists at most this many found-at-use movements waiting for review.
FOUND_SHOWN = 50


# ---------------------------------------------------------------------------------------------
# Cycle counts


@never_cache
@require_GET
@permission_required("supplies.view_countsession", raise_exception=True)
def counts(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    sessions = CountSession.objects.for_user(request.user).filter(location__clinic=clinic)
    open_counts = {s.location_id: s for s in sessions.filter(status=CountSession.Status.OPEN)}
    locations = [
        {"location": loc, "open": open_counts.get(loc.pk)}
        for loc in selectors.locations(request.user, clinic)  # type: ignore[arg-type]
    ]
    recent = (
        sessions.exclude(status=CountSession.Status.OPEN)
        .select_related("location", "posted_by")
        .annotate(lines_count=Count("lines"))
        .order_by("-started_at")[:15]
    )
    found = selectors.found_to_review(clinic).filter(
        location_item__location__in=[row["location"] for row in locations]
    )
    return render(
        request,
        COUNTS,
        {
            "clinic": clinic,
            "locations": locations,
            "recent": recent,
            "found": found[:FOUND_SHOWN],
            "found_total": found.count(),
            "tab": "counts",
        },
    )


@require_POST
@permission_required("supplies.review_stockmovement", raise_exception=True)
def found_reviewed(request: HtmxHttpRequest, movement_id: int) -> HttpResponse:
    """A manager marks stock found at use as reviewed (it leaves the counts screen's list)."""
    clinic = current_clinic(request)
    movement = get_object_or_404(
        StockMovement.objects.for_user(request.user)
        .filter(location_item__location__clinic=clinic, kind=StockMovement.Kind.FOUND)
        .select_related("location_item__item", "location_item__location"),
        pk=movement_id,
    )
    try:
        usage.review_found_stock(actor=request.user, movement=movement)
    except services.SupplyError as refused:
        messages.info(request, _error_text(refused))
    else:
        li = movement.location_item
        messages.success(
            request,
            f"Marked reviewed: {movement.quantity} {li.item.name} found at {li.location.name}.",
        )
    return redirect("supplies:counts")


@require_POST
@permission_required("supplies.count_stock", raise_exception=True)
def count_start(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    location_id = parse_id(request.POST.get("location"))
    if location_id is None:
        raise Http404("No such location.")
    location = _location(request, clinic, location_id)
    try:
        session = count_services.start_count(actor=request.user, location=location)
    except services.SupplyError as refused:
        messages.info(request, _error_text(refused))
        session = CountSession.objects.get(location=location, status=CountSession.Status.OPEN)
    return redirect("supplies:count", pk=session.pk)


@dataclass(frozen=True)
class CountRow:
    name: str
    label: str
    li: LocationItem
    lot: Any
    lot_label: str


def _count_rows(location: StockLocation) -> list[CountRow]:
    """One input per item, or per lot (plus stock held without a lot) for lot-tracked items."""
    items = list(
        LocationItem.objects.filter(location=location, is_active=True)
        .select_related("item")
        .order_by("item__name")
    )
    lots: dict[int, list[LotStock]] = {}
    for stock in (
        LotStock.objects.filter(location_item__in=items, on_hand__gt=0)
        .select_related("lot")
        .order_by("lot__expiry", "lot__lot_number")
    ):
        lots.setdefault(stock.location_item_id, []).append(stock)
    rows = []
    for li in items:
        stocks = lots.get(li.pk, [])
        for stock in stocks:
            expiry = f", expires {stock.lot.expiry:%Y-%m-%d}" if stock.lot.expiry else ""
            rows.append(
                CountRow(
                    name=count_name(li.pk, stock.lot_id),
                    label=f"Counted {li.item.name}, lot {stock.lot.lot_number}",
                    li=li,
                    lot=stock.lot,
                    lot_label=f"Lot {stock.lot.lot_number}{expiry}",
                )
            )
        if not stocks or li.on_hand > sum(s.on_hand for s in stocks):
            rows.append(
                CountRow(
                    name=count_name(li.pk, None),
                    label=f"Counted {li.item.name}" + (", without a lot" if stocks else ""),
                    li=li,
                    lot=None,
                    lot_label="Without a lot" if stocks else "",
                )
            )
    return rows


def _count_session(request: HtmxHttpRequest, pk: int) -> CountSession:
    return get_object_or_404(
        CountSession.objects.for_user(request.user)
        .filter(location__clinic=current_clinic(request))
        .select_related("location__clinic", "started_by", "posted_by"),
        pk=pk,
    )


def _render_count(
    request: HtmxHttpRequest,
    session: CountSession,
    *,
    form: CountForm | None = None,
    post_form: PostCountForm | None = None,
    flash: str = "",
) -> HttpResponse:
    rows = _count_rows(session.location) if session.status == CountSession.Status.OPEN else []
    variances = list(selectors.count_variances(session.pk))
    if form is None:
        initial = {count_name(v.location_item_id, v.lot_id): v.counted for v in variances}
        form = CountForm(rows=rows, initial=initial)
    if post_form is None:
        post_form = PostCountForm(
            lines=variances, initial={reason_name(v): v.reason for v in variances}
        )
    counted_rows = [{"row": row, "field": form[row.name]} for row in rows]
    reasons = {line.pk: post_form[reason_name(line)] for line in post_form.lines}
    context = {
        "session": session,
        "location": session.location,
        "form": form,
        "rows": counted_rows,
        "variances": [{"line": v, "reason": reasons.get(v.pk)} for v in variances],
        "post_form": post_form,
        "flash": flash,
        "tab": "counts",
    }
    return render_page(request, COUNT, "count-body", context)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("supplies.view_countsession", raise_exception=True)
def count(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A count of one location: enter what is there, see the variances (POST records)."""
    session = _count_session(request, pk)
    if request.method == "GET":
        return _render_count(request, session)
    if not request.user.has_perm("supplies.count_stock"):
        raise PermissionDenied("You cannot record counts.")
    rows = _count_rows(session.location) if session.status == CountSession.Status.OPEN else []
    form = CountForm(request.POST, rows=rows)
    if not form.is_valid():
        return _render_count(request, session, form=form)
    try:
        count_services.record_count(
            actor=request.user,
            session=session,
            entries=[
                count_services.CountEntry(
                    item_id=row.li.item_id, counted=value, lot_id=getattr(row.lot, "pk", None)
                )
                for row, value in form.entries()
            ],
        )
    except services.SupplyError as refused:
        form.add_error(None, _error_text(refused))
        return _render_count(request, session, form=form)
    return _render_count(request, session, flash=f"Saved {len(form.entries())} counted quantities.")


@require_POST
@permission_required("supplies.count_stock", raise_exception=True)
def count_post(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Post the count: every variance becomes an adjustment with its reason."""
    session = _count_session(request, pk)
    variances = list(selectors.count_variances(session.pk))
    post_form = PostCountForm(request.POST, lines=variances)
    if not post_form.is_valid():
        return _render_count(request, session, post_form=post_form)
    try:
        movements = count_services.post_count(
            actor=request.user, session=session, reasons=post_form.reasons()
        )
    except services.SupplyError as refused:
        post_form.add_error(None, _error_text(refused))
        return _render_count(request, session, post_form=post_form)
    messages.success(
        request,
        f"Count of {session.location.name} posted: {len(movements)} adjustment"
        f"{'' if len(movements) == 1 else 's'}.",
    )
    return redirect("supplies:count", pk=session.pk)


@require_POST
@permission_required("supplies.count_stock", raise_exception=True)
def count_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = _count_session(request, pk)
    try:
        count_services.cancel_count(actor=request.user, session=session)
    except services.SupplyError as refused:
        messages.warning(request, _error_text(refused))
        return redirect("supplies:count", pk=session.pk)
    messages.info(request, f"The count of {session.location.name} was cancelled; nothing changed.")
    return redirect("supplies:counts")
