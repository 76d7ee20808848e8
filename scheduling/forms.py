"""Forms of the front desk's scheduling screens. Every one reads its choices from the current
clinic, so an id from another clinic is an ordinary "not at this clinic" error."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, cast

from django import forms
from django.db.models import QuerySet

from clinicops.core.fields import DateField, DateTimeField, SubmissionKeyField
from clinicops.core.models import Clinic, Patient, Staff, User

from . import refcache
from .models import Appointment, AppointmentType, WaitlistEntry
from .screens import clinic_providers

DATETIME_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
MAX_SEARCH_DAYS = 366

WEEKDAYS = [
    ("0", "Mon"),
    ("1", "Tue"),
    ("2", "Wed"),
    ("3", "Thu"),
    ("4", "Fri"),
    ("5", "Sat"),
    ("6", "Sun"),
]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        # The browser's date picker sends and expects ISO dates whatever the display locale.
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class CachedChoiceIterator(forms.models.ModelChoiceIterator):
    """The choices from one plain query, kept for the request (Django's iterator opens a
    server-side cursor each time the select renders: DECLARE, FETCH, CLOSE round trips)."""

    def __init__(self, field: CachedModelChoiceField) -> None:
        self.field = field  # its queryset is read only if the choices are neither given nor cached

    @property
    def queryset(self) -> Any:
        return self.field.queryset

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        cache_key = getattr(self.field, "cache_key", "")
        if self.field.preloaded is not None:
            # Read by the view together with its other reference data (the day view).
            objs = self.field.preloaded
        elif cache_key:
            # Reference data (the clinic's providers): cached, replaced when it changes.
            objs = refcache.cached(cache_key, lambda: list(self.queryset.all()))
        else:
            objs = self.queryset.all()
        for obj in objs:
            yield self.choice(obj)


class CachedModelChoiceField(forms.ModelChoiceField):
    """A select of reference data: its choices come from the cache under `cache_key`.

    Made with `queryset=None` and a `build_queryset`, it builds its queryset only when it
    needs it: to check a submitted choice, or to read the choices on a cache miss. The day
    view's unbound filter needs neither (its choices are preloaded), and building the clinic's
    providers query was about 0.3 ms of CPU on every day view (docs/benchmarks.md, issue 18).
    """

    iterator = CachedChoiceIterator
    cache_key = ""
    preloaded: list[Any] | None = None  # the choices, when the view has read them already
    build_queryset: Callable[[], QuerySet[Any]] | None = None

    @property  # type: ignore[override]
    def queryset(self) -> QuerySet[Any] | None:
        if self._queryset is None and self.build_queryset is not None:
            self._queryset = self.build_queryset()
        return self._queryset

    @queryset.setter
    def queryset(self, queryset: QuerySet[Any] | None) -> None:
        self._set_queryset(queryset)


class ProviderChoiceField(CachedModelChoiceField):
    def label_from_instance(self, obj: Staff) -> str:
        return str(obj)


class PatientChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Patient) -> str:
        return f"{obj.last_name}, {obj.first_name} · MRN {obj.mrn}"


def _patients(clinic: Clinic, user: User) -> Any:
    return Patient.objects.for_user(user).for_clinic(clinic).filter(is_active=True)


def _types(clinic: Clinic) -> Any:
    return AppointmentType.objects.filter(clinic=clinic, is_active=True).order_by("name")


def _patient_field(clinic: Clinic, user: User, *, required: bool) -> PatientChoiceField:
    return PatientChoiceField(
        queryset=_patients(clinic, user),
        required=required,
        label="Patient",
        # Rendered by the patient picker (a live search), never as a list of every patient.
        widget=forms.HiddenInput,
        error_messages={
            "required": "Choose a patient.",
            "invalid_choice": f"This patient is not registered at {clinic.name}.",
        },
    )


def _type_field(clinic: Clinic, *, required: bool = True) -> forms.ModelChoiceField:
    field = CachedModelChoiceField(
        queryset=_types(clinic),
        required=required,
        label="Appointment type",
        empty_label="Choose a type…",
        error_messages={
            "required": "Choose an appointment type.",
            "invalid_choice": f"This appointment type is not offered at {clinic.name}.",
        },
    )
    field.cache_key = f"types:{clinic.pk}"
    return field


def _provider_field(
    clinic: Clinic, *, required: bool, empty_label: str = "Any provider"
) -> ProviderChoiceField:
    field = ProviderChoiceField(
        queryset=None,
        required=required,
        label="Provider",
        empty_label=empty_label,
        error_messages={
            "required": "Choose a provider.",
            "invalid_choice": f"This provider does not work at {clinic.name}.",
        },
    )
    field.build_queryset = functools.partial(clinic_providers, clinic)
    field.cache_key = f"providers:{clinic.pk}"
    return field


class DayForm(forms.Form):
    """The day view's date and provider filter (a GET form: bad input falls back to today)."""

    date = DateField(required=False, label="Date", widget=DateInput())
    provider = forms.Field(required=False)

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["provider"] = _provider_field(
            clinic, required=False, empty_label="All providers"
        )

    def chosen_day(self) -> date:
        if self.is_bound and self.is_valid() and self.cleaned_data["date"]:
            return cast(date, self.cleaned_data["date"])
        return self.clinic.today()

    def chosen_provider(self) -> Staff | None:
        if self.is_bound and self.is_valid():
            return cast("Staff | None", self.cleaned_data["provider"])
        return None


