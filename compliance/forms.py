"""The audit-log filters: what the officer typed, checked and resolved to ids."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlsplit

from django import forms

from clinicops.audit.models import AuditEvent
from clinicops.core.fields import clean_text
from clinicops.core.models import Clinic, Patient, User

from . import selectors
from .models import Flag

# Outside these years a date is a typo (and a far one overflows the time-zone arithmetic).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2999, 12, 31)


class AuditSearchForm(forms.Form):
    patient = forms.CharField(
        required=False,
        max_length=100,
        label="Patient",
        help_text="MRN, name (last, first) or date of birth.",
    )
    user = forms.CharField(
        required=False, max_length=150, label="User", help_text="Username or name."
    )
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditEvent.Action.choices], label="Action"
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    # Keyset cursor: show the events older than this one (set by the "Older events" link).
    before = forms.IntegerField(
        required=False, min_value=1, label="Older than event", widget=forms.HiddenInput
    )
    # ... and the events newer than this one (set by the "Newer events" link).
    after = forms.IntegerField(
        required=False, min_value=1, label="Newer than event", widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, user: User, tz: tzinfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.viewer = user
        self.tz = tz

    def _clean_date(self, name: str) -> date | None:
        value: date | None = self.cleaned_data.get(name)
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise forms.ValidationError(
                f"Enter a date between {EARLIEST_DATE:%Y-%m-%d} and {LATEST_DATE:%Y-%m-%d}."
            )
        return value

    def clean_date_from(self) -> date | None:
        return self._clean_date("date_from")

    def clean_date_to(self) -> date | None:
        return self._clean_date("date_to")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "“To” must be on or after “From”.")
        if data.get("patient"):
            ids = selectors.matching_patient_ids(self.viewer, data["patient"])
            if len(ids) > selectors.MAX_MATCHED_PATIENTS:
                self.add_error(
                    "patient",
                    f"More than {selectors.MAX_MATCHED_PATIENTS} patients match; type more of "
                    "the name, or the MRN.",
                )
            data["patient_ids"] = ids
        if data.get("user"):
            ids = selectors.matching_user_ids(data["user"])
            if len(ids) > selectors.MAX_MATCHED_USERS:
                self.add_error(
                    "user",
                    f"More than {selectors.MAX_MATCHED_USERS} users match; type more of the name, "
                    "or the username.",
                )
            data["actor_ids"] = ids
        return data

    def _local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.tz)

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `selectors.filter_audit_events` (call after `is_valid()`)."""
        data = self.cleaned_data
        return {
            "patient_ids": data.get("patient_ids"),
            "actor_ids": data.get("actor_ids"),
            "action": data.get("action") or "",
            "start": self._local_midnight(data["date_from"]) if data.get("date_from") else None,
            "end": (
                self._local_midnight(data["date_to"] + timedelta(days=1))
                if data.get("date_to")
                else None
            ),
        }

    def describe(self) -> str:
        """The filters in words, for the audit entry. Patient text is PHI: only the count."""
        data = self.cleaned_data
        parts = []
        if data.get("patient"):
            parts.append(f"patient filter matching {len(data['patient_ids'])} patient(s)")
        if data.get("user"):
            parts.append(f"user “{data['user']}”")
        if data.get("action"):
            parts.append(f"action “{AuditEvent.Action(data['action']).label}”")
        if data.get("date_from"):
            parts.append(f"from {data['date_from']:%Y-%m-%d}")
        if data.get("date_to"):
            parts.append(f"to {data['date_to']:%Y-%m-%d}")
        if data.get("before"):
            parts.append(f"older than event id {data['before']}")
        elif data.get("after"):
            parts.append(f"newer than event id {data['after']}")
        return ", ".join(parts) or "no filters"

    def error_list(self) -> list[str]:
        """Every error as "Field: message", for the summary above the form."""
        return [
            f"{self.fields[name].label}: {message}" if name in self.fields else str(message)
            for name, messages in self.errors.items()
            for message in messages
        ]


class FlagForm(forms.Form):
    """Flag a problem: what is wrong, how urgent, optionally which patient, anonymously or not."""

    description = forms.CharField(
        label="What is wrong?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Say what you saw, where, and when it started.",
    )
    urgency = forms.ChoiceField(
        label="How urgent?", choices=Flag.Urgency.choices, initial=Flag.Urgency.NORMAL
    )
    patient_mrn = forms.CharField(
        label="Patient MRN (optional)",
        max_length=12,
        required=False,
        help_text="Only if it concerns one patient of this clinic.",
    )
    anonymous = forms.BooleanField(
        label="Report anonymously (your name is not stored anywhere)", required=False
    )
    page = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: User, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user, self.clinic = user, clinic
        self.patient: Patient | None = None

    def clean_description(self) -> str:
        text = clean_text(self.cleaned_data["description"]).strip()
        if not text:
            raise forms.ValidationError("Say what is wrong.")
        return text

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

    def clean_page(self) -> str:
        """The page it came from, as a path on this site, without its query (it may hold PHI)."""
        raw = clean_text(self.cleaned_data["page"]).strip()
        path = urlsplit(raw).path if raw else ""
        if not path.startswith("/") or path.startswith("//"):
            return ""
        return path[:300]


class FlagUpdateForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=Flag.Status.choices)
    response = forms.CharField(
        label="Reply to the reporter",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The reporter sees this with the status.",
    )

    def clean_response(self) -> str:
        return clean_text(self.cleaned_data["response"]).strip()
