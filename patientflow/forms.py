"""Forms of the desk and the flow board. Every bad input becomes a message on its field."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from clinicops.core.fields import SubmissionKeyField
from clinicops.core.forms import format_us_phone
from clinicops.core.models import Clinic, Patient, Room, Staff
from scheduling.models import AppointmentType

from .models import ACTIVE_STEPS, MONEY_MAX, IntakeForm, PaymentMethod, Step
from .services.common import PaymentInput

# 25 / 25.5 / 25.00 / $1,250.00: dollars, optional thousands commas, at most two decimals.
MONEY_PATTERN = re.compile(r"^\$?\s*(?P<dollars>\d{1,3}(?:,\d{3})+|\d+)(?P<cents>\.\d{1,2})?$")


def parse_money(text: str) -> Decimal | None:
    """An amount typed at the desk, as Decimal; None when empty. `ValidationError` otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    if text.startswith("-") or text.startswith("$-") or text.startswith("("):
        raise forms.ValidationError("The amount cannot be negative.", code="negative")
    match = MONEY_PATTERN.fullmatch(text)
    if match is None:
        if re.fullmatch(r"\$?\s*[\d,]*\.\d{3,}", text):
            raise forms.ValidationError(
                "Enter the amount with at most two decimal places (cents).", code="cents"
            )
        raise forms.ValidationError(
            "Enter the amount in dollars and cents, for example 25 or 25.00.", code="invalid"
        )
    try:
        amount = Decimal(match["dollars"].replace(",", "") + (match["cents"] or ""))
    except InvalidOperation as error:  # the pattern admits only digits; kept as a safety net
        raise forms.ValidationError("Enter a valid amount.", code="invalid") from error
    if amount > MONEY_MAX:
        raise forms.ValidationError(
            f"The amount cannot be more than {MONEY_MAX:,}.", code="max_value"
        )
    return amount.quantize(Decimal("0.01"))


class MoneyField(forms.Field):
    """Dollars and cents as Decimal, never float; refuses negative and malformed amounts."""

    max_length = 20

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            forms.TextInput(
                attrs={"inputmode": "decimal", "autocomplete": "off", "maxlength": self.max_length}
            ),
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Decimal | None:
        text = "" if value is None else str(value)
        if len(text) > self.max_length:
            raise forms.ValidationError(
                f"Enter at most {self.max_length} characters.", code="max_length"
            )
        return parse_money(text)


METHOD_CHOICES = [("", "Select…"), *PaymentMethod.choices]


