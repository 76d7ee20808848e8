"""The app's URLs plus two bare pages, the benchmarks' floor and the empty layout.

`/bench/floor/` sits behind every middleware the real pages pass through (session, login
required, current clinic, audit context, CSP...) and does nothing else: no query of its own, no
template. A page's time divided by the floor's is what that page itself costs.

`/bench/layout/` is the same with the base layout around an empty page (header, navigation,
clinic switcher, messages, footer, the context processors): what every page pays for its frame
before its own content.
"""

from functools import cache

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.backends.django import Template
from django.urls import path
from django.views.decorators.cache import never_cache

from clinicops.urls import handler403, handler404, handler500
from clinicops.urls import urlpatterns as app_urlpatterns

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]


@never_cache
def floor(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@cache
def empty_page() -> Template:
    return engines["django"].from_string('{% extends "base.html" %}')  # type: ignore[return-value]


@never_cache
def layout(request: HttpRequest) -> HttpResponse:
    return HttpResponse(empty_page().render({}, request))


urlpatterns = [
    path("bench/floor/", floor, name="bench_floor"),
    path("bench/layout/", layout, name="bench_layout"),
    *app_urlpatterns,
]
