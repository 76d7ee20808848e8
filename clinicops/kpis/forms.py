"""The dashboard's forms: the week picker and the manager's choice of metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms

from clinicops.core.fields import DateField
from clinicops.core.models import Clinic, Staff

from . import registry
from .models import ClinicMetricChoice
from .registry import Direction, Metric, Unit
from .services import MAX_CHOSEN, MIN_CHOSEN, MetricChoiceInput

NUMBER = {"max_digits": 12, "decimal_places": 4, "min_value": Decimal(0)}
UNIT_SUFFIX = {
    Unit.PERCENT: " (%)",
    Unit.CURRENCY: " ($)",
    Unit.MINUTES: " (minutes)",
    Unit.DAYS: " (days)",
}
FIELDS = ("chosen", "position", "target", "target_high", "alert", "owner")


def plain_number(value: Decimal | None) -> Decimal | None:
    """A stored target as a person types it: 80.0000 -> 80, 7.5000 -> 7.5, never "8E+1"
    (`Decimal.normalize()` turns trailing zeros of a whole number into an exponent)."""
    if value is None:
        return None
    value = value.normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


class WeekForm(forms.Form):
    """Which week to show: any day of it (weeks run Monday to Sunday, clinic time)."""

    week = DateField(
        label="Week of",
        required=False,
        help_text="Any day of the week; weeks run Monday to Sunday.",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )

    def __init__(self, *args: Any, today: date, default: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        self.default = default

    def clean_week(self) -> date:
        week = self.cleaned_data.get("week") or self.default
        if week > self.today:
            raise forms.ValidationError("That week has not started yet. Pick a past week.")
        if week.year < 2000:
            raise forms.ValidationError("Pick a week from 2000 onwards.")
        return week

    def week_or_default(self) -> date:
        """The chosen day if valid, else the default week (the page still renders)."""
        if self.is_valid():
            return self.cleaned_data["week"]
        return self.default


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Staff) -> str:
        name = obj.user.display_name
        return f"{name} ({obj.title})" if obj.title else name


@dataclass(frozen=True)
class MetricRow:
    """One metric's fields on the choice screen, in the order the template shows them."""

    metric: Metric
    prefix: str
    chosen: forms.BoundField
    position: forms.BoundField
    target: forms.BoundField
    target_high: forms.BoundField | None
    alert: forms.BoundField
    owner: forms.BoundField

    @property
    def is_band(self) -> bool:
        return self.metric.direction == Direction.BAND

    @property
    def direction_text(self) -> str:
        return {
            Direction.LOWER: "Lower is better",
            Direction.HIGHER: "Higher is better",
            Direction.BAND: "On target inside a band",
        }[self.metric.direction]

    @property
    def inputs(self) -> list[tuple[forms.BoundField, str]]:
        """(field, its label without the metric's name) for the grid of inputs: the fieldset's
        legend already names the metric, so the visible label is short ("target (%)", shown
        capitalised) and fits one line; the full label stays the accessible name and the
        error summary's."""
        fields = (self.target, self.target_high, self.alert, self.owner, self.position)
        prefix = f"{self.metric.label}: "
        return [(f, str(f.label).removeprefix(prefix)) for f in fields if f is not None]

    @property
    def has_errors(self) -> bool:
        fields = (self.position, self.target, self.target_high, self.alert, self.owner)
        return any(f is not None and f.errors for f in fields)


