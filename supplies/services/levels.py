"""Par levels: setting par, reorder point and maximum, and accepting the suggested par."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent

from .. import selectors
from ..models import LocationItem
from . import ledger
from .ledger import SupplyError


def set_levels(
    *, actor: Any, location_item: LocationItem, par: int, reorder_point: int, max_quantity: int
) -> LocationItem:
    """Change a location-item's par, reorder point and maximum (reorder point <= par <= max)."""
    par = ledger.check_quantity(par, label="par", field="par", minimum=0)
    reorder_point = ledger.check_quantity(
        reorder_point, label="reorder point", field="reorder_point", minimum=0
    )
    max_quantity = ledger.check_quantity(
        max_quantity, label="maximum", field="max_quantity", minimum=0
    )
    if reorder_point > par:
        raise SupplyError("The reorder point must be at or below par.", field="reorder_point")
    if par > max_quantity:
        raise SupplyError("Par must be at or below the maximum.", field="par")
    with transaction.atomic():
        li = ledger.lock_location_items([location_item.pk])[location_item.pk]
        fields = ("par", "reorder_point", "max_quantity")
        before = audit.snapshot(li, fields)
        li.par, li.reorder_point, li.max_quantity = par, reorder_point, max_quantity
        li.save(update_fields=list(fields))
        changes = audit.diff(before, audit.snapshot(li, fields))
        if changes:
            audit.record(
                actor=actor,
                action=AuditEvent.Action.UPDATE,
                obj=li,
                clinic=li.location.clinic_id,
                summary=f"Levels of {li.item.name} at {li.location.name}",
                changes=changes,
            )
    location_item.par, location_item.reorder_point, location_item.max_quantity = (
        par,
        reorder_point,
        max_quantity,
    )
    return li


def accept_suggested_par(
    *, actor: Any, location_item: LocationItem, today: date | None = None
) -> LocationItem:
    """Set par to the 8-week suggestion, keeping reorder point <= par <= max."""
    suggestion = selectors.suggested_par(location_item, today=today)
    par = suggestion.par
    return set_levels(
        actor=actor,
        location_item=location_item,
        par=par,
        reorder_point=min(location_item.reorder_point, par),
        max_quantity=max(location_item.max_quantity, par),
    )
