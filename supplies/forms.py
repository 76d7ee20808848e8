"""Forms for the supplies screens: they parse input into what the services take.

Quantities are whole numbers with a cap; every message names the field it is about, so a bad
value is shown next to the input and nothing is saved.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from django import forms

from clinicops.core.fields import DateField

from .importers import MAX_BYTES
from .models import CountLine, LocationItem, PurchaseOrderLine
from .services.counts import COUNT_REASONS
from .services.ledger import MAX_BULK_QUANTITY, MAX_KEY_LENGTH


def new_key() -> str:
    """A fresh idempotency key for one rendering of a form."""
    return uuid.uuid4().hex


def _quantity_field(
    label: str, *, cap: int, minimum: int = 0, required: bool = False, over: str = ""
) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=required,
        min_value=minimum,
        max_value=cap,
        error_messages={
            "required": "Enter a quantity.",
            "invalid": "Enter a whole number.",
            "min_value": "Cannot be negative." if minimum == 0 else f"Enter at least {minimum}.",
            "max_value": over or "At most %(limit_value)s; check the quantity.",
        },
    )


class KeyField(forms.CharField):
    """The hidden idempotency key of one form rendering."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Submission key")
        kwargs.setdefault("widget", forms.HiddenInput)
        kwargs.setdefault(
            "error_messages",
            {
                "required": "This screen is out of date; reload it and try again.",
                "max_length": "This screen is out of date; reload it and try again.",
            },
        )
        super().__init__(max_length=MAX_KEY_LENGTH, **kwargs)


# ---------------------------------------------------------------------------------------------
# The tablet: log use


def quantity_name(location_item_id: int) -> str:
    return f"qty_{location_item_id}"


def quantity_cap(li: LocationItem) -> int:
    """The most of a tile's item one log may take: the item's cap per use, within the
    ledger's limit for one movement."""
    return min(li.item.use_cap, MAX_BULK_QUANTITY)


