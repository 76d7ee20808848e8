"""Workforce forms: each bad value answered with a message naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from clinicops.core.fields import DateField, clean_text, parse_id

from .models import CredentialType, ShiftTemplate


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


# ---------------------------------------------------------------------------------------------
# Time clock and timesheets

PUNCH_KINDS = [
    ("in", "Clock in"),
    ("break_start", "Start break"),
    ("break_end", "End break"),
    ("out", "Clock out"),
]


class PunchForm(forms.Form):
    kind = forms.ChoiceField(
        choices=PUNCH_KINDS, error_messages={"invalid_choice": "Choose clock in, out or a break."}
    )
    request_key = forms.UUIDField(
        error_messages={
            "required": "The form expired; reload the page.",
            "invalid": "The form expired; reload the page.",
        }
    )


class KioskPunchForm(PunchForm):
    staff = forms.CharField(error_messages={"required": "Tap your name first."})
    pin = forms.CharField(
        label="PIN", max_length=6, strip=True, error_messages={"required": "Enter your PIN."}
    )

    def clean_staff(self) -> int:
        value = parse_id(self.cleaned_data["staff"])
        if value is None:
            raise forms.ValidationError("Tap your name first.")
        return value

    def clean_pin(self) -> str:
        pin = str(self.cleaned_data["pin"])
        if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 6):
            raise forms.ValidationError("A PIN is 4 to 6 digits.")
        return pin


class BadgeForm(forms.Form):
    badge = forms.CharField(label="Scan your badge", max_length=40, required=False)

    def clean_badge(self) -> str:
        return clean_text(self.cleaned_data["badge"]).strip()


class PinForm(forms.Form):
    pin = forms.CharField(label="New PIN (4 to 6 digits)", max_length=6)
    pin_again = forms.CharField(label="The same PIN again", max_length=6)

    def clean_pin(self) -> str:
        pin = str(self.cleaned_data["pin"]).strip()
        if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 6):
            raise forms.ValidationError("Use 4 to 6 digits.")
        return pin

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("pin") and data.get("pin") != str(data.get("pin_again", "")).strip():
            self.add_error("pin_again", "The two PINs differ.")
        return data


class CorrectionForm(forms.Form):
    kind = forms.ChoiceField(
        label="Correction",
        choices=[*PUNCH_KINDS, ("void", "Cancel the punch")],
        error_messages={"invalid_choice": "Choose what to add or cancel."},
    )
    day = DateField(label="Day", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(
        label="Time", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    replaces = forms.CharField(required=False)
    reason = forms.CharField(
        label="Reason",
        max_length=300,
        error_messages={"required": "Say why the timesheet is corrected."},
    )
    request_key = forms.UUIDField(
        error_messages={
            "required": "The form expired; reload the page.",
            "invalid": "The form expired; reload the page.",
        }
    )

    def clean_reason(self) -> str:
        reason = clean_text(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError("Say why the timesheet is corrected.")
        return reason

    def clean_replaces(self) -> int | None:
        raw = self.cleaned_data["replaces"]
        if not raw:
            return None
        value = parse_id(raw)
        if value is None:
            raise forms.ValidationError("Choose a punch from the list.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind == "void" and not data.get("replaces"):
            self.add_error("replaces", "Choose the punch to cancel.")
        if kind and kind != "void" and (data.get("day") is None or data.get("time") is None):
            self.add_error("time", "Give the day and time of the punch.")
        return data


class CredentialForm(forms.Form):
    type = forms.ModelChoiceField(
        label="Credential",
        queryset=CredentialType.objects.filter(is_active=True),
        error_messages={
            "invalid_choice": "Choose a credential from the list.",
            "required": "Choose a credential from the list.",
        },
    )
    number = forms.CharField(label="Number", max_length=60)
    issuer = forms.CharField(label="Issued by", max_length=120)
    state = forms.CharField(label="State", max_length=2, required=False)
    issued_on = DateField(label="Issued", widget=forms.DateInput(attrs={"type": "date"}))
    expires_on = DateField(
        label="Expires", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    scan = forms.FileField(label="Scanned copy (PDF, PNG or JPEG)", required=False)

    def clean_number(self) -> str:
        return clean_text(self.cleaned_data["number"]).strip()

    def clean_issuer(self) -> str:
        return clean_text(self.cleaned_data["issuer"]).strip()

    def clean_state(self) -> str:
        state = clean_text(self.cleaned_data["state"]).strip().upper()
        if state and not (len(state) == 2 and state.isascii() and state.isalpha()):
            raise forms.ValidationError("Use the two-letter state code, e.g. NY.")
        return state

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        issued, expires = data.get("issued_on"), data.get("expires_on")
        if isinstance(issued, dt.date) and isinstance(expires, dt.date) and expires < issued:
            self.add_error("expires_on", "The expiry date is before the issue date.")
        return data
