"""Workforce forms: each bad value answered with a message naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from clinicops.core.fields import DateField, clean_text, parse_id

from .models import ShiftTemplate


class WeekForm(forms.Form):
    week = DateField(required=False)


class AssignForm(forms.Form):
    staff = forms.CharField()
    template = forms.CharField(label="Shift")
    day = DateField()

    def clean_staff(self) -> int:
        value = parse_id(self.cleaned_data["staff"])
        if value is None:
            raise forms.ValidationError("Choose a person.")
        return value

    def clean_template(self) -> int:
        value = parse_id(self.cleaned_data["template"])
        if value is None:
            raise forms.ValidationError("Choose a shift.")
        return value


class PublishForm(forms.Form):
    override_reason = forms.CharField(
        label="Reason to publish despite the violations", required=False, max_length=300
    )

    def clean_override_reason(self) -> str:
        return clean_text(self.cleaned_data["override_reason"]).strip()


class AutofillForm(forms.Form):
    week = DateField()
    time_limit = forms.IntegerField(
        label="Time limit (seconds)", min_value=1, max_value=60, required=False
    )


class ApplyForm(forms.Form):
    day = DateField(required=False, label="Day")


class CellForm(forms.Form):
    day = DateField()
    hour = forms.IntegerField(min_value=0, max_value=23)
    role = forms.ChoiceField(choices=ShiftTemplate._meta.get_field("role").choices or [])


class TimeOffForm(forms.Form):
    first_day = DateField(label="First day off", widget=forms.DateInput(attrs={"type": "date"}))
    last_day = DateField(label="Last day off", widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(max_length=200, required=False)

    def clean_reason(self) -> str:
        return clean_text(self.cleaned_data["reason"]).strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first_day"), data.get("last_day")
        if isinstance(first, dt.date) and isinstance(last, dt.date):
            if last < first:
                self.add_error("last_day", "The last day off is before the first day.")
            elif (last - first).days > 60:
                self.add_error("last_day", "A request covers at most 61 days; split it.")
        return data


class DecideForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("decline", "Decline")])
    note = forms.CharField(max_length=200, required=False)

    def clean_note(self) -> str:
        return clean_text(self.cleaned_data["note"]).strip()
