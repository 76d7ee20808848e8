"""Input parsing for the revenue screens; every message names the field."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from clinicops.core.fields import DateField, clean_text
from clinicops.core.models import Payer

from .importers import MAX_BYTES
from .models import Claim, ClaimStatus, DenialBucket, DenialItem

_SPLIT = re.compile(r"[\s,;]+")


def split_codes(value: str) -> list[str]:
    return [part for part in _SPLIT.split(clean_text(value or "").upper()) if part]


class DiagnosesForm(forms.Form):
    diagnoses = forms.CharField(
        label="Diagnoses (ICD-10-CM)",
        required=False,
        max_length=300,
        help_text="Up to 12 codes in order, the principal first, separated by spaces or commas.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "mono"}),
    )
    prior_auth_number = forms.CharField(
        label="Prior authorization number", required=False, max_length=50
    )

    def clean_diagnoses(self) -> list[str]:
        codes = split_codes(self.cleaned_data["diagnoses"])
        if len(codes) > 12:
            raise forms.ValidationError("Enter at most 12 diagnoses.")
        return codes

    def clean_prior_auth_number(self) -> str:
        return clean_text(self.cleaned_data["prior_auth_number"]).strip()


class LineForm(forms.Form):
    procedure_code = forms.CharField(
        label="Procedure (CPT/HCPCS)",
        max_length=5,
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "mono", "autofocus": True}),
        error_messages={"required": "Enter a procedure code, e.g. 99213."},
    )
    modifiers = forms.CharField(
        label="Modifiers",
        required=False,
        max_length=20,
        help_text="Up to 4, e.g. 25 59.",
        widget=forms.TextInput(attrs={"class": "mono"}),
    )
    units = forms.IntegerField(
        label="Units",
        min_value=1,
        max_value=999,
        initial=1,
        error_messages={"invalid": "Units are a whole number from 1 to 999."},
    )
    pointers = forms.CharField(
        label="Diagnosis pointers",
        max_length=20,
        initial="1",
        help_text="1 to 4 diagnosis numbers, e.g. 1 2.",
        error_messages={"required": "Point the line at 1 to 4 diagnoses, e.g. 1."},
    )

    def clean_procedure_code(self) -> str:
        return clean_text(self.cleaned_data["procedure_code"]).strip().upper()

    def clean_modifiers(self) -> list[str]:
        mods = split_codes(self.cleaned_data["modifiers"])
        if len(mods) > 4:
            raise forms.ValidationError("Enter at most 4 modifiers.")
        return mods

    def clean_pointers(self) -> list[int]:
        parts = split_codes(self.cleaned_data["pointers"])
        if not parts or not all(p.isascii() and p.isdigit() and len(p) <= 2 for p in parts):
            raise forms.ValidationError("Enter 1 to 4 diagnosis numbers, e.g. 1 2.")
        if len(parts) > 4:
            raise forms.ValidationError("A line points at most at 4 diagnoses.")
        return [int(p) for p in parts]


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        error_messages={"required": "Say why."},
    )

    def clean_reason(self) -> str:
        return clean_text(self.cleaned_data["reason"]).strip()


class StatusForm(ReasonForm):
    status = forms.ChoiceField(label="New status", choices=ClaimStatus.choices)


class ClaimUpdateForm(forms.Form):
    prior_auth_number = forms.CharField(
        label="Prior authorization number", required=False, max_length=50
    )

    def clean_prior_auth_number(self) -> str:
        return clean_text(self.cleaned_data["prior_auth_number"]).strip()


class ReplaceForm(ReasonForm):
    frequency = forms.ChoiceField(
        label="Kind",
        choices=[
            (Claim.Frequency.CORRECTED, "Corrected claim (7)"),
            (Claim.Frequency.VOID, "Void (8)"),
        ],
    )
    payer_claim_number = forms.CharField(
        label="Payer's claim number of the original", required=False, max_length=50
    )

    def clean_payer_claim_number(self) -> str:
        value = clean_text(self.cleaned_data["payer_claim_number"]).strip()
        if value and not re.fullmatch(r"[A-Za-z0-9\-]{1,50}", value):
            raise forms.ValidationError("Letters, digits and dashes only.")
        return value


class ExportForm(forms.Form):
    payer = forms.ModelChoiceField(
        label="Payer",
        queryset=Payer.objects.none(),
        required=False,
        empty_label="All payers (one group each)",
        error_messages={"invalid_choice": "Choose a payer from the list."},
    )

    def __init__(self, *args: Any, payers: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if payers is not None:
            self.fields["payer"].queryset = payers  # type: ignore[attr-defined]


class ClaimFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *ClaimStatus.choices]
    )
    payer = forms.ModelChoiceField(
        label="Payer", queryset=Payer.objects.all(), required=False, empty_label="Any payer"
    )
    min_age = forms.IntegerField(
        label="Older than (days)", required=False, min_value=0, max_value=3650
    )
    clinic = forms.IntegerField(label="Clinic", required=False, min_value=1, max_value=2**31)


class CodeImportForm(forms.Form):
    file = forms.FileField(
        label="Procedure codes CSV",
        help_text="Columns code, description, active. One error and nothing is imported.",
        error_messages={"required": "Choose a CSV file to import.", "empty": "The file is empty."},
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB; split it.")
        return upload


class FeeImportForm(CodeImportForm):
    name = forms.CharField(label="Schedule name", max_length=80)
    payer = forms.ModelChoiceField(
        label="Payer",
        queryset=Payer.objects.filter(is_active=True),
        required=False,
        empty_label="Default (self-pay and payers without their own)",
        error_messages={"invalid_choice": "Choose a payer from the list."},
    )
    effective_from = DateField(
        label="In force from", widget=forms.DateInput(attrs={"type": "date"})
    )
    effective_to = DateField(
        label="In force through", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].label = "Fee schedule CSV"
        self.fields["file"].help_text = (
            "Columns procedure_code, modifier, charge, expected_allowed. One error and nothing "
            "is imported."
        )

    def clean_name(self) -> str:
        return clean_text(self.cleaned_data["name"]).strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("effective_from"), data.get("effective_to")
        if start and end and end < start:
            self.add_error("effective_to", "The end date is before the start date.")
        return data


# ---------------------------------------------------------------------------------------------
# Remittances and denials (issue 14)

MAX_835_BYTES = 20 * 1024 * 1024


class RemittanceUploadForm(forms.Form):
    file = forms.FileField(
        label="835 remittance file",
        help_text="An X12 835 (version 5010) from the payer or clearinghouse; at most 20 MB.",
        error_messages={"required": "Choose an 835 file to post.", "empty": "The file is empty."},
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_835_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB; ask for smaller files.")
        return upload


class DenialFilterForm(forms.Form):
    SORTS = (
        ("due_date", "Due date (soonest first)"),
        ("-amount", "Amount (largest first)"),
        ("denied_on", "Age (oldest first)"),
        ("payer__name", "Payer"),
        ("bucket", "Root cause"),
    )
    STATE_CHOICES = (
        ("open", "Open (new, working, appealed)"),
        ("overdue", "Open and past the deadline"),
        ("", "Every status"),
        *DenialItem.Status.choices,
    )

    state = forms.ChoiceField(label="Status", choices=STATE_CHOICES, required=False)
    bucket = forms.ChoiceField(
        label="Root cause",
        choices=(("", "Every root cause"), *DenialBucket.choices),
        required=False,
    )
    payer = forms.ModelChoiceField(
        label="Payer",
        queryset=Payer.objects.all(),
        required=False,
        empty_label="Every payer",
        error_messages={"invalid_choice": "Choose a payer from the list."},
    )
    owner = forms.ChoiceField(label="Owner", required=False)
    sort = forms.ChoiceField(label="Sort by", choices=SORTS, required=False)
    period_from = DateField(label="Denied from", required=False)
    period_to = DateField(label="Denied through", required=False)

    def __init__(self, *args: Any, owners: list[tuple[str, str]] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)  # noqa: S101 - declared above
        owner.choices = [("", "Anyone"), ("me", "Me"), ("none", "Nobody"), *owners]


class AssignForm(forms.Form):
    items = forms.TypedMultipleChoiceField(
        label="Work items",
        coerce=int,
        error_messages={"required": "Tick the work items to assign."},
    )
    owner = forms.ChoiceField(label="Assign to")

    def __init__(
        self, *args: Any, item_ids: list[int], owners: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        items, owner = self.fields["items"], self.fields["owner"]
        assert isinstance(items, forms.ChoiceField)  # noqa: S101 - declared above
        assert isinstance(owner, forms.ChoiceField)  # noqa: S101 - declared above
        items.choices = [(i, str(i)) for i in item_ids]
        owner.choices = [("", "Nobody (unassign)"), *owners]


class DenialStatusForm(forms.Form):
    status = forms.ChoiceField(label="New status", choices=DenialItem.Status.choices)
    reason = forms.CharField(
        label="Reason", max_length=200, required=False, help_text="Needed for won, lost."
    )

    def clean_reason(self) -> str:
        return clean_text(self.cleaned_data["reason"]).strip()


class NoteForm(forms.Form):
    note = forms.CharField(
        label="Note",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Write the note."},
    )

    def clean_note(self) -> str:
        return clean_text(self.cleaned_data["note"]).strip()


class AgingForm(forms.Form):
    as_of = DateField(label="As of", required=False)
    by = forms.ChoiceField(
        label="Group by", choices=(("payer", "Payer"), ("patient", "Patient")), required=False
    )


class ParetoForm(forms.Form):
    period_from = DateField(label="Denied from", required=False)
    period_to = DateField(label="Denied through", required=False)
    by = forms.ChoiceField(
        label="Group by", choices=(("bucket", "Root cause"), ("payer", "Payer")), required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("period_from"), data.get("period_to")
        if first and last and first > last:
            self.add_error("period_to", "The period ends before it starts.")
        return data


class ResubmitForm(ReasonForm):
    reason = forms.CharField(
        label="What was corrected",
        max_length=200,
        help_text="Builds a corrected claim (frequency 7) and runs the scrubber on it.",
        error_messages={"required": "Say what was corrected."},
    )


class WriteOffForm(ReasonForm):
    reason = forms.CharField(
        label="Why write it off",
        max_length=200,
        error_messages={"required": "Say why the amount is written off."},
    )
