"""The view toolkit every app's views share.

- `HtmxHttpRequest`: the request as our middleware leaves it (`request.htmx` from django-htmx,
  `request.clinic` from `CurrentClinicMiddleware`), for typing views.
- `current_clinic()`: the clinic the user works in, or a 403 with the message people see.
- `is_fragment()`: whether an htmx request asks for a fragment rather than the whole page.
- `render_page()`: the whole page, or for htmx only the named partial, with `Vary: HX-Request`.

Ids from a query string or a form are parsed by `clinicops.core.fields.parse_id`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

from .models import Clinic

NO_CLINIC_MESSAGE = "You are not assigned to a clinic yet. Ask an administrator."


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    clinic: Clinic | None


def current_clinic(request: HtmxHttpRequest) -> Clinic:
    """The clinic the user works in now; a user with none gets a 403 saying what to do."""
    if request.clinic is None:
        raise PermissionDenied(NO_CLINIC_MESSAGE)
    return request.clinic


def is_fragment(request: HtmxHttpRequest, *, target: str | None = None) -> bool:
    """An htmx request for a fragment (aimed at the element `target`, when given).

    A history restore (the back button, with htmx's history cache off) needs the whole page.
    """
    if not request.htmx or request.htmx.history_restore_request:
        return False
    return target is None or request.htmx.target == target


def page_or_partial(request: HtmxHttpRequest, template: str, partial: str) -> str:
    """The template to render: `template`, or for a fragment request its partial `partial`."""
    return f"{template}#{partial}" if is_fragment(request) else template


def render_page(
    request: HtmxHttpRequest, template: str, partial: str, context: dict[str, Any]
) -> HttpResponse:
    """The full page, or for an htmx request only `partial`; caches are told the answer
    depends on the HX-Request header."""
    response = render(request, page_or_partial(request, template, partial), context)
    patch_vary_headers(response, ["HX-Request"])
    return response
