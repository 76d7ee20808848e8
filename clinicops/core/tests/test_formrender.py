"""The Python widget renderer writes exactly what Django's widget templates write."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django import forms
from django.conf import settings
from django.forms.renderers import DjangoTemplates
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from clinicops.core.formrender import FAST, FastWidgetRenderer, field_errors_html, field_html

HOSTILE = "<script>\"x\" & 'y'</script>"


class Everything(forms.Form):
    text = forms.CharField(max_length=20, help_text="help")
    optional = forms.CharField(required=False)
    number = forms.IntegerField(min_value=1, max_value=99)
    amount = forms.DecimalField(max_digits=6, decimal_places=2, required=False)
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    at = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    email = forms.EmailField(required=False)
    hidden = forms.CharField(widget=forms.HiddenInput, required=False)
    secret = forms.CharField(widget=forms.PasswordInput, required=False)
    flag = forms.BooleanField(required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    kind = forms.ChoiceField(
        choices=[("", "—"), ("a", "Alpha"), ("b", gettext_lazy("Beta")), (3, 3), ("s", HOSTILE)]
    )
    grouped = forms.ChoiceField(
        choices=[("Fruit", [("apple", "Apple"), ("pear", "Pear")]), ("x", "Other")],
        required=False,
    )
    many = forms.MultipleChoiceField(choices=[("1", "One"), ("2", mark_safe("<b>Two</b>"))])
    ticks = forms.MultipleChoiceField(
        choices=[("a", "Alpha"), ("s", HOSTILE), (3, 3)],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    search = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "autofocus": True, "data-x": False}),
    )


DATA: list[dict[str, Any]] = [
    {},
    {
        "text": HOSTILE,
        "number": "7",
        "amount": "4.20",
        "day": "2026-03-08",
        "at": "02:30",
        "email": "a&b@example.com",
        "hidden": '"quoted"',
        "secret": "pw",
        "flag": "on",
        "notes": HOSTILE + "\nline",
        "kind": "s",
        "grouped": "pear",
        "many": ["1", "2"],
        "ticks": ["s", "3"],
        "search": "<q>",
    },
    {"number": "not a number", "day": "31/02/2026", "kind": "nope", "many": ["9"]},
]


@pytest.mark.parametrize("data", DATA, ids=["unbound-ish", "filled", "invalid"])
def test_every_widget_matches_django_templates(data: dict[str, Any]) -> None:
    initial = {"amount": Decimal("1234.5"), "day": dt.date(2026, 11, 1), "number": 12345}
    fast = Everything(data or None, initial=initial, renderer=FastWidgetRenderer())
    slow = Everything(data or None, initial=initial, renderer=DjangoTemplates())
    if data:
        fast.is_valid()
        slow.is_valid()
    for name in Everything.base_fields:
        assert str(fast[name]) == str(slow[name]), name
    # A checkbox list's boxes one by one, as templates print them (`{{ option.tag }}`).
    for wrap in (False, True):
        fast_boxes = [box.tag(wrap_label=wrap) for box in fast["ticks"]]
        assert fast_boxes == [box.tag(wrap_label=wrap) for box in slow["ticks"]]


def test_it_is_the_project_renderer_and_covers_the_everyday_widgets() -> None:
    assert settings.FORM_RENDERER == "clinicops.core.formrender.FastWidgetRenderer"
    for kind in ("text", "number", "select", "select_option", "textarea", "checkbox", "hidden"):
        assert f"django/forms/widgets/{kind}.html" in FAST
    for kind in ("checkbox_option",):
        assert f"django/forms/widgets/{kind}.html" in FAST


def test_other_templates_still_go_to_django() -> None:
    field = forms.ChoiceField(choices=[("a", "A")], widget=forms.RadioSelect)
    form = forms.Form(renderer=FastWidgetRenderer())
    form.fields["r"] = field
    slow = forms.Form(renderer=DjangoTemplates())
    slow.fields["r"] = field
    assert str(form["r"]) == str(slow["r"])
    assert 'type="radio"' in str(form["r"])


@pytest.mark.parametrize("data", DATA, ids=["unbound-ish", "filled", "invalid"])
@pytest.mark.parametrize("wide", [False, True])
def test_form_field_tag_writes_what_the_form_field_partial_writes(
    data: dict[str, Any], wide: bool
) -> None:
    """The pages that include the partials and those that use the tags write the same fields
    (the partials are one call to the same code; the file's own last newline aside). The
    markup itself is pinned by test_form_field.py."""
    form = Everything(data or None)
    form.fields["text"].label = HOSTILE  # labels and help text are escaped like {{ }}
    form.fields["number"].help_text = HOSTILE
    form.fields["optional"].help_text = mark_safe("<em>as given</em>")
    if data:
        form.is_valid()
    for name in Everything.base_fields:
        field = form[name]
        partial = render_to_string("_partials/form_field.html", {"field": field, "wide": wide})
        assert field_html(field, wide=wide).strip() == partial.strip(), name
        errors = render_to_string("_partials/field_errors.html", {"field": field})
        assert field_errors_html(field).strip() == errors.strip(), name
    tags = Template(
        "{% load ui %}{% form_field form.text wide=True %}{% field_errors form.number %}"
    ).render(Context({"form": form}))
    assert tags == field_html(form["text"], wide=True) + field_errors_html(form["number"])
