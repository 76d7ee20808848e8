"""Forms for the front desk: patient demographics and insurance coverage."""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms

from . import selectors
from .models import Clinic, Coverage, Patient, Payer, User
from .services import COVERAGE_FIELDS, PATIENT_FIELDS, date_of_birth_problem

DATE_INPUT_FORMATS = ["%Y-%m-%d", "%m/%d/%Y"]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        # The browser's date picker sends and expects ISO dates whatever the display locale.
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def format_us_phone(value: str) -> str:
    """(555) 123-4567 for any way of typing a 10-digit number (a leading 1 is dropped)."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or re.search(r"[^\d\s()+\-.]", value):
        raise forms.ValidationError(
            "Enter a 10-digit phone number, for example (555) 123-4567.", code="invalid"
        )
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def _check_name(value: str) -> str:
    if re.search(r"\d", value):
        raise forms.ValidationError("A name cannot contain digits.", code="invalid")
    return value


class PatientForm(forms.ModelForm):
    register_anyway = forms.BooleanField(
        required=False,
        label="Register anyway: this is a different person",
    )

    class Meta:
        model = Patient
        fields = [
            "first_name",
            "middle_name",
            "last_name",
            "preferred_name",
            "date_of_birth",
            "sex",
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
        help_texts = {
            "preferred_name": "What the patient likes to be called, if not their first name.",
            "phone": "10 digits, for example (555) 123-4567.",
        }
        widgets = {
            "date_of_birth": DateInput(),
            "phone": forms.TextInput(attrs={"type": "tel", "inputmode": "tel"}),
            "email": forms.EmailInput(),
            "state": forms.TextInput(attrs={"size": 4}),
            "postal_code": forms.TextInput(attrs={"inputmode": "numeric", "size": 10}),
        }

    def __init__(self, *args: Any, clinic: Clinic, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.user = user
        self.duplicates: list[Patient] = []
        today = clinic.today()
        dob = cast("forms.DateField", self.fields["date_of_birth"])
        dob.input_formats = DATE_INPUT_FORMATS
        dob.widget.attrs.update(
            {"max": today.isoformat(), "min": today.replace(year=today.year - 120).isoformat()}
        )
        sex = cast("forms.ChoiceField", self.fields["sex"])
        sex.choices = [("", "Select…"), *Patient.Sex.choices]
        if self.instance.pk:
            del self.fields["register_anyway"]

    def clean_first_name(self) -> str:
        return _check_name(self.cleaned_data["first_name"])

    def clean_middle_name(self) -> str:
        return _check_name(self.cleaned_data["middle_name"])

    def clean_last_name(self) -> str:
        return _check_name(self.cleaned_data["last_name"])

    def clean_date_of_birth(self) -> Any:
        day = self.cleaned_data["date_of_birth"]
        problem = date_of_birth_problem(day, today=self.clinic.today())
        if problem:
            raise forms.ValidationError(problem, code="invalid")
        return day

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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        first, last = cleaned.get("first_name"), cleaned.get("last_name")
        dob = cleaned.get("date_of_birth")
        if self.instance.pk is None and first and last and dob:
            self.duplicates = list(
                selectors.possible_duplicates(
                    user=self.user,
                    clinic=self.clinic,
                    first_name=first,
                    last_name=last,
                    date_of_birth=dob,
                )[:10]
            )
            if self.duplicates and not cleaned.get("register_anyway"):
                self.add_error(
                    "register_anyway",
                    "A patient with this name and date of birth is already registered here. "
                    "Open that record, or tick this box only if this is a different person.",
                )
        return cleaned

    def patient_fields(self, *, changed_only: bool = False) -> dict[str, Any]:
        """The model fields to save (on an edit, only those the user changed)."""
        # Changed fields only: two people editing different fields of one patient at once
        # must not undo each other's work with the stale values their forms loaded.
        names = set(self.changed_data) if changed_only else set(self.cleaned_data)
        return {k: v for k, v in self.cleaned_data.items() if k in PATIENT_FIELDS and k in names}


class CoverageForm(forms.ModelForm):
    eligibility_verified = forms.BooleanField(
        required=False, label="Eligibility verified with the payer just now"
    )

    class Meta:
        model = Coverage
        fields = [
            "payer",
            "priority",
            "member_id",
            "group_number",
            "subscriber_relationship",
            "subscriber_name",
            "subscriber_date_of_birth",
            "subscriber_sex",
            "subscriber_address_line1",
            "subscriber_city",
            "subscriber_state",
            "subscriber_postal_code",
            "effective_from",
            "effective_to",
            "copay_amount",
            "copay_percent",
        ]
        labels = {
            "member_id": "Member ID",
            "subscriber_relationship": "Patient's relationship to subscriber",
            "effective_from": "Effective from",
            "effective_to": "Effective to",
        }
        help_texts = {
            "effective_to": "Leave empty if the coverage has no end date.",
            "copay_amount": "What the patient pays at a visit, for example 25.00. Check-in "
            "prefills it.",
            "copay_percent": "Or the patient's share of the charge, for example 20. Leave "
            "both empty when unknown.",
        }
        widgets = {
            "effective_from": DateInput(),
            "effective_to": DateInput(),
            "subscriber_date_of_birth": DateInput(),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        payer = cast("forms.ModelChoiceField[Payer]", self.fields["payer"])
        payer.queryset = selectors.active_payers()
        payer.empty_label = "Select…"
        for name in ("effective_from", "effective_to"):
            field = cast("forms.DateField", self.fields[name])
            field.input_formats = DATE_INPUT_FORMATS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        starts, ends = cleaned.get("effective_from"), cleaned.get("effective_to")
        if starts and ends and ends < starts:
            self.add_error("effective_to", "The end date must be on or after the start date.")
        relationship = cleaned.get("subscriber_relationship")
        others = relationship and relationship != Coverage.Relationship.SELF
        if others and not cleaned.get("subscriber_name"):
            self.add_error(
                "subscriber_name",
                "Enter the subscriber's name when the patient is not the subscriber.",
            )
        amount, percent = cleaned.get("copay_amount"), cleaned.get("copay_percent")
        if amount is not None and amount < 0:
            self.add_error("copay_amount", "A copay cannot be negative.")
        if amount is not None and percent is not None:
            self.add_error("copay_percent", "Give a copay amount or a percentage, not both.")
        return cleaned

    def _post_clean(self) -> None:
        # The model's end-after-start constraint is reported on the field by clean() instead.
        self._validate_constraints = False
        super()._post_clean()

    def coverage_fields(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.cleaned_data.items() if k in COVERAGE_FIELDS}
        fields["eligibility_verified"] = bool(self.cleaned_data.get("eligibility_verified"))
        return fields
