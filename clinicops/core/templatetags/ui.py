"""Small display helpers for the templates."""

from __future__ import annotations

from datetime import date, timedelta

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString, mark_safe

from ..formrender import field_errors_html, field_html
from ..models import Patient, User

register = template.Library()


@register.filter
def age(patient: Patient, day: date | None) -> str:
    """A patient's age on `day`, in the unit a clinician would say it (years, months, days)."""
    if day is None or patient.date_of_birth is None:
        return ""
    years = patient.age_on(day)
    if years >= 2:
        return f"{years} years"
    born = patient.date_of_birth
    months = (day.year - born.year) * 12 + day.month - born.month - (day.day < born.day)
    if months >= 1:
        return f"{months} month{'s' if months != 1 else ''}"
    days = (day - born).days
    return f"{days} day{'s' if days != 1 else ''}"


@register.filter
def initials(user: User) -> str:
    parts = [user.first_name[:1], user.last_name[:1]] if user.first_name else [user.username[:2]]
    return "".join(parts).upper()


@register.filter
def minutes(value: timedelta | None) -> int | str:
    """Whole minutes in a timedelta (for "try again in N minutes"), or "" when there is none."""
    if not isinstance(value, timedelta):
        return ""
    return max(1, round(value.total_seconds() / 60))


class CaptureNode(template.Node):
    def __init__(self, nodelist: template.NodeList, name: str) -> None:
        self.nodelist = nodelist
        self.name = name

    def render(self, context: template.Context) -> str:
        # Already rendered (and escaped) template output, so safe to mark as such.
        context[self.name] = mark_safe(self.nodelist.render(context).strip())  # noqa: S308
        return ""


@register.tag
def capture(parser: template.base.Parser, token: template.base.Token) -> CaptureNode:
    """{% capture as name %}…{% endcapture %}: render the body into `name`, output nothing."""
    bits = token.split_contents()
    if len(bits) != 3 or bits[1] != "as":
        raise template.TemplateSyntaxError("Usage: {% capture as name %}…{% endcapture %}")
    nodelist = parser.parse(("endcapture",))
    parser.delete_first_token()
    return CaptureNode(nodelist, bits[2])


@register.simple_tag(takes_context=True)
def app_header(context: template.Context) -> SafeString:
    """The base layout's header (clinicops.core.layout: written in Python for speed)."""
    from ..layout import header_html  # the layout imports this library's filters

    return header_html(context)


@register.simple_tag
def form_field(field: BoundField, wide: bool = False) -> SafeString:
    """_partials/form_field.html's markup, written in Python (clinicops.core.formrender)."""
    return mark_safe(field_html(field, wide=bool(wide)))  # noqa: S308 - escaped inside


@register.simple_tag
def field_errors(field: BoundField) -> SafeString:
    """_partials/field_errors.html's markup, written in Python (clinicops.core.formrender)."""
    return mark_safe(field_errors_html(field) if field else "")  # noqa: S308 - escaped inside