class LogUseForm(forms.Form):
    """One tap of "Log": the quantities on the tiles, the optional visit, the key.

    The same form also carries the non-logging actions of the screen (a scan, a tile tap
    without JavaScript): `action` says which.
    """

    idempotency_key = KeyField()
    visit = forms.CharField(label="Patient", required=False, max_length=20)
    barcode = forms.CharField(
        label="Scan or type a barcode",
        required=False,
        max_length=64,
        help_text="Scan a package, or type an SKU and press Enter.",
    )
    q = forms.CharField(label="Find an item", required=False, max_length=100)

    def __init__(
        self,
        *args: Any,
        location_items: Sequence[LocationItem],
        visits: Iterable[Any] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.location_items = list(location_items)
        self.visits = {str(v.pk): v for v in visits}
        for li in self.location_items:
            cap = quantity_cap(li)
            self.fields[quantity_name(li.pk)] = _quantity_field(
                f"Quantity of {li.item.name}",
                cap=cap,
                over=f"At most {cap} {li.item.unit_of_use} in one log; check the quantity.",
            )

    def clean_visit(self) -> Any:
        raw = (self.cleaned_data.get("visit") or "").strip()
        if not raw:
            return None
        visit = self.visits.get(raw)
        if visit is None:
            raise forms.ValidationError(
                "That patient is no longer in a room here; pick again or log without a patient."
            )
        return visit

    def quantities(self) -> dict[int, int]:
        """{location item id: quantity} for the tiles with a quantity (after is_valid)."""
        result = {}
        for li in self.location_items:
            value = self.cleaned_data.get(quantity_name(li.pk))
            if value:
                result[li.pk] = value
        return result

    def raw_quantity(self, li: LocationItem) -> str:
        """What the tile's input shows: the submitted text (even if invalid), else blank."""
        if not self.is_bound:
            return ""
        value = self.data.get(self.add_prefix(quantity_name(li.pk)), "")
        return str(value).strip()[:12]


# ---------------------------------------------------------------------------------------------
# Small one-button forms


class KeyForm(forms.Form):
    """A one-tap action that must happen once (a pick-list refill)."""

    idempotency_key = KeyField()


class QuickCountForm(forms.Form):
    counted = _quantity_field("Counted now", cap=MAX_BULK_QUANTITY, required=True)
    reason = forms.ChoiceField(
        label="Reason for the difference",
        required=False,
        choices=[("", "Choose a reason")] + [(r.value, r.label) for r in COUNT_REASONS],
    )


class LevelsForm(forms.Form):
    reorder_point = _quantity_field("Reorder point", cap=MAX_BULK_QUANTITY, required=True)
    par = _quantity_field("Par", cap=MAX_BULK_QUANTITY, required=True)
    max_quantity = _quantity_field("Maximum", cap=MAX_BULK_QUANTITY, required=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        par, reorder, top = data.get("par"), data.get("reorder_point"), data.get("max_quantity")
        if par is not None and reorder is not None and reorder > par:
            self.add_error("reorder_point", "The reorder point must be at or below par.")
        if par is not None and top is not None and par > top:
            self.add_error("par", "Par must be at or below the maximum.")
        return data


class ExpiryWindowForm(forms.Form):
    days = forms.TypedChoiceField(
        label="Expiring within",
        choices=[("30", "30 days"), ("60", "60 days")],
        coerce=int,
        required=False,
        empty_value=60,
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Item master CSV",
        help_text="UTF-8 CSV with the template's header row. Every row is checked first: "
        "one error and nothing is imported.",
        error_messages={
            "required": "Choose a CSV file to import.",
            "empty": "The file is empty.",
            "invalid": "That is not a file upload.",
        },
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it."
            )
        return upload


# ---------------------------------------------------------------------------------------------
# Purchase orders: receiving


def receive_names(line: PurchaseOrderLine) -> tuple[str, str, str]:
    return f"qty_{line.pk}", f"lot_{line.pk}", f"expiry_{line.pk}"


class ReceiveForm(forms.Form):
    """What arrived for each outstanding line; lot and expiry for lot-tracked items."""

    def __init__(self, *args: Any, lines: Sequence[PurchaseOrderLine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = [line for line in lines if line.outstanding > 0]
        for line in self.lines:
            qty, lot, expiry = receive_names(line)
            self.fields[qty] = _quantity_field(
                f"Received of {line.item.name}",
                cap=line.outstanding,
                over=f"Only {line.outstanding} are still expected.",
            )
            self.fields[qty].widget.attrs.update(
                {"inputmode": "numeric", "placeholder": str(line.outstanding)}
            )
            if line.item.is_lot_tracked:
                self.fields[lot] = forms.CharField(
                    label=f"Lot number of {line.item.name}", required=False, max_length=40
                )
                self.fields[expiry] = DateField(
                    label=f"Expiry of {line.item.name}",
                    required=False,
                    widget=forms.DateInput(attrs={"type": "date"}),
                    error_messages={"invalid": "Enter a date (YYYY-MM-DD)."},
                )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not any(data.get(receive_names(line)[0]) for line in self.lines):
            raise forms.ValidationError("Enter at least one received quantity.")
        for line in self.lines:
            qty, lot, _ = receive_names(line)
            if data.get(qty) and line.item.is_lot_tracked and not data.get(lot):
                self.add_error(lot, "Enter the lot number from the label.")
        return data

    def receipts(self) -> list[tuple[PurchaseOrderLine, int, str, date | None]]:
        result = []
        for line in self.lines:
            qty, lot, expiry = receive_names(line)
            quantity = self.cleaned_data.get(qty)
            if quantity:
                result.append(
                    (
                        line,
                        quantity,
                        self.cleaned_data.get(lot) or "",
                        self.cleaned_data.get(expiry),
                    )
                )
        return result


# ---------------------------------------------------------------------------------------------
# Cycle counts


def count_name(location_item_id: int, lot_id: int | None) -> str:
    return f"counted_{location_item_id}_{lot_id or 0}"


class CountForm(forms.Form):
    """Counted quantities, one input per item (per lot for lot-tracked items)."""

    def __init__(self, *args: Any, rows: Sequence[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = list(rows)
        for row in self.rows:
            self.fields[row.name] = _quantity_field(row.label, cap=MAX_BULK_QUANTITY)

    def entries(self) -> list[tuple[Any, int]]:
        return [
            (row, self.cleaned_data[row.name])
            for row in self.rows
            if self.cleaned_data.get(row.name) is not None
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and all(data.get(row.name) is None for row in self.rows):
            raise forms.ValidationError("Enter at least one counted quantity.")
        return data


REASON_CHOICES = [("", "Choose a reason")] + [(r.value, r.label) for r in COUNT_REASONS]


def reason_name(line: CountLine) -> str:
    return f"reason_{line.pk}"


class PostCountForm(forms.Form):
    """A reason for every variance."""

    def __init__(self, *args: Any, lines: Sequence[CountLine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = [line for line in lines if line.variance]
        for line in self.lines:
            self.fields[reason_name(line)] = forms.ChoiceField(
                label=f"Reason for {line.location_item.item.name}",
                choices=REASON_CHOICES,
                initial=line.reason,
                error_messages={
                    "required": "Give a reason for this difference.",
                    "invalid_choice": "Pick a reason from the list.",
                },
            )

    def reasons(self) -> dict[int, str]:
        return {line.pk: self.cleaned_data[reason_name(line)] for line in self.lines}
