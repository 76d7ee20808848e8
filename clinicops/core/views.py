"""Project-wide views: home, login, the clinic switcher, health and error pages."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, permission_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .middleware import SESSION_CLINIC
from .models import Clinic


@permission_required("core.view_clinic", raise_exception=True)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html", {})


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["why"] = self.request.GET.get("why", "")
        return context


@login_not_required
def admin_login_redirect(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin's login goes through our login page (lockout, audit, session rules)."""
    next_url = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{reverse('login')}?next={next_url}")


@require_POST
@permission_required("core.view_clinic", raise_exception=True)
def switch_clinic(request: HttpRequest) -> HttpResponse:
    clinic = get_object_or_404(Clinic.objects.for_user(request.user), pk=request.POST.get("clinic"))
    request.session[SESSION_CLINIC] = clinic.pk
    messages.success(request, f"You are now working in {clinic.name}.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("home")
    # A record of the old clinic would 404 in the new one: go back to the section's start.
    return redirect(next_url if next_url.count("/") <= 3 else reverse("home"))


@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and the compose health check: the app is up and sees its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors: whatever broke may be what they depend on.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
