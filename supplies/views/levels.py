"""Levels and suggested par: each location's par and reorder levels, accepting a suggestion."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinicops.core.fields import parse_id
from clinicops.core.models import Clinic
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, render_page

from .. import selectors, services
from ..forms import LevelsForm
from ..models import LocationItem, StockLocation
from ..services import levels as level_services
from .common import _error_text, _location, _location_item, _locations, _remembered_location

LEVELS = "supplies/levels.html"
LEVELS_EDIT = "supplies/levels_edit.html"


# ---------------------------------------------------------------------------------------------
# Levels and suggested par


def _render_levels(
    request: HtmxHttpRequest,
    clinic: Clinic,
    location: StockLocation | None,
    *,
    flash: str = "",
    flash_kind: str = "",
) -> HttpResponse:
    rows = []
    if location is not None:
        suggestions = selectors.suggested_pars(location)
        for li in (
            LocationItem.objects.filter(location=location, is_active=True)
            .select_related("item")
            .order_by("item__name")
        ):
            suggestion = suggestions.get(li.pk)
            rows.append(
                {
                    "li": li,
                    "suggestion": suggestion,
                    "differs": suggestion is not None and suggestion.par != li.par,
                }
            )
    context = {
        "clinic": clinic,
        "locations": list(selectors.locations(request.user, clinic)),  # type: ignore[arg-type]
        "location": location,
        "rows": rows,
        "flash": flash,
        "flash_kind": flash_kind,
        "tab": "levels",
    }
    return render_page(request, LEVELS, "levels-table", context)


@never_cache
@require_GET
@permission_required("supplies.view_locationitem", raise_exception=True)
def levels(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    location_id = parse_id(request.GET.get("location"))
    if location_id is not None:
        location = _location(request, clinic, location_id)
    else:
        location = (
            _remembered_location(request, clinic)
            or _locations(request, clinic).order_by("kind", "name").first()
        )
    return _render_levels(request, clinic, location)


@never_cache
@require_POST
@permission_required("supplies.change_locationitem", raise_exception=True)
def accept_par(request: HtmxHttpRequest, location_item_id: int) -> HttpResponse:
    clinic = current_clinic(request)
    li = _location_item(request, clinic, location_item_id)
    before = li.par
    try:
        level_services.accept_suggested_par(actor=request.user, location_item=li)
    except services.SupplyError as refused:
        flash, kind = _error_text(refused), "warning"
    else:
        flash = f"Par of {li.item.name} at {li.location.name}: {before} → {li.par}."
        kind = "success"
    if not is_fragment(request):
        messages.add_message(
            request, messages.SUCCESS if kind == "success" else messages.WARNING, flash
        )
        return redirect(f"{reverse('supplies:levels')}?location={li.location_id}")
    return _render_levels(request, clinic, li.location, flash=flash, flash_kind=kind)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("supplies.change_locationitem", raise_exception=True)
def levels_edit(request: HtmxHttpRequest, location_item_id: int) -> HttpResponse:
    clinic = current_clinic(request)
    li = _location_item(request, clinic, location_item_id)
    initial = {"par": li.par, "reorder_point": li.reorder_point, "max_quantity": li.max_quantity}
    form = LevelsForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            level_services.set_levels(actor=request.user, location_item=li, **form.cleaned_data)
        except services.SupplyError as refused:
            form.add_error(
                refused.field if refused.field in form.fields else None, _error_text(refused)
            )
        else:
            messages.success(request, f"Levels of {li.item.name} at {li.location.name} saved.")
            return redirect(f"{reverse('supplies:levels')}?location={li.location_id}")
    suggestion = selectors.suggested_par(li)
    return render(
        request,
        LEVELS_EDIT,
        {"li": li, "form": form, "suggestion": suggestion, "tab": "levels"},
    )