class WeekForm(DayForm):
    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, clinic=clinic, **kwargs)
        self.fields["provider"] = _provider_field(
            clinic, required=True, empty_label="Choose a provider…"
        )


class FindSlotForm(forms.Form):
    """Find-a-slot: the patient, the type, and the patient's preferences."""

    patient = forms.Field(required=False)
    appointment_type = forms.Field()
    provider = forms.Field(required=False)
    start_date = DateField(required=False, label="From", widget=DateInput())
    end_date = DateField(required=False, label="To", widget=DateInput())
    time_of_day = forms.ChoiceField(
        label="Time of day",
        required=False,
        choices=WaitlistEntry.TimeOfDay.choices,
        initial=WaitlistEntry.TimeOfDay.ANY,
    )
    weekdays = forms.MultipleChoiceField(
        label="Days of the week",
        required=False,
        choices=WEEKDAYS,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any day.",
    )
    reschedule = forms.Field(required=False, widget=forms.HiddenInput)
    count = forms.IntegerField(
        required=False, min_value=1, max_value=48, initial=8, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, clinic: Clinic, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["patient"] = _patient_field(clinic, user, required=False)
        self.fields["appointment_type"] = _type_field(clinic)
        self.fields["provider"] = _provider_field(clinic, required=False)
        self.fields["reschedule"] = forms.ModelChoiceField(
            queryset=Appointment.objects.for_user(user).filter(
                clinic=clinic, status__in=(Appointment.Status.BOOKED, Appointment.Status.CONFIRMED)
            ),
            required=False,
            widget=forms.HiddenInput,
            error_messages={"invalid_choice": "That appointment can no longer be rescheduled."},
        )
        today = clinic.today()
        for name in ("start_date", "end_date"):
            self.fields[name].widget.attrs["min"] = today.isoformat()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        today = self.clinic.today()
        if start and end and end < start:
            self.add_error("end_date", "The last date must not be before the first.")
        elif end and end < today:
            self.add_error("end_date", "That date has already passed.")
        elif end and (end - max(start or today, today)).days > MAX_SEARCH_DAYS:
            self.add_error("end_date", "Search at most a year ahead.")
        reschedule = cleaned.get("reschedule")
        patient = cleaned.get("patient")
        if reschedule is not None and patient is not None and reschedule.patient_id != patient.pk:
            self.add_error("patient", "A rescheduled appointment keeps its patient.")
        return cleaned

    def search_kwargs(self) -> dict[str, Any]:
        """The arguments for `availability.find_slots`."""
        data = self.cleaned_data
        return {
            "appointment_type": data["appointment_type"],
            "provider": data["provider"],
            "start_date": data["start_date"],
            "end_date": data["end_date"],
            "time_of_day": data["time_of_day"] or None,
            "weekdays": [int(d) for d in data["weekdays"]] or None,
            "count": data["count"] or 8,
        }


class BookingForm(forms.Form):
    """One booking: from a found slot (hidden fields) or typed in on the booking page."""

    patient = forms.Field()
    provider = forms.Field()
    appointment_type = forms.Field()
    start = DateTimeField(
        label="Start", input_formats=DATETIME_INPUT_FORMATS, widget=DateTimeInput()
    )
    end = DateTimeField(
        label="End",
        required=False,
        input_formats=DATETIME_INPUT_FORMATS,
        widget=DateTimeInput(),
        help_text="Leave empty to use the appointment type's length.",
    )
    notes = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    overbook = forms.BooleanField(required=False, label="Book as a declared overbook")
    overbook_reason = forms.CharField(
        required=False, max_length=255, label="Reason for the overbook"
    )
    reschedule = forms.Field(required=False, widget=forms.HiddenInput)
    # The find-a-slot search this booking came from, to show fresh slots if it fails.
    criteria = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    # One per rendering: a repeat of this submission answers "already booked".
    submission_key = SubmissionKeyField()

    def __init__(self, *args: Any, clinic: Clinic, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["patient"] = _patient_field(clinic, user, required=True)
        self.fields["provider"] = _provider_field(
            clinic, required=True, empty_label="Choose a provider…"
        )
        self.fields["appointment_type"] = _type_field(clinic)
        self.fields["reschedule"] = forms.ModelChoiceField(
            queryset=Appointment.objects.for_user(user).filter(clinic=clinic),
            required=False,
            widget=forms.HiddenInput,
            error_messages={"invalid_choice": "That appointment was not found at this clinic."},
        )
        if not user.has_perm("scheduling.overbook_appointment"):
            del self.fields["overbook"]
            del self.fields["overbook_reason"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end <= start:
            self.add_error("end", "The end must be after the start.")
        elif start and end and end - start > timedelta(hours=12):
            self.add_error("end", "An appointment can last at most 12 hours.")
        reschedule = cleaned.get("reschedule")
        patient = cleaned.get("patient")
        if reschedule is not None and patient is not None and reschedule.patient_id != patient.pk:
            self.add_error("patient", "A rescheduled appointment keeps its patient.")
        if cleaned.get("overbook") and not (cleaned.get("overbook_reason") or "").strip():
            self.add_error("overbook_reason", "Give the reason for this overbook.")
        return cleaned


STATUS_ACTIONS = {
    Appointment.Status.CONFIRMED: "Mark confirmed",
    Appointment.Status.ARRIVED: "Mark arrived",
    Appointment.Status.COMPLETED: "Mark completed",
    Appointment.Status.NO_SHOW: "Mark no-show",
}


class StatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=list(STATUS_ACTIONS.items()),
        error_messages={"invalid_choice": "That status cannot be set here."},
    )


class CancelForm(forms.Form):
    reason = forms.ChoiceField(
        label="Reason",
        choices=[("", "Choose a reason…")]
        + [
            (value, label)
            for value, label in Appointment.CancelReason.choices
            if value != Appointment.CancelReason.RESCHEDULED
        ],
        error_messages={
            "required": "Choose a reason for the cancellation.",
            "invalid_choice": "Choose a reason from the list.",
        },
    )
    note = forms.CharField(label="Note", required=False, max_length=255)


class NotesForm(forms.Form):
    notes = forms.CharField(
        label="Notes", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )


class WaitlistEntryForm(forms.Form):
    patient = forms.Field()
    appointment_type = forms.Field()
    provider = forms.Field(required=False)
    earliest = DateField(label="Earliest date", widget=DateInput())
    latest = DateField(label="Latest date", widget=DateInput())
    time_of_day = forms.ChoiceField(
        label="Time of day",
        choices=WaitlistEntry.TimeOfDay.choices,
        initial=WaitlistEntry.TimeOfDay.ANY,
    )
    notes = forms.CharField(label="Notes", required=False, max_length=255)

    def __init__(self, *args: Any, clinic: Clinic, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["patient"] = _patient_field(clinic, user, required=True)
        self.fields["appointment_type"] = _type_field(clinic)
        self.fields["provider"] = _provider_field(clinic, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        earliest, latest = cleaned.get("earliest"), cleaned.get("latest")
        if earliest and latest and latest < earliest:
            self.add_error("latest", "The latest date must not be before the earliest.")
        elif latest and latest < self.clinic.today():
            self.add_error("latest", "The latest date has already passed.")
        return cleaned
