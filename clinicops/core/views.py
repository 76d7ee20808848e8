"""Project-wide views: home, login, the clinic switcher, health and error pages."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST, require_safe

from .fields import parse_id
from .middleware import SESSION_CLINIC
from .models import Clinic, Staff
from .navigation import navigation_for


@dataclass(frozen=True)
class HomeCard:
    title: str
    description: str
    url_name: str
    permission: str


# The landing page's cards, in the order a working day needs them. Screens that other apps add
# to the navigation appear after these without a change here.
HOME_CARDS = [
    HomeCard(
        "Find a patient",
        "Search by name, MRN, date of birth or phone number.",
        "core:patient_search",
        "core.view_patient",
    ),
    HomeCard(
        "Register a new patient",
        "Add a patient's demographics; duplicates are flagged before saving.",
        "core:patient_create",
        "core.add_patient",
    ),
    HomeCard(
        "Audit log",
        "Who viewed or changed which record, when and from where.",
        "compliance:audit_log",
        "audit.view_auditevent",
    ),
]


def home_cards(request: HttpRequest) -> list[dict[str, str]]:
    cards = []
    for card in HOME_CARDS:
        if not request.user.has_perm(card.permission):
            continue
        try:
            url = reverse(card.url_name)
        except NoReverseMatch:
            continue
        cards.append({"title": card.title, "description": card.description, "url": url})
    shown = {card["url"] for card in cards} | {reverse("home")}
    for item in navigation_for(request):
        if item["url"] not in shown:
            cards.append(
                {
                    "title": str(item["label"]),
                    "description": str(item["description"]),
                    "url": str(item["url"]),
                }
            )
    if request.user.is_staff:
        cards.append(
            {
                "title": "Administration",
                "description": "Clinics, opening hours, rooms, payers and staff accounts.",
                "url": reverse("admin:index"),
            }
        )
    return cards


def greeting(hour: int) -> str:
    if hour < 12:
        return "Good morning"
    return "Good afternoon" if hour < 18 else "Good evening"


@require_GET
@permission_required("core.view_clinic", raise_exception=True)
def home(request: HttpRequest) -> HttpResponse:
    clinic: Clinic | None = getattr(request, "clinic", None)
    local_now = timezone.localtime(timezone=clinic.tz) if clinic else None
    context = {
        "cards": home_cards(request),
        "local_now": local_now,
        "greeting": greeting(local_now.hour if local_now else 12),
    }
    return render(request, "core/home.html", context)


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        why = self.request.GET.get("why", "")
        context["why"] = why
        if why == "idle":
            minutes = settings.SESSION_IDLE_TIMEOUT // 60
            context["why_message"] = (
                f"You were logged out after {minutes} minutes without activity. "
                "Log in again to carry on."
            )
        elif why == "expired":
            hours = settings.SESSION_ABSOLUTE_LIFETIME // 3600
            context["why_message"] = (
                f"Your session reached its {hours}-hour limit and was closed. "
                "Log in again to carry on."
            )
        return context


@login_not_required
def admin_login_redirect(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin's login goes through our login page (lockout, audit, session rules).

    A signed-in user lands here when the admin refuses them (not staff): sending them to the
    login page would bounce straight back, so they get the 403 page instead.
    """
    if request.user.is_authenticated:
        raise PermissionDenied("The administration site is for administrators.")
    next_url = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{reverse('login')}?{urlencode({'next': next_url})}")


@require_POST
@permission_required("core.view_clinic", raise_exception=True)
def switch_clinic(request: HttpRequest) -> HttpResponse:
    clinic_id = parse_id(request.POST.get("clinic", ""))
    if clinic_id is None:
        raise Http404("No such clinic.")
    clinic = get_object_or_404(Clinic.objects.for_user(request.user), pk=clinic_id)
    request.session[SESSION_CLINIC] = clinic.pk
    # The next login lands here too.
    Staff.objects.filter(user_id=request.user.pk or 0).update(last_clinic=clinic)
    messages.success(request, f"You are now working in {clinic.name}.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect("home")
    return redirect(page_after_switch(next_url))


def page_after_switch(next_url: str) -> str:
    """Where to land after switching clinic: `next_url`, cut back above any record id in it."""
    # A record belongs to the old clinic (/patients/12/ would show the old clinic's patient,
    # or 404): go back to the section's start, /patients/, instead.
    parts = urlsplit(next_url)
    segments = [s for s in parts.path.split("/") if s]
    kept = list(itertools.takewhile(lambda segment: not segment.isdigit(), segments))
    if kept == segments and parts.path.startswith("/"):
        return next_url
    while kept:
        candidate = "/" + "/".join(kept) + "/"
        try:
            resolve(candidate)
        except Resolver404:
            kept.pop()
            continue
        return candidate
    return reverse("home")


@login_not_required
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and the compose health check: the app is up and sees its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Only our own PermissionDenied messages are written for people; others stay generic.
    reason = str(exception) if isinstance(exception, PermissionDenied) else ""
    return render(request, "403.html", {"reason": reason}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors: whatever broke may be what they depend on.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