class PaymentFields(forms.Form):
    """Amount, method and receipt number under a prefix ("copay" or "balance")."""

    payment_prefix = "copay"

    def add_payment_fields(self, label: str, help_text: str) -> None:
        p = self.payment_prefix
        self.fields[f"{p}_amount"] = MoneyField(required=False, label=label, help_text=help_text)
        self.fields[f"{p}_method"] = forms.ChoiceField(
            required=False,
            choices=METHOD_CHOICES,
            label="Payment method",
            help_text="Needed when money is collected.",
        )
        self.fields[f"{p}_receipt"] = forms.CharField(
            required=False,
            max_length=40,
            label="Receipt number",
            help_text="Needed when money is collected.",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        p = self.payment_prefix
        amount = cleaned.get(f"{p}_amount")
        if amount is not None and amount == 0:
            cleaned[f"{p}_amount"] = amount = None
        if amount is not None:
            if not cleaned.get(f"{p}_method"):
                self.add_error(f"{p}_method", "Choose how the patient paid.")
            if not (cleaned.get(f"{p}_receipt") or "").strip():
                self.add_error(f"{p}_receipt", "Enter the receipt number for this payment.")
        return cleaned

    def payment(self) -> PaymentInput | None:
        p = self.payment_prefix
        amount = self.cleaned_data.get(f"{p}_amount")
        if amount is None:
            return None
        return PaymentInput(
            amount=amount,
            method=self.cleaned_data[f"{p}_method"],
            receipt_number=self.cleaned_data[f"{p}_receipt"].strip(),
        )


class CheckInForm(PaymentFields):
    """What the desk records when the patient arrives."""

    insurance_confirmed = forms.BooleanField(
        required=False, label="Insurance card seen and coverage confirmed with the patient"
    )
    forms_signed = forms.MultipleChoiceField(
        required=False,
        choices=IntakeForm.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Forms signed",
    )
    notes = forms.CharField(
        required=False, max_length=255, label="Note for the care team", widget=forms.TextInput
    )

    demographics_confirmed = forms.BooleanField(
        required=False, label="Demographics confirmed with the patient"
    )

    def __init__(self, *args: Any, has_coverage: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_payment_fields(
            "Copay collected", "Dollars and cents, for example 25.00. Leave empty if none."
        )
        if not has_coverage:
            # No insurance in effect: there is no card to have seen (the page says self-pay).
            del self.fields["insurance_confirmed"]

    def check_in_fields(self) -> dict[str, Any]:
        return {
            "copay": self.payment(),
            "forms_signed": self.cleaned_data["forms_signed"],
            "insurance_confirmed": bool(self.cleaned_data.get("insurance_confirmed")),
            "notes": self.cleaned_data["notes"],
        }


class WalkInForm(CheckInForm):
    provider = forms.ModelChoiceField(queryset=Staff.objects.none(), label="Provider")
    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.none(), label="Visit type"
    )
    overbook_reason = forms.CharField(
        required=False,
        max_length=255,
        label="Overbook reason",
        help_text="Only used when the provider has no open slot left today.",
    )
    # One per rendering: a repeat of this submission answers "already checked in".
    submission_key = SubmissionKeyField()

    field_order = ["provider", "appointment_type"]

    def __init__(
        self,
        *args: Any,
        providers: QuerySet[Staff],
        types: QuerySet[AppointmentType],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        provider = cast("forms.ModelChoiceField[Staff]", self.fields["provider"])
        provider.queryset = providers
        provider.empty_label = "Select…"
        kind = cast("forms.ModelChoiceField[AppointmentType]", self.fields["appointment_type"])
        kind.queryset = types
        kind.empty_label = "Select…"


class MoveForm(forms.Form):
    """A step change from the board or the visit page."""

    to = forms.ChoiceField(choices=Step.choices)
    expected = forms.ChoiceField(choices=Step.choices)
    room = forms.ModelChoiceField(queryset=Room.objects.none(), required=False, label="Room")
    reason = forms.CharField(required=False, max_length=255, label="Reason")

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        room = cast("forms.ModelChoiceField[Room]", self.fields["room"])
        room.queryset = Room.objects.filter(clinic=clinic, is_active=True)
        room.error_messages["invalid_choice"] = "That room is not in use at this clinic."


class ChangeRoomForm(forms.Form):
    expected = forms.ChoiceField(choices=Step.choices)
    room = forms.ModelChoiceField(queryset=Room.objects.none(), label="New room")

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        room = cast("forms.ModelChoiceField[Room]", self.fields["room"])
        room.queryset = Room.objects.filter(clinic=clinic, is_active=True)
        room.empty_label = "Select…"


class UndoForm(forms.Form):
    expected = forms.ChoiceField(choices=Step.choices)
    reason = forms.CharField(
        max_length=255,
        label="Reason for the undo",
        help_text="For example: wrong patient, clicked too early.",
    )


class CheckoutForm(PaymentFields):
    payment_prefix = "balance"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_payment_fields(
            "Balance collected", "Dollars and cents, for example 40.00. Leave empty if none."
        )


FOLLOW_UP_IN = [
    ("1w", "1 week"),
    ("2w", "2 weeks"),
    ("4w", "4 weeks"),
    ("3m", "3 months"),
    ("6m", "6 months"),
]
FOLLOW_UP_DAYS = {"1w": 7, "2w": 14, "4w": 28, "3m": 91, "6m": 182}


class FollowUpSearchForm(forms.Form):
    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.none(), label="Visit type"
    )
    provider = forms.ModelChoiceField(
        queryset=Staff.objects.none(), required=False, label="Provider"
    )
    within = forms.ChoiceField(choices=FOLLOW_UP_IN, initial="2w", label="Follow up in")
    time_of_day = forms.ChoiceField(
        choices=[("any", "Any time"), ("morning", "Morning"), ("afternoon", "Afternoon")],
        initial="any",
        label="Time of day",
    )

    def __init__(
        self,
        *args: Any,
        providers: QuerySet[Staff],
        types: QuerySet[AppointmentType],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        provider = cast("forms.ModelChoiceField[Staff]", self.fields["provider"])
        provider.queryset = providers
        provider.empty_label = "Any provider"
        kind = cast("forms.ModelChoiceField[AppointmentType]", self.fields["appointment_type"])
        kind.queryset = types
        kind.empty_label = "Select…"

    def start_date(self, today: Any) -> Any:
        return today + timedelta(days=FOLLOW_UP_DAYS[self.cleaned_data["within"]])


class FollowUpBookForm(forms.Form):
    appointment_type = forms.ModelChoiceField(queryset=AppointmentType.objects.none())
    provider = forms.ModelChoiceField(queryset=Staff.objects.none())
    start = forms.CharField(max_length=40)
    # One per rendering of the slots: a repeat answers "already booked".
    submission_key = SubmissionKeyField()

    def __init__(
        self,
        *args: Any,
        providers: QuerySet[Staff],
        types: QuerySet[AppointmentType],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Staff]", self.fields["provider"]).queryset = providers
        kind = cast("forms.ModelChoiceField[AppointmentType]", self.fields["appointment_type"])
        kind.queryset = types

    def clean_start(self) -> datetime:
        try:
            start = datetime.fromisoformat(self.cleaned_data["start"])
        except ValueError as error:
            raise forms.ValidationError("That slot time is not valid.", code="invalid") from error
        if timezone.is_naive(start):
            raise forms.ValidationError("That slot time has no time zone.", code="invalid")
        return start


class DemographicsForm(forms.ModelForm):
    """The details a patient confirms at the desk, edited in place on the check-in screen."""

    class Meta:
        model = Patient
        fields = [
            "preferred_name",
            "phone",
            "email",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "postal_code",
            "preferred_language",
        ]
        labels = {"postal_code": "ZIP code", "address_line1": "Street address"}
        help_texts = {"phone": "10 digits, for example (555) 123-4567."}
        widgets = {
            "phone": forms.TextInput(attrs={"type": "tel", "inputmode": "tel"}),
            "state": forms.TextInput(attrs={"size": 4}),
            "postal_code": forms.TextInput(attrs={"inputmode": "numeric", "size": 10}),
        }

    def clean_phone(self) -> str:
        phone = self.cleaned_data["phone"]
        return format_us_phone(phone) if phone else ""

    def clean_state(self) -> str:
        state = self.cleaned_data["state"]
        return state.upper() if len(state) == 2 else state

    def clean_postal_code(self) -> str:
        code = self.cleaned_data["postal_code"]
        if code and not re.fullmatch(r"\d{5}(-\d{4})?", code):
            raise forms.ValidationError(
                "Enter a 5-digit ZIP code, or ZIP+4 such as 12345-6789.", code="invalid"
            )
        return code

    def changed_fields(self) -> dict[str, Any]:
        # Only what the desk changed, so a concurrent edit of another field is not undone.
        return {k: v for k, v in self.cleaned_data.items() if k in self.changed_data}


class ThresholdForm(forms.Form):
    """Amber and red minutes for each step of the board."""

    def __init__(self, *args: Any, current: dict[str, tuple[int, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for step in ACTIVE_STEPS:
            amber, red = current[step]
            label = Step(step).label
            self.fields[f"{step}_amber"] = forms.IntegerField(
                min_value=1, max_value=600, initial=amber, label=f"{label}: amber after (minutes)"
            )
            self.fields[f"{step}_red"] = forms.IntegerField(
                min_value=2, max_value=600, initial=red, label=f"{label}: red after (minutes)"
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for step in ACTIVE_STEPS:
            amber, red = cleaned.get(f"{step}_amber"), cleaned.get(f"{step}_red")
            if amber is not None and red is not None and red <= amber:
                self.add_error(f"{step}_red", "Red must be more minutes than amber.")
        return cleaned

    def thresholds(self) -> dict[str, tuple[int, int]]:
        return {
            step: (self.cleaned_data[f"{step}_amber"], self.cleaned_data[f"{step}_red"])
            for step in ACTIVE_STEPS
        }
