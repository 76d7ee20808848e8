"""Django's form renderer, with the everyday widgets written in Python.

Django renders every widget through the template language: an `<input>` is three templates
(the type's, `input.html`, `attrs.html`) and a `<select>` one more per option. On the main pages
that was a fifth to a third of the page's time (docs/benchmarks.md, issue 18). This renderer
writes the same markup for Django's own input, select, option, checkbox (and a checkbox list's
option, `{{ option.tag }}`) and textarea templates
directly, with the same escaping (`conditional_escape`, values through `stringformat:'s'`,
labels localized as `{{ }}` would); any other template (radio lists, the form layouts, a
widget with its own template) goes to Django's template renderer as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.forms.renderers import DjangoTemplates
from django.utils.formats import localize
from django.utils.functional import Promise
from django.utils.html import conditional_escape

WIDGETS = "django/forms/widgets/"
INPUT_TYPES = (
    "text",
    "number",
    "email",
    "url",
    "password",
    "hidden",
    "date",
    "datetime",
    "time",
    "search",
    "tel",
    "color",
    "checkbox",
    "input",
)


def _text(value: Any) -> str:
    """`{{ value }}`: localized unless it is text, then escaped unless it is marked safe."""
    if not isinstance(value, str | Promise):
        value = localize(value)
    return str(conditional_escape(value))


def _formatted(value: Any) -> str:
    """`{{ value|stringformat:'s' }}`."""
    text = str(value) if isinstance(value, tuple) else "%s" % (value,)  # noqa: UP031
    return str(conditional_escape(text)) if not hasattr(value, "__html__") else text


def attrs_html(attrs: Mapping[str, Any]) -> str:
    """django/forms/widgets/attrs.html."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            parts.append(f" {_text(name)}")
        else:
            parts.append(f' {_text(name)}="{_formatted(value)}"')
    return "".join(parts)


def input_html(widget: Mapping[str, Any]) -> str:
    """django/forms/widgets/input.html (and every input type that includes it)."""
    value = widget["value"]
    shown = f' value="{_formatted(value)}"' if value is not None else ""
    return (
        f'<input type="{_text(widget["type"])}" name="{_text(widget["name"])}"{shown}'
        f"{attrs_html(widget['attrs'])}>"
    )


def option_html(option: Mapping[str, Any]) -> str:
    """django/forms/widgets/select_option.html."""
    return (
        f'<option value="{_formatted(option["value"])}"{attrs_html(option["attrs"])}>'
        f"{_text(option['label'])}</option>"
    )


def select_html(widget: Mapping[str, Any]) -> str:
    """django/forms/widgets/select.html."""
    parts = [f'<select name="{_text(widget["name"])}"{attrs_html(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in group_choices:
            if option.get("template_name") != f"{WIDGETS}select_option.html":
                raise _Fallback
            # The included option template's own trailing newline stays (only the whole
            # widget's output is stripped).
            parts.append(f"\n  {option_html(option)}\n")
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def textarea_html(widget: Mapping[str, Any]) -> str:
    """django/forms/widgets/textarea.html."""
    value = widget["value"]
    return (
        f'<textarea name="{_text(widget["name"])}"{attrs_html(widget["attrs"])}>\n'
        f"{_text(value) if value else ''}</textarea>"
    )


def checkbox_option_html(widget: Mapping[str, Any]) -> str:
    """django/forms/widgets/checkbox_option.html (input_option.html): one box of a checkbox
    list, as `{{ option.tag }}` renders it (each was three templates)."""
    box = input_html(widget)
    if not widget.get("wrap_label"):
        return box
    attrs = widget["attrs"]
    target = f' for="{_text(attrs["id"])}"' if attrs.get("id") else ""
    # The included input template's trailing newline stays inside the label.
    return f"<label{target}>{box}\n {_text(widget['label'])}</label>"


class _Fallback(Exception):
    """A widget this module does not write: the template renderer does it."""


FAST: dict[str, Callable[[Mapping[str, Any]], str]] = {
    **{f"{WIDGETS}{kind}.html": input_html for kind in INPUT_TYPES},
    f"{WIDGETS}select.html": select_html,
    f"{WIDGETS}select_option.html": option_html,
    f"{WIDGETS}checkbox_option.html": checkbox_option_html,
    f"{WIDGETS}textarea.html": textarea_html,
}


class FastWidgetRenderer(DjangoTemplates):
    """settings.FORM_RENDERER: the widgets above in Python, everything else as Django does."""

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        fast = FAST.get(template_name)
        widget = context.get("widget")
        if fast is not None and isinstance(widget, Mapping):
            try:
                return fast(widget)
            except _Fallback:
                pass
        return str(super().render(template_name, context, request))


# -- The form field partials (templates/_partials/form_field.html, field_errors.html) --------
# Every form on every page includes them once per field: in the template language they cost
# about 50 µs a field on top of the widget (a {% with %}, two includes, a dozen lookups). The
# partials now call these (same markup, same escaping as `{{ }}`).


def field_errors_html(field: Any) -> str:
    """A field's errors, with the id Django's aria-describedby points at."""
    if not field.errors:
        return ""
    items = "".join(
        f'<li><span class="visually-hidden">Error: </span>{_text(error)}</li>'
        for error in field.errors
    )
    return f'\n<ul class="field__errors" id="{_text(field.auto_id)}_error">\n{items}\n</ul>\n'


def field_html(field: Any, *, wide: bool = False) -> str:
    """One form field: label, "optional" hint, help text, errors, widget."""
    kind = field.widget_type
    classes = f"field field--{_text(kind)}"
    if field.errors:
        classes += " field--error"
    if wide:
        classes += " field--wide"
    label = f'for="{_text(field.id_for_label)}">{_text(field.label)}</label>'
    help_text = (
        f'<p class="field__help" id="{_text(field.auto_id)}_helptext">{_text(field.help_text)}</p>'
        if field.help_text
        else ""
    )
    if kind == "checkbox":
        body = (
            f"{field_errors_html(field)}\n"
            f'<div class="checkbox">\n{_text(field)}\n<label {label}\n</div>\n{help_text}'
        )
    else:
        optional = "" if field.field.required else '<span class="field__optional">optional</span>'
        body = (
            f'<div class="field__label-row">\n<label class="field__label" {label}\n{optional}\n'
            f"</div>\n{help_text}\n{field_errors_html(field)}\n{_text(field)}"
        )
    return f'<div class="{classes}">\n{body}\n</div>\n'
