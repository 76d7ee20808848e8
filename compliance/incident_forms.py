"""Incident forms: each names the field that is wrong; the services check the rules again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms

from clinicops.core.fields import DateField, DateTimeField, SubmissionKeyField, clean_text
from clinicops.core.models import Clinic, Patient, User

from . import incidents
from .models import CorrectiveAction, Incident


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


def _text(form: forms.Form, name: str, *, required_message: str | None = None) -> str:
    text = clean_text(form.cleaned_data.get(name) or "").strip()
    if required_message and not text:
        raise forms.ValidationError(required_message)
    return text


class UserChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


class ErrorListMixin:
    def error_list(self) -> list[str]:
        """Every error as "Field: message", for the summary above the form."""
        form: Any = self
        return [
            f"{form.fields[name].label}: {message}" if name in form.fields else str(message)
            for name, messages in form.errors.items()
            for message in messages
        ]


class IncidentForm(ErrorListMixin, forms.Form):
    """Report an incident or a near miss."""

    kind = forms.ChoiceField(
        label="What kind of event", choices=Incident.Kind.choices, initial=Incident.Kind.INCIDENT
    )
    title = forms.CharField(
        label="Short title",
        max_length=200,
        error_messages={"required": "Give the incident a short title."},
    )
    description = forms.CharField(
        label="What happened",
        max_length=4000,
        error_messages={"required": "Say what happened."},
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The facts: what happened, in order. No blame, no names of patients here.",
    )
    location = forms.CharField(
        label="Where",
        max_length=200,
        help_text="Room, area or workstation.",
        error_messages={"required": "Say where it happened."},
    )
    occurred_at = DateTimeField(
        label="When",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=DateTimeInput(),
        help_text="Clinic time.",
    )
    category = forms.ChoiceField(label="Category", choices=Incident.Category.choices)
    harm = forms.ChoiceField(
        label="Harm (AHRQ harm scale)",
        choices=Incident.Harm.choices,
        help_text="For a near miss or an unsafe condition: “Did not reach a patient or person”.",
    )
    patient_mrn = forms.CharField(
        label="Patient MRN",
        max_length=12,
        required=False,
        help_text="Only a patient of this clinic you may see.",
    )
    witnesses = forms.CharField(
        label="Witnesses",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Who saw it, one per line.",
    )
    immediate_action = forms.CharField(
        label="What was done at once",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    submission_key = SubmissionKeyField()

    def __init__(self, *args: Any, user: User, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user, self.clinic = user, clinic
        self.patient: Patient | None = None

    def clean_title(self) -> str:
        return _text(self, "title", required_message="Give the incident a short title.")

    def clean_description(self) -> str:
        return _text(self, "description", required_message="Say what happened.")

    def clean_location(self) -> str:
        return _text(self, "location", required_message="Say where it happened.")

    def clean_witnesses(self) -> str:
        return _text(self, "witnesses")

    def clean_immediate_action(self) -> str:
        return _text(self, "immediate_action")

    def clean_occurred_at(self) -> datetime:
        value: datetime = self.cleaned_data["occurred_at"]
        # Typed as the clinic's wall-clock time: Django made it aware in the current zone
        # with the typed wall-clock kept; put the clinic's zone in its place.
        wall = value.replace(tzinfo=None)
        local = wall.replace(tzinfo=self.clinic.tz)
        if local > datetime.now(tz=UTC) + incidents.CLOCK_SLACK:
            raise forms.ValidationError("The incident cannot have happened in the future.")
        return local

    def clean_patient_mrn(self) -> str:
        mrn = clean_text(self.cleaned_data["patient_mrn"]).strip()
        if not mrn:
            return ""
        patient = Patient.objects.for_user(self.user).filter(clinic=self.clinic, mrn=mrn).first()
        if patient is None:
            raise forms.ValidationError(
                f"No patient with MRN {mrn} at {self.clinic.name} that you may see."
            )
        self.patient = patient
        return mrn

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") and data.get("harm"):
            try:
                incidents.check_kind_and_harm(data["kind"], data["harm"])
            except incidents.Refused as refused:
                self.add_error("harm", str(refused))
        return data


class TriageForm(ErrorListMixin, forms.Form):
    expected = forms.CharField(widget=forms.HiddenInput, required=False, max_length=20)
    priority = forms.ChoiceField(label="Priority", choices=Incident.Priority.choices)
    lead = UserChoiceField(
        label="Lead investigator",
        queryset=User.objects.none(),
        empty_label="Choose who leads it…",
        error_messages={"invalid_choice": "Choose someone from the list."},
    )
    category = forms.ChoiceField(label="Category", choices=Incident.Category.choices)
    harm = forms.ChoiceField(label="Harm (AHRQ harm scale)", choices=Incident.Harm.choices)
    note = forms.CharField(
        label="Triage note",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lead"].queryset = incidents.leads_for(clinic)  # type: ignore[attr-defined]

    def clean_note(self) -> str:
        return _text(self, "note")


class MoveForm(forms.Form):
    """A move with no fields of its own (start the investigation, finish the analysis)."""

    expected = forms.CharField(widget=forms.HiddenInput, required=False, max_length=20)


class ReasonForm(ErrorListMixin, forms.Form):
    """Close (a reason only when the actions are not all verified) or reopen (a reason)."""

    expected = forms.CharField(widget=forms.HiddenInput, required=False, max_length=20)
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_reason(self) -> str:
        return _text(self, "reason")


class AnalysisForm(ErrorListMixin, forms.Form):
    """Root-cause analysis: five whys, fishbone factors by category, the root cause."""

    root_cause = forms.CharField(
        label="Root cause",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The cause that, removed, would have prevented it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for n in range(1, 6):
            self.fields[f"why_{n}"] = forms.CharField(
                label=f"Why {n}", max_length=500, required=False
            )
        for value, label in Incident.Fishbone.choices:
            self.fields[f"fishbone_{value}"] = forms.CharField(
                label=label,
                max_length=1000,
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    @classmethod
    def initial_for(cls, incident: Incident) -> dict[str, str]:
        initial = {"root_cause": incident.root_cause}
        for n, why in enumerate(incident.whys[:5], start=1):
            initial[f"why_{n}"] = why
        for value, text in (incident.fishbone or {}).items():
            initial[f"fishbone_{value}"] = text
        return initial

    def why_fields(self) -> list[forms.BoundField]:
        return [self[f"why_{n}"] for n in range(1, 6)]

    def fishbone_fields(self) -> list[forms.BoundField]:
        return [self[f"fishbone_{value}"] for value in Incident.Fishbone.values]

    def whys(self) -> list[str]:
        return [clean_text(self.cleaned_data[f"why_{n}"]) for n in range(1, 6)]

    def fishbone(self) -> dict[str, str]:
        return {
            value: clean_text(self.cleaned_data[f"fishbone_{value}"])
            for value in Incident.Fishbone.values
        }

    def clean_root_cause(self) -> str:
        return _text(self, "root_cause")


class _OwnerAndDueDateForm(ErrorListMixin, forms.Form):
    """An action's owner, one of the clinic's people who may own actions, and its due date."""

    owner = UserChoiceField(
        label="Owner",
        queryset=User.objects.none(),
        empty_label="Choose an owner…",
        error_messages={"invalid_choice": "Choose someone from the list."},
    )
    due_date = DateField(label="Due date", widget=DateInput())

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["owner"].queryset = incidents.owners_for(clinic)  # type: ignore[attr-defined]


class ActionForm(_OwnerAndDueDateForm):
    field_order = ("kind", "description", "owner", "due_date", "submission_key")

    kind = forms.ChoiceField(
        label="Kind", choices=CorrectiveAction.Kind.choices, initial="corrective"
    )
    description = forms.CharField(
        label="Action",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say what will be done."},
    )
    submission_key = SubmissionKeyField()

    def clean_description(self) -> str:
        return _text(self, "description", required_message="Say what will be done.")

    def clean_due_date(self) -> Any:
        due = self.cleaned_data["due_date"]
        if due < self.clinic.today():
            raise forms.ValidationError("Choose today or a later day.")
        return due


class CompleteActionForm(ErrorListMixin, forms.Form):
    note = forms.CharField(
        label="What was done",
        error_messages={"required": "Say what was done, for the verifier."},
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_note(self) -> str:
        return _text(self, "note", required_message="Say what was done, for the verifier.")


class VerifyActionForm(ErrorListMixin, forms.Form):
    effective = forms.TypedChoiceField(
        label="Did it work?",
        choices=[("yes", "Yes: verified effective"), ("no", "No: not effective, reopen it")],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Evidence",
        error_messages={"required": "Say how you checked that it worked."},
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="How you checked (an audit of 20 charts, a spot check, a repeat count...).",
    )
    new_due_date = DateField(
        label="New due date",
        required=False,
        widget=DateInput(),
        help_text="Only if it did not work: when the action is due again.",
    )

    def clean_note(self) -> str:
        return _text(self, "note", required_message="Say how you checked that it worked.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("effective") is False and not data.get("new_due_date"):
            self.add_error("new_due_date", "An action that did not work needs a new due date.")
        return data


class ReassignActionForm(_OwnerAndDueDateForm):
    reason = forms.CharField(
        label="Why",
        error_messages={"required": "Say why the owner or due date changes."},
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_reason(self) -> str:
        return _text(self, "reason", required_message="Say why the owner or due date changes.")


class CancelActionForm(ErrorListMixin, forms.Form):
    reason = forms.CharField(
        label="Why cancel it",
        error_messages={"required": "Say why the action is cancelled."},
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_reason(self) -> str:
        return _text(self, "reason", required_message="Say why the action is cancelled.")


class LinkEventForm(ErrorListMixin, forms.Form):
    event_id = forms.CharField(label="Audit event id", max_length=20)
    note = forms.CharField(label="Why it matters", max_length=300, required=False)

    def clean_event_id(self) -> int:
        raw = clean_text(self.cleaned_data["event_id"]).strip().lstrip("#")
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise forms.ValidationError("Enter the event's number, as the audit log shows it.")
        return int(raw)

    def clean_note(self) -> str:
        return _text(self, "note")


class LinkFlagForm(ErrorListMixin, forms.Form):
    incident = forms.ModelChoiceField(
        label="Open incident",
        queryset=Incident.objects.none(),
        empty_label="Choose an incident…",
        error_messages={"invalid_choice": "Choose an open incident of this clinic."},
    )

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["incident"].queryset = incidents.open_incidents(clinic)  # type: ignore[attr-defined]
