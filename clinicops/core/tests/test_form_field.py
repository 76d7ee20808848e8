"""The form field partials (_partials/form_field.html, field_errors.html), written in Python:
the markup the templates wrote, with `{{ }}`'s escaping."""

from __future__ import annotations

import re

from django import forms
from django.template import engines


class Intake(forms.Form):
    name = forms.CharField(label="Name & title", help_text="As on the <card>")
    phone = forms.CharField(required=False)
    confirmed = forms.BooleanField(label="Confirmed", help_text="Ask the patient")


def render(field: forms.BoundField, *, raw: bool = False, **context: object) -> str:
    """The partial's HTML, whitespace between tags dropped unless `raw`."""
    template = engines["django"].from_string('{% include "_partials/form_field.html" %}')
    html = template.render({"field": field, **context})
    return html if raw else re.sub(r"\s+", " ", html).replace("> <", "><").strip()


def test_a_required_field_with_help_text() -> None:
    assert render(Intake()["name"]) == (
        '<div class="field field--text"><div class="field__label-row">'
        '<label class="field__label" for="id_name">Name &amp; title</label></div>'
        '<p class="field__help" id="id_name_helptext">As on the &lt;card&gt;</p>'
        '<input type="text" name="name" required aria-describedby="id_name_helptext"'
        ' id="id_name"></div>'
    )


def test_an_optional_field_said_so_and_wide() -> None:
    assert render(Intake()["phone"], wide=True) == (
        '<div class="field field--text field--wide"><div class="field__label-row">'
        '<label class="field__label" for="id_phone">Phone</label>'
        '<span class="field__optional">optional</span></div>'
        '<input type="text" name="phone" id="id_phone"></div>'
    )


def test_a_checkbox_with_errors_escaped_before_its_box() -> None:
    form = Intake({"name": "x"})
    form.is_valid()
    form.add_error("confirmed", "Ask <again>")
    html = render(form["confirmed"])
    # The box and its label are inline: the space between them is part of the look.
    assert re.search(r'id="id_confirmed">\s+<label', render(form["confirmed"], raw=True))
    assert html == (
        '<div class="field field--checkbox field--error">'
        '<ul class="field__errors" id="id_confirmed_error">'
        '<li><span class="visually-hidden">Error: </span>This field is required.</li>'
        '<li><span class="visually-hidden">Error: </span>Ask &lt;again&gt;</li></ul>'
        '<div class="checkbox"><input type="checkbox" name="confirmed" required'
        ' aria-invalid="true" aria-describedby="id_confirmed_helptext id_confirmed_error"'
        ' id="id_confirmed"><label for="id_confirmed">Confirmed</label></div>'
        '<p class="field__help" id="id_confirmed_helptext">Ask the patient</p></div>'
    )


def test_field_errors_alone() -> None:
    form = Intake({})
    form.is_valid()
    template = engines["django"].from_string('{% include "_partials/field_errors.html" %}')
    assert template.render({"field": form["phone"]}).strip() == ""
    html = template.render({"field": form["name"]})
    assert '<ul class="field__errors" id="id_name_error">' in html
    assert "This field is required." in html
