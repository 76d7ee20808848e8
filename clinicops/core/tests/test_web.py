"""The view toolkit: the current clinic or a 403, the fragment check, page-or-partial rendering."""

from __future__ import annotations

from typing import cast

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory, override_settings
from django_htmx.middleware import HtmxDetails

from clinicops.core.models import Clinic
from clinicops.core.web import (
    NO_CLINIC_MESSAGE,
    HtmxHttpRequest,
    current_clinic,
    is_fragment,
    page_or_partial,
    render_page,
)

PAGE = "<main>page {% partialdef body inline %}<p>{{ word }}</p>{% endpartialdef %}</main>"
ONE_TEMPLATE = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "loaders": [("django.template.loaders.locmem.Loader", {"toolkit/page.html": PAGE})]
        },
    }
]


def _request(clinic: Clinic | None = None, **headers: str) -> HtmxHttpRequest:
    request = cast(HtmxHttpRequest, RequestFactory().get("/", headers=headers))
    request.htmx = HtmxDetails(request)
    request.clinic = clinic
    return request


def test_current_clinic_is_the_requests_clinic() -> None:
    clinic = Clinic(name="North")
    assert current_clinic(_request(clinic)) is clinic


def test_no_clinic_is_a_403_saying_what_to_do() -> None:
    with pytest.raises(PermissionDenied) as raised:
        current_clinic(_request(None))
    assert str(raised.value) == "You are not assigned to a clinic yet. Ask an administrator."
    assert str(raised.value) == NO_CLINIC_MESSAGE


def test_is_fragment() -> None:
    assert not is_fragment(_request())
    assert is_fragment(_request(hx_request="true"))
    # The back button with htmx's history cache off asks for the whole page.
    assert not is_fragment(_request(hx_request="true", hx_history_restore_request="true"))
    aimed = _request(hx_request="true", hx_target="results")
    assert is_fragment(aimed, target="results")
    assert not is_fragment(aimed, target="other")
    assert not is_fragment(_request(), target="results")


def test_page_or_partial_names_the_partial_only_for_a_fragment() -> None:
    assert page_or_partial(_request(), "a.html", "body") == "a.html"
    assert page_or_partial(_request(hx_request="true"), "a.html", "body") == "a.html#body"


@override_settings(TEMPLATES=ONE_TEMPLATE)
def test_render_page_whole_page_or_partial_with_vary() -> None:
    page = render_page(_request(), "toolkit/page.html", "body", {"word": "hello"})
    assert page.content.decode() == "<main>page <p>hello</p></main>"
    assert page["Vary"] == "HX-Request"

    partial = render_page(_request(hx_request="true"), "toolkit/page.html", "body", {"word": "hi"})
    assert partial.content.decode() == "<p>hi</p>"
    assert partial["Vary"] == "HX-Request"

    restore = _request(hx_request="true", hx_history_restore_request="true")
    assert "<main>" in render_page(restore, "toolkit/page.html", "body", {}).content.decode()
