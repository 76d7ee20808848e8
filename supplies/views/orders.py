"""Reorder suggestions and purchase orders: drafting, sending, cancelling, receiving."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinicops.core.fields import parse_id
from clinicops.core.models import Clinic
from clinicops.core.web import HtmxHttpRequest, current_clinic

from .. import selectors, services
from ..forms import ReceiveForm, receive_names
from ..models import PurchaseOrder
from ..services import orders as order_services
from .common import _error_text

REORDER = "supplies/reorder.html"
ORDERS = "supplies/orders.html"
ORDER = "supplies/order.html"


# ---------------------------------------------------------------------------------------------
# Reorder suggestions and purchase orders


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("supplies.view_reordersuggestion", raise_exception=True)
def reorder(request: HtmxHttpRequest) -> HttpResponse:
    """The supply room's reorder suggestions; a manager turns the ticked ones into drafts."""
    clinic = current_clinic(request)
    error = ""
    if request.method == "POST":
        if not request.user.has_perm("supplies.add_purchaseorder"):
            raise PermissionDenied("Only a manager can create purchase orders.")
        ids = [i for i in (parse_id(v) for v in request.POST.getlist("location_item")) if i]
        if not ids:
            error = "Tick at least one item to order."
        else:
            try:
                made = order_services.create_purchase_orders_from_suggestions(
                    actor=request.user, clinic=clinic, location_item_ids=ids
                )
            except services.SupplyError as refused:
                error = _error_text(refused)
            else:
                if made.orders:
                    names = ", ".join(str(po) for po in made.orders)
                    messages.success(request, f"Drafted {names}. Check and send each one.")
                else:
                    messages.info(request, "Nothing to order: those items are already on order.")
                for item in made.without_supplier:
                    messages.warning(
                        request, f"{item.name} has no supplier; set one in the admin to order it."
                    )
                return redirect("supplies:orders")
    suggestions = selectors.reorder_suggestions(clinic)
    context = {
        "clinic": clinic,
        "suggestions": suggestions,
        "total": sum((s.extended_cost for s in suggestions), start=0),
        "room": selectors.supply_room(clinic),
        "error": error,
        "tab": "reorder",
    }
    return render(request, REORDER, context)


def _orders(request: HtmxHttpRequest, clinic: Clinic) -> Any:
    return PurchaseOrder.objects.for_user(request.user).filter(clinic=clinic)


@never_cache
@require_GET
@permission_required("supplies.view_purchaseorder", raise_exception=True)
def orders(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    rows = (
        _orders(request, clinic)
        .select_related("supplier", "created_by")
        .annotate(
            line_count=Count("lines"),
            value=Sum(
                ExpressionWrapper(
                    F("lines__quantity") * F("lines__unit_cost"),
                    output_field=DecimalField(max_digits=18, decimal_places=4),
                )
            ),
        )
        .order_by("-created_at")[:100]
    )
    return render(request, ORDERS, {"clinic": clinic, "orders": rows, "tab": "orders"})


def _order(request: HtmxHttpRequest, clinic: Clinic, pk: int) -> PurchaseOrder:
    return get_object_or_404(
        _orders(request, clinic).select_related("supplier", "location", "created_by"), pk=pk
    )


def _render_order(
    request: HtmxHttpRequest,
    order: PurchaseOrder,
    *,
    form: ReceiveForm | None = None,
    error: str = "",
) -> HttpResponse:
    lines = list(order.lines.select_related("item").order_by("item__name"))
    receiving = order.status in (PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTLY_RECEIVED)
    if form is None and receiving:
        form = ReceiveForm(lines=lines)
    rows = []
    for line in lines:
        qty, lot, expiry = receive_names(line)
        fields = form.fields if form is not None else {}
        rows.append(
            {
                "line": line,
                "qty": form[qty] if form is not None and qty in fields else None,
                "lot": form[lot] if form is not None and lot in fields else None,
                "expiry": form[expiry] if form is not None and expiry in fields else None,
                "value": line.quantity * line.unit_cost,
            }
        )
    context = {
        "order": order,
        "rows": rows,
        "form": form,
        "receiving": receiving,
        "error": error,
        "total": sum((r["value"] for r in rows), start=0),
        "tab": "orders",
    }
    return render(request, ORDER, context)


@never_cache
@require_GET
@permission_required("supplies.view_purchaseorder", raise_exception=True)
def order(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _render_order(request, _order(request, current_clinic(request), pk))


def _move_order(request: HtmxHttpRequest, pk: int, verb: str) -> HttpResponse:
    po = _order(request, current_clinic(request), pk)
    try:
        if verb == "send":
            order_services.send_purchase_order(actor=request.user, order=po)
            messages.success(request, f"{po} is marked as sent to {po.supplier.name}.")
        else:
            order_services.cancel_purchase_order(actor=request.user, order=po)
            messages.success(request, f"{po} is cancelled.")
    except services.SupplyError as refused:
        messages.warning(request, _error_text(refused))
    return redirect("supplies:order", pk=po.pk)


@require_POST
@permission_required("supplies.send_purchaseorder", raise_exception=True)
def order_send(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _move_order(request, pk, "send")


@require_POST
@permission_required("supplies.change_purchaseorder", raise_exception=True)
def order_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _move_order(request, pk, "cancel")


_RECEIPT_FIELD = re.compile(r"^lines\[(\d+)\]\.(\w+)$")


@never_cache
@require_POST
@permission_required("supplies.receive_purchaseorder", raise_exception=True)
def order_receive(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Record what arrived: quantities, lots and expiry; stock goes into the supply room."""
    po = _order(request, current_clinic(request), pk)
    lines = list(po.lines.select_related("item").order_by("item__name"))
    form = ReceiveForm(request.POST, lines=lines)
    if not form.is_valid():
        return _render_order(request, po, form=form)
    planned = form.receipts()
    try:
        order_services.receive_purchase_order(
            actor=request.user,
            order=po,
            receipts=[
                order_services.Receipt(line_id=line.pk, quantity=q, lot_number=lot, expiry=expiry)
                for line, q, lot, expiry in planned
            ],
        )
    except services.SupplyError as refused:
        target = None
        match = _RECEIPT_FIELD.match(refused.field or "")
        if match and 0 < int(match.group(1)) <= len(planned):
            line = planned[int(match.group(1)) - 1][0]
            qty, lot, expiry = receive_names(line)
            target = {"quantity": qty, "lot_number": lot, "expiry": expiry}.get(match.group(2))
        form.add_error(target if target in form.fields else None, _error_text(refused))
        return _render_order(request, po, form=form)
    units = sum(q for _, q, _, _ in planned)
    messages.success(request, f"Received {units} units on {po}; they are in stock now.")
    return redirect("supplies:order", pk=po.pk)
