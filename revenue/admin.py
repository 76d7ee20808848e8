"""Billing reference data in the admin; claims and batches are read-only here (their writes go
through `revenue.services`, which audit them and keep the status machine)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import (
    AdjustmentCode,
    BillingProfile,
    Claim,
    ClaimLine,
    DenialItem,
    ExportBatch,
    FeeSchedule,
    FeeScheduleItem,
    LedgerEntry,
    PayerBillingSettings,
    ProcedureCode,
    Remittance,
)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("clinic", "billing_name", "group_npi", "tax_id", "taxonomy", "place_of_service")


@admin.register(PayerBillingSettings)
class PayerBillingSettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("payer", "claim_filing_indicator", "timely_filing_days")


@admin.register(ProcedureCode)
class ProcedureCodeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "description", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "description")


class FeeScheduleItemInline(admin.TabularInline):  # type: ignore[type-arg]
    model = FeeScheduleItem
    extra = 1


@admin.register(FeeSchedule)
class FeeScheduleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "clinic", "payer", "effective_from", "effective_to")
    list_filter = ("clinic", "payer")
    inlines = (FeeScheduleItemInline,)


class ClaimLineInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ClaimLine
    extra = 0
    can_delete = False
    readonly_fields = (
        "position",
        "line_id",
        "procedure_code",
        "modifiers",
        "units",
        "pointers",
        "charge",
        "service_date",
    )


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ("control_number", "clinic", "payer", "service_date", "status", "total_charge")
    list_filter = ("status", "clinic")
    search_fields = ("control_number",)
    inlines = (ClaimLineInline,)


@admin.register(ExportBatch)
class ExportBatchAdmin(ReadOnlyAdmin):
    list_display = ("interchange_control_number", "clinic", "payer", "created_at", "claim_count")
    exclude = ("content",)


# Revenue II: the CARC/RARC table (and its denial buckets) is editable reference data; the
# ledger, remittances and denials are written by `revenue.services` only.


@admin.register(AdjustmentCode)
class AdjustmentCodeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("kind", "code", "bucket", "effective_from", "effective_to", "description")
    list_filter = ("kind", "bucket")
    search_fields = ("code", "description")


@admin.register(Remittance)
class RemittanceAdmin(ReadOnlyAdmin):
    list_display = ("trace_number", "payer_name", "clinic", "payment_date", "total_paid")
    exclude = ("content",)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("posted_at", "claim", "kind", "group_code", "reason_code", "amount")
    list_filter = ("kind",)


@admin.register(DenialItem)
class DenialItemAdmin(ReadOnlyAdmin):
    list_display = ("pk", "claim", "bucket", "amount", "status", "due_date", "owner")
    list_filter = ("status", "bucket")
