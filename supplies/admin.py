"""Reference data (suppliers, items, locations, levels) in the admin; stock is read-only here.

On-hand quantities and the ledger change only through `supplies.services`, so the admin shows
them but never edits them: an edit here would make on hand disagree with the ledger.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import (
    CountLine,
    CountSession,
    ExpiryAlert,
    ItemBarcode,
    LocationItem,
    Lot,
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderSuggestion,
    StockLocation,
    StockMovement,
    Supplier,
    SupplyItem,
)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "lead_time_days", "email", "phone", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "account_number")


class ItemBarcodeInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ItemBarcode
    extra = 1


@admin.register(SupplyItem)
class SupplyItemAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "sku",
        "name",
        "category",
        "unit_of_use",
        "pack_size",
        "unit_cost",
        "supplier",
        "is_critical",
        "is_active",
    )
    list_filter = ("is_active", "is_critical", "is_lot_tracked", "category", "supplier")
    search_fields = ("sku", "name", "barcodes__code")
    inlines = [ItemBarcodeInline]


@admin.register(StockLocation)
class StockLocationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "clinic", "kind", "room", "review_period_days", "is_active")
    list_filter = ("clinic", "kind", "is_active")
    search_fields = ("name",)


@admin.register(LocationItem)
class LocationItemAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "item",
        "location",
        "par",
        "reorder_point",
        "max_quantity",
        "on_hand",
        "is_active",
    )
    list_filter = ("location__clinic", "location", "is_active")
    search_fields = ("item__name", "item__sku", "location__name")
    readonly_fields = ("on_hand",)
    autocomplete_fields = ("item",)


@admin.register(Lot)
class LotAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("lot_number", "item", "expiry")
    search_fields = ("lot_number", "item__name", "item__sku")
    autocomplete_fields = ("item",)


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "kind", "quantity", "location_item", "lot", "user", "reason")
    list_filter = ("kind", "reason", "location_item__location__clinic")
    search_fields = ("location_item__item__name", "location_item__item__sku")
    date_hierarchy = "occurred_at"


class PurchaseOrderLineInline(admin.TabularInline):  # type: ignore[type-arg]
    model = PurchaseOrderLine
    extra = 0
    can_delete = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(ReadOnlyAdmin):
    """Orders are drafted, sent and received through the supplies screens (audited there)."""

    list_display = (
        "__str__",
        "clinic",
        "supplier",
        "status",
        "created_at",
        "sent_at",
        "received_at",
    )
    list_filter = ("status", "clinic", "supplier")
    inlines = [PurchaseOrderLineInline]


class CountLineInline(admin.TabularInline):  # type: ignore[type-arg]
    model = CountLine
    extra = 0
    can_delete = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CountSession)
class CountSessionAdmin(ReadOnlyAdmin):
    list_display = ("location", "status", "started_by", "started_at", "posted_at")
    list_filter = ("status", "location__clinic")
    inlines = [CountLineInline]


@admin.register(ReorderSuggestion)
class ReorderSuggestionAdmin(ReadOnlyAdmin):
    list_display = ("location_item", "quantity", "on_hand", "on_order", "computed_at")


@admin.register(ExpiryAlert)
class ExpiryAlertAdmin(ReadOnlyAdmin):
    list_display = ("lot_stock", "window", "raised_on", "quantity")
    list_filter = ("window",)
