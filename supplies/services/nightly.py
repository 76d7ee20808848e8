"""The nightly supplies work (each step idempotent: running it twice changes nothing the
second time)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from clinicops.core.models import Clinic

from .. import selectors
from ..models import ExpiryAlert, ReorderSuggestion


def recompute_reorder_suggestions(*, clinic: Clinic, now: datetime | None = None) -> int:
    """Replace the clinic's stored reorder suggestions with the current ones; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        current = selectors.reorder_suggestions(clinic)
        keep = []
        for suggestion in current:
            ReorderSuggestion.objects.update_or_create(
                location_item=suggestion.location_item,
                defaults={
                    "quantity": suggestion.quantity,
                    "on_hand": suggestion.on_hand,
                    "on_order": suggestion.on_order,
                    "computed_at": now,
                },
            )
            keep.append(suggestion.location_item.pk)
        ReorderSuggestion.objects.for_clinic(clinic).exclude(location_item_id__in=keep).delete()
    return len(current)


def raise_expiry_alerts(*, clinic: Clinic, today: date | None = None) -> int:
    """Raise an alert for each lot on hand entering the 60-day, 30-day or expired window
    (once per lot, location and window); returns how many were new."""
    today = today or clinic.today()
    alerts = []
    for stock in selectors.expiring(clinic, 60, today=today):
        expiry = stock.lot.expiry
        if expiry is None:  # pragma: no cover - `expiring` only returns dated lots
            continue
        if expiry < today:
            window = ExpiryAlert.Window.EXPIRED
        elif expiry <= today + timedelta(days=30):
            window = ExpiryAlert.Window.DAYS_30
        else:
            window = ExpiryAlert.Window.DAYS_60
        alerts.append(
            ExpiryAlert(lot_stock=stock, window=window, raised_on=today, quantity=stock.on_hand)
        )
    if not alerts:
        return 0
    before = ExpiryAlert.objects.for_clinic(clinic).count()
    ExpiryAlert.objects.bulk_create(alerts, ignore_conflicts=True)
    return ExpiryAlert.objects.for_clinic(clinic).count() - before


def run_nightly(*, clinic: Clinic, day: date) -> dict[str, int]:
    """The nightly supplies work for one clinic; `day` is the local day that just ended."""
    return {
        "reorder_suggestions": recompute_reorder_suggestions(clinic=clinic),
        "expiry_alerts": raise_expiry_alerts(clinic=clinic, today=day + timedelta(days=1)),
    }
