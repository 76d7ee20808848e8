"""The app's URLs plus one bare page, the benchmarks' floor.

`/bench/floor/` sits behind every middleware the real pages pass through (session, login
required, current clinic, audit context, CSP...) and does nothing else: no query of its own, no
template. A page's time divided by the floor's is what that page itself costs.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.cache import never_cache

from clinicops.urls import handler403, handler404, handler500
from clinicops.urls import urlpatterns as app_urlpatterns

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]


@never_cache
def floor(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/floor/", floor, name="bench_floor"), *app_urlpatterns]
