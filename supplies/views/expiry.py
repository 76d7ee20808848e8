"""Expiry: lots expiring soon or expired, and wasting the expired ones."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.core.models import Clinic
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, render_page

from .. import selectors
from ..forms import ExpiryWindowForm
from ..services import waste

EXPIRY = "supplies/expiry.html"


# ---------------------------------------------------------------------------------------------
# Expiry


def _render_expiry(
    request: HtmxHttpRequest, clinic: Clinic, days: int, *, flash: str = "", flash_kind: str = ""
) -> HttpResponse:
    today = clinic.today()
    stocks = list(selectors.expiring(clinic, days, today=today))
    rows = []
    for stock in stocks:
        left = (stock.lot.expiry - today).days
        rows.append({"stock": stock, "days_left": left, "expired": left < 0})
    expired = [r for r in rows if r["expired"]]
    context = {
        "clinic": clinic,
        "rows": rows,
        "days": days,
        "today": today,
        "expired_lots": len(expired),
        "expired_units": sum(r["stock"].on_hand for r in expired),
        "windows": (30, 60),
        "flash": flash,
        "flash_kind": flash_kind,
        "tab": "expiry",
    }
    return render_page(request, EXPIRY, "expiry-list", context)


@never_cache
@require_GET
@permission_required("supplies.view_expiryalert", raise_exception=True)
def expiry(request: HtmxHttpRequest) -> HttpResponse:
    form = ExpiryWindowForm(request.GET)
    days = form.cleaned_data["days"] if form.is_valid() else 60
    return _render_expiry(request, current_clinic(request), days or 60)


@never_cache
@require_POST
@permission_required("supplies.waste_stock", raise_exception=True)
def waste_expired(request: HtmxHttpRequest) -> HttpResponse:
    """Waste every expired lot on hand in the clinic in one action."""
    clinic = current_clinic(request)
    form = ExpiryWindowForm(request.POST)
    days = (form.cleaned_data["days"] if form.is_valid() else 60) or 60
    movements = waste.waste_expired(actor=request.user, clinic=clinic)
    if movements:
        units = sum(-m.quantity for m in movements)
        flash, kind = f"Wasted {units} expired units from {len(movements)} lots.", "success"
    else:
        flash, kind = "No expired stock is on hand; nothing was wasted.", "info"
    if not is_fragment(request):
        messages.add_message(request, messages.SUCCESS if movements else messages.INFO, flash)
        return redirect(f"{reverse('supplies:expiry')}?days={days}")
    return _render_expiry(request, clinic, days, flash=flash, flash_kind=kind)
