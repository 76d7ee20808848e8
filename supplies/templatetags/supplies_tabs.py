from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from ..views.tabs import tabs_html

register = template.Library()


@register.simple_tag(takes_context=True)
def supplies_tabs(context: template.Context) -> SafeString:
    """The supplies screens' tabs for the request's user, the context's `tab` current."""
    return tabs_html(context.get("user"), context.get("tab"))
