"""Forms of the manager's screens: schedule templates (a header and a formset of blocks), and
provider time off and clinic closures. Choices come from the current clinic only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django import forms
from django.forms import BaseFormSet, formset_factory

from clinicops.core.fields import DateField, DateTimeField
from clinicops.core.models import Clinic, OpeningHours

from .forms import DATETIME_INPUT_FORMATS, DateInput, DateTimeInput, ProviderChoiceField
from .models import AppointmentType, TemplateBlock
from .screens import clinic_providers
from .services.templates import BlockSpec

MAX_BLOCK_ROWS = 60


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%H:%M")


def _provider_field(clinic: Clinic) -> ProviderChoiceField:
    return ProviderChoiceField(
        queryset=clinic_providers(clinic),
        label="Provider",
        error_messages={
            "required": "Choose a provider.",
            "invalid_choice": f"This provider does not work at {clinic.name}.",
        },
    )


class TemplateForm(forms.Form):
    """The template's header: whose it is and from when it takes over."""

    provider = forms.Field()
    name = forms.CharField(required=False, max_length=80, label="Name")
    effective_from = DateField(
        label="Takes over from", widget=DateInput(), help_text="The first day it applies."
    )
    effective_to = DateField(
        label="Ends on", required=False, widget=DateInput(), help_text="Leave empty: open-ended."
    )

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["provider"] = _provider_field(clinic)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("effective_from"), data.get("effective_to")
        if start and end and end < start:
            self.add_error("effective_to", "The template must end on or after its first day.")
        return data


class BlockForm(forms.Form):
    """One block of a weekday, in the clinic's local time."""

    weekday = forms.TypedChoiceField(
        label="Weekday",
        # A blank first choice keeps an untouched spare row blank, so it is skipped.
        choices=[("", "—"), *OpeningHours.Weekday.choices],
        coerce=int,
    )
    start_time = forms.TimeField(label="Start", widget=TimeInput())
    end_time = forms.TimeField(label="End", widget=TimeInput())
    slot_minutes = forms.IntegerField(label="Slot minutes", min_value=5, max_value=240, initial=15)
    kind = forms.ChoiceField(
        label="Kind", choices=TemplateBlock.Kind.choices, initial=TemplateBlock.Kind.REGULAR
    )
    appointment_types = forms.ModelMultipleChoiceField(
        queryset=AppointmentType.objects.none(),
        required=False,
        label="Accepted types",
        help_text="None chosen: any type.",
        widget=forms.CheckboxSelectMultiple,
    )
    hold_release_hours = forms.IntegerField(
        label="Hold release hours", min_value=0, max_value=24 * 14, initial=24
    )
    overbook_limit = forms.IntegerField(
        label="Overbook limit", min_value=0, max_value=50, initial=0
    )

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        types = cast(forms.ModelMultipleChoiceField, self.fields["appointment_types"])
        types.queryset = AppointmentType.objects.filter(clinic=clinic, is_active=True)
        types.error_messages["invalid_choice"] = f"Choose types offered at {clinic.name}."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and end <= start:
            self.add_error("end_time", "A block must end after it starts.")
        return data

    def spec(self) -> BlockSpec:
        data = self.cleaned_data
        return BlockSpec(
            weekday=data["weekday"],
            start_time=data["start_time"],
            end_time=data["end_time"],
            slot_minutes=data["slot_minutes"],
            kind=data["kind"],
            appointment_type_ids=tuple(t.pk for t in data["appointment_types"]),
            hold_release_hours=data["hold_release_hours"],
            overbook_limit=data["overbook_limit"],
        )


class BaseBlockFormSet(BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        if not self.specs():
            raise forms.ValidationError("Add at least one block.")

    def specs(self) -> list[BlockSpec]:
        """The filled-in rows as service input (blank rows are skipped)."""
        return [
            form.spec()
            for form in self.forms
            if form.has_changed() and not self._should_delete_form(form) and form.cleaned_data
        ]


BlockFormSet = formset_factory(
    BlockForm,
    formset=BaseBlockFormSet,
    extra=5,
    max_num=MAX_BLOCK_ROWS,
    validate_max=True,
    absolute_max=MAX_BLOCK_ROWS,
)


class TimeOffForm(forms.Form):
    """A provider away for a stretch of time (clinic local time)."""

    provider = forms.Field()
    start = DateTimeField(
        label="From", input_formats=DATETIME_INPUT_FORMATS, widget=DateTimeInput()
    )
    end = DateTimeField(label="Until", input_formats=DATETIME_INPUT_FORMATS, widget=DateTimeInput())
    reason = forms.CharField(required=False, max_length=120, label="Reason")

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, prefix="timeoff", **kwargs)
        self.fields["provider"] = _provider_field(clinic)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: datetime | None = data.get("start")
        end: datetime | None = data.get("end")
        if start and end and end <= start:
            self.add_error("end", "The end must be after the start.")
        return data


class ClosureForm(forms.Form):
    """A day the whole clinic is closed."""

    day = DateField(label="Day", widget=DateInput())
    reason = forms.CharField(required=False, max_length=120, label="Reason")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="closure", **kwargs)
