"""Below par and the pick list: what each location needs refilled from the store room."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.core.models import Clinic
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, render_page

from .. import selectors, services
from ..forms import KeyForm, new_key
from ..services import transfers
from .common import _error_text, _location_item

BELOW_PAR = "supplies/below_par.html"


# ---------------------------------------------------------------------------------------------
# Below par and the pick list


def _below_par_context(request: HtmxHttpRequest, clinic: Clinic) -> dict[str, Any]:
    picks = {p.location_item.pk: p for p in selectors.pick_list(clinic)}
    groups: list[dict[str, Any]] = []
    for li in selectors.below_par(clinic):
        if not groups or groups[-1]["location"].pk != li.location_id:
            groups.append({"location": li.location, "rows": []})
        groups[-1]["rows"].append({"li": li, "pick": picks.get(li.pk), "key": new_key()})
    return {
        "clinic": clinic,
        "groups": groups,
        "total": sum(len(g["rows"]) for g in groups),
        "room": selectors.supply_room(clinic),
        "tab": "below_par",
    }


def _render_below_par(
    request: HtmxHttpRequest, clinic: Clinic, *, flash: str = "", flash_kind: str = "success"
) -> HttpResponse:
    context = _below_par_context(request, clinic)
    context.update({"flash": flash, "flash_kind": flash_kind})
    return render_page(request, BELOW_PAR, "board", context)


@never_cache
@require_GET
@permission_required("supplies.view_locationitem", raise_exception=True)
def below_par(request: HtmxHttpRequest) -> HttpResponse:
    return _render_below_par(request, current_clinic(request))


@never_cache
@require_POST
@permission_required("supplies.transfer_stock", raise_exception=True)
def refill(request: HtmxHttpRequest, location_item_id: int) -> HttpResponse:
    """One tap of the pick list: move what refills the cart to par from the supply room."""
    clinic = current_clinic(request)
    li = _location_item(request, clinic, location_item_id)
    form = KeyForm(request.POST)
    if not form.is_valid():
        flash, kind = "This screen is out of date; it has been reloaded. Tap again.", "warning"
    else:
        try:
            result = transfers.refill_from_supply_room(
                actor=request.user,
                location_item=li,
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except services.SupplyError as refused:
            flash, kind = _error_text(refused), "warning"
        else:
            flash = (
                f"Moved {result.quantity} {li.item.unit_of_use} of {li.item.name} from the "
                f"supply room to {li.location.name}."
            )
            if result.replayed:
                flash += " (That tap had already been done; nothing moved twice.)"
            kind = "success"
    if not is_fragment(request):
        messages.add_message(
            request, messages.SUCCESS if kind == "success" else messages.WARNING, flash
        )
        return redirect("supplies:below_par")
    return _render_below_par(request, clinic, flash=flash, flash_kind=kind)