class MetricChoiceForm(forms.Form):
    """Three to five metrics from the catalogue, each with a target, an alert threshold and an
    owner working at the clinic. The service (`choose_metrics`) enforces every rule again."""

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.metrics = registry.all_metrics()
        existing = {c.key: c for c in ClinicMetricChoice.objects.filter(clinic=clinic)}
        staff = (
            Staff.objects.filter(clinics=clinic, user__is_active=True)
            .select_related("user")
            .order_by("user__last_name", "user__first_name", "user__username")
        )
        for metric in self.metrics:
            self._add_fields(metric, existing.get(metric.key), staff)

    def _add_fields(self, metric: Metric, choice: ClinicMetricChoice | None, staff: Any) -> None:
        key, label = metric.key, metric.label
        unit = UNIT_SUFFIX.get(metric.unit, "")
        percent = {"max_value": Decimal(100)} if metric.unit == Unit.PERCENT else {}
        band = metric.direction == Direction.BAND
        default_target = metric.target_band[0] if metric.target_band else metric.default_target
        default_high = metric.target_band[1] if metric.target_band else None
        self.fields[f"{key}-chosen"] = forms.BooleanField(
            label=f"Show {label} on the dashboard",
            required=False,
            initial=choice is not None,
        )
        self.fields[f"{key}-position"] = forms.IntegerField(
            label=f"{label}: position",
            required=False,
            min_value=1,
            max_value=MAX_CHOSEN,
            initial=choice.position if choice else None,
            help_text="1 is shown first.",
        )
        self.fields[f"{key}-target"] = forms.DecimalField(
            label=f"{label}: {'target band from' if band else 'target'}{unit}",
            required=False,
            initial=plain_number(choice.target) if choice else default_target,
            help_text="" if default_target is not None else "No default: use your baseline.",
            **NUMBER,
            **percent,
        )
        if band:
            self.fields[f"{key}-target_high"] = forms.DecimalField(
                label=f"{label}: target band to{unit}",
                required=False,
                initial=(
                    plain_number(choice.target_high)
                    if choice and choice.target_high is not None
                    else default_high
                ),
                **NUMBER,
                **percent,
            )
        alert_help = {
            Direction.LOWER: "At or above this the tile turns red.",
            Direction.HIGHER: "At or below this the tile turns red.",
            Direction.BAND: "How far outside the band (in the same unit) turns the tile red.",
        }[metric.direction]
        self.fields[f"{key}-alert"] = forms.DecimalField(
            label=f"{label}: alert threshold{unit}",
            required=False,
            initial=(
                plain_number(choice.alert_threshold)
                if choice
                else plain_number(metric.default_alert_threshold())
            ),
            help_text=alert_help,
            **NUMBER,
            **percent,
        )
        self.fields[f"{key}-owner"] = OwnerChoiceField(
            label=f"{label}: owner",
            queryset=staff,
            required=False,
            initial=choice.owner_id if choice else None,
            empty_label="Choose a person",
        )

    def rows(self) -> list[MetricRow]:
        return [
            MetricRow(
                metric=m,
                prefix=m.key,
                chosen=self[f"{m.key}-chosen"],
                position=self[f"{m.key}-position"],
                target=self[f"{m.key}-target"],
                target_high=self[f"{m.key}-target_high"]
                if f"{m.key}-target_high" in self.fields
                else None,
                alert=self[f"{m.key}-alert"],
                owner=self[f"{m.key}-owner"],
            )
            for m in self.metrics
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        chosen = [m for m in self.metrics if data.get(f"{m.key}-chosen")]
        # A stray entry in a metric that is not chosen is not saved, so it is not an error.
        for metric in self.metrics:
            if metric not in chosen:
                for name in FIELDS:
                    self._errors.pop(f"{metric.key}-{name}", None)
        if len(chosen) < MIN_CHOSEN:
            raise forms.ValidationError(
                f"Choose at least {MIN_CHOSEN} metrics (you chose {len(chosen)})."
            )
        if len(chosen) > MAX_CHOSEN:
            raise forms.ValidationError(
                f"Choose at most {MAX_CHOSEN} metrics (you chose {len(chosen)})."
            )
        for metric in chosen:
            if data.get(f"{metric.key}-owner") is None and not self.has_error(
                f"{metric.key}-owner"
            ):
                self.add_error(f"{metric.key}-owner", "Choose who owns this metric.")
            if metric.default_target is None and data.get(f"{metric.key}-target") is None:
                self.add_error(f"{metric.key}-target", "Set a target (use your baseline).")
        positions = [data.get(f"{m.key}-position") for m in chosen]
        repeated = {p for p in positions if p is not None and positions.count(p) > 1}
        for metric in chosen:
            if data.get(f"{metric.key}-position") in repeated:
                self.add_error(f"{metric.key}-position", "Two metrics have this position.")
        return data

    def choices(self) -> list[MetricChoiceInput]:
        """The chosen metrics in display order, for `services.choose_metrics`."""
        data = self.cleaned_data
        chosen = [m for m in self.metrics if data.get(f"{m.key}-chosen")]
        catalogue_order = {m.key: i for i, m in enumerate(self.metrics)}
        chosen.sort(
            key=lambda m: (
                data.get(f"{m.key}-position") or MAX_CHOSEN + 1,
                catalogue_order[m.key],
            )
        )
        return [
            MetricChoiceInput(
                key=m.key,
                target=data.get(f"{m.key}-target"),
                alert_threshold=data.get(f"{m.key}-alert"),
                owner=data.get(f"{m.key}-owner"),
                target_high=data.get(f"{m.key}-target_high"),
            )
            for m in chosen
        ]
