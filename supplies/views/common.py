"""What the supplies screens share: the user's stock locations and items, and a refusal's text.

Views parse a form, call a service or a selector, and render the page or (for htmx) the
fragment that changed. A refused action answers 200 with the fragment and the reason, since
htmx does not swap 4xx bodies; the service has changed nothing.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404

from clinicops.core.models import Clinic
from clinicops.core.web import HtmxHttpRequest

from .. import services
from ..models import LocationItem, StockLocation

# {clinic id: location id}: the tablet remembers its location per clinic.
SESSION_LOCATION = "supplies_location"


def _locations(request: HtmxHttpRequest, clinic: Clinic) -> Any:
    return StockLocation.objects.for_user(request.user).filter(clinic=clinic, is_active=True)


def _location(request: HtmxHttpRequest, clinic: Clinic, location_id: int) -> StockLocation:
    return get_object_or_404(_locations(request, clinic).select_related("clinic"), pk=location_id)


def _location_item(request: HtmxHttpRequest, clinic: Clinic, pk: int) -> LocationItem:
    return get_object_or_404(
        LocationItem.objects.for_user(request.user)
        .filter(location__clinic=clinic)
        .select_related("item__supplier", "location__clinic"),
        pk=pk,
    )


def _error_text(error: services.SupplyError) -> str:
    message = error.message
    return message[:1].upper() + message[1:]


def _remembered_location(request: HtmxHttpRequest, clinic: Clinic) -> StockLocation | None:
    remembered = request.session.get(SESSION_LOCATION) or {}
    location_id = remembered.get(str(clinic.pk)) if isinstance(remembered, dict) else None
    if not isinstance(location_id, int):
        return None
    return _locations(request, clinic).filter(pk=location_id).first()
