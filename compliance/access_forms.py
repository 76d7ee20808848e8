"""Forms of break-glass, the access review and the anomaly hints."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms

from clinicops.core.fields import clean_text

from .models import AccessReviewLine, AnomalyHint, BreakGlassAccess


class BreakGlassForm(forms.Form):
    mrn = forms.CharField(
        label="Patient's MRN",
        error_messages={"required": "Enter the patient's MRN."},
        max_length=12,
        help_text="The exact MRN (from the patient, a referral or a wristband). "
        "Other clinics' patients cannot be browsed by name.",
    )
    reason = forms.ChoiceField(
        label="Reason",
        choices=[("", "Choose a reason"), *BreakGlassAccess.Reason.choices],
        error_messages={"required": "Choose a reason from the list."},
    )
    explanation = forms.CharField(
        label="Why you need this record now",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Read by the compliance officer who reviews this access.",
        error_messages={"required": "Say why you need this record."},
    )

    def clean_mrn(self) -> str:
        value = clean_text(self.cleaned_data["mrn"]).strip()
        if not value.isdigit():
            raise forms.ValidationError("An MRN is digits only.")
        return value

    def clean_explanation(self) -> str:
        value = clean_text(self.cleaned_data["explanation"]).strip()
        if not value:
            raise forms.ValidationError("Say why you need this record.")
        return value


class BreakGlassReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Outcome",
        choices=[
            (BreakGlassAccess.Review.APPROVED, "Approve: the access was justified"),
            (BreakGlassAccess.Review.REFERRED, "Refer to an incident"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required when referring: what the incident is about.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["note"] = clean_text(data.get("note", "")).strip()
        if data.get("outcome") == BreakGlassAccess.Review.REFERRED and not data["note"]:
            self.add_error("note", "Say what the incident is about.")
        return data


class AccessDecisionForm(forms.Form):
    line = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    decision = forms.ChoiceField(
        choices=[
            (AccessReviewLine.Decision.CONFIRMED, "Confirm"),
            (AccessReviewLine.Decision.REVOKED, "Revoke"),
        ]
    )
    note = forms.CharField(required=False, max_length=300, label="Note")

    def clean_note(self) -> str:
        return clean_text(self.cleaned_data.get("note", "")).strip()


class HintComputeForm(forms.Form):
    day = forms.DateField(
        label="Day", widget=forms.DateInput(attrs={"type": "date"}), help_text="A past day."
    )

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_day(self) -> date:
        value: date = self.cleaned_data["day"]
        if value > self.today:
            raise forms.ValidationError("Choose today or a day before.")
        if value < self.today - timedelta(days=366):
            raise forms.ValidationError("Choose a day within the last year.")
        return value


class HintReviewForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=AnomalyHint.Status.choices)
    note = forms.CharField(
        label="Note", required=False, max_length=300, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_note(self) -> str:
        return clean_text(self.cleaned_data.get("note", "")).strip()
