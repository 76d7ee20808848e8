"""Session lifetime and the current clinic."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.postgres.fields import ArrayField
from django.db.models import CharField
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from .backends import group_names_sql, permission_names_sql, remember_permissions
from .models import USER_READS, Clinic, Staff

SESSION_LAST_ACTIVITY = "clinicops_last_activity"
SESSION_STARTED = "clinicops_session_started"
SESSION_CLINIC = "clinicops_clinic_id"

# Requests that carry this header (htmx polls: the flow board, live counters) are background
# traffic. They are answered, but they do not count as the user being there.
POLL_HEADER = "X-ClinicOps-Poll"


def is_background_poll(request: HttpRequest) -> bool:
    return request.headers.get(POLL_HEADER) == "1"


def start_session_clocks(request: HttpRequest) -> None:
    """Start both clocks at login: the absolute lifetime and the idle timeout.

    Called from the `user_logged_in` signal. Without it the idle clock started at the first
    request that was not a poll, so a login followed only by polls never went idle.
    """
    now = time.time()
    request.session[SESSION_STARTED] = now
    request.session[SESSION_LAST_ACTIVITY] = now


class SessionTimeoutMiddleware:
    """Log out after SESSION_IDLE_TIMEOUT of no real activity, or SESSION_ABSOLUTE_LIFETIME.

    An expired htmx request gets `HX-Redirect` to the login page, so the browser navigates
    there instead of swapping a login form into a fragment of the page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            started = request.session.get(SESSION_STARTED)
            # A session from before the clocks started at login has no last activity: it is
            # as idle as it is old.
            last = request.session.get(SESSION_LAST_ACTIVITY, started)
            idle_expired = last is not None and now - last > settings.SESSION_IDLE_TIMEOUT
            absolute_expired = (
                started is not None and now - started > settings.SESSION_ABSOLUTE_LIFETIME
            )
            if idle_expired or absolute_expired:
                auth.logout(request)
                return self._to_login(request, idle=idle_expired)
            if started is None:
                request.session[SESSION_STARTED] = now
            # The last activity is written at most once per SESSION_ACTIVITY_RESOLUTION
            # seconds: writing it on every click cost every page a session UPDATE (three round
            # trips). The idle logout can come that much early, never late (decision 0037).
            resolution = getattr(settings, "SESSION_ACTIVITY_RESOLUTION", 0)
            if last is None or (not is_background_poll(request) and now - last >= resolution):
                request.session[SESSION_LAST_ACTIVITY] = now
        return self.get_response(request)

    @staticmethod
    def _to_login(request: HttpRequest, *, idle: bool) -> HttpResponse:
        reason = "idle" if idle else "expired"
        if getattr(request, "htmx", False):
            # Send the user back to the page they were on (the htmx request's page), not to the
            # fragment URL, once they have logged in again.
            current = request.htmx.current_url_abs_path or "/"
            url = reverse(settings.LOGIN_URL) + "?" + urlencode({"next": current, "why": reason})
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        url = (
            reverse(settings.LOGIN_URL)
            + "?"
            + urlencode({"next": request.get_full_path(), "why": reason})
        )
        return redirect(url)


def permissions_policy_header(policy: dict[str, list[str]]) -> str:
    """{"camera": [], "fullscreen": ["self"]} -> 'camera=(), fullscreen=(self)'."""
    return ", ".join(f"{feature}=({' '.join(allow)})" for feature, allow in policy.items())


class PermissionsPolicyMiddleware:
    """Send `Permissions-Policy` (settings.PERMISSIONS_POLICY) with every response.

    No page of ClinicOps uses the camera, microphone, location, payment or device APIs (the
    supplies tablet's barcode field takes a keyboard-wedge scanner, not the camera), so a
    script that got onto a page still cannot switch them on.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = permissions_policy_header(getattr(settings, "PERMISSIONS_POLICY", {}))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response


def last_clinic_id(user: Any) -> int | None:
    """The clinic the user last chose in the header switcher (Staff.last_clinic), if any."""
    return Staff.objects.filter(user_id=user.pk).values_list("last_clinic_id", flat=True).first()


class CurrentClinicMiddleware:
    """Set `request.clinic`: the clinic chosen in the header switcher, or the user's first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.clinic = None  # type: ignore[attr-defined]
        request.user_clinics = []  # type: ignore[attr-defined]
        user = request.user
        if user.is_authenticated:
            # One query for the clinics the user may work in: the header's switcher shows the
            # same list, and for a non-superuser it is also `user.clinic_ids` (scoping).
            if user.is_superuser:
                clinics = list(Clinic.objects.filter(is_active=True))
            else:
                # The same query brings the user's permissions and role names (every page
                # checks a permission; the header names the roles): one round trip less.
                names = ArrayField(CharField())
                clinics = list(
                    Clinic.objects.filter(staff__user=user, is_active=True).annotate(
                        # Table names from the models' metadata; the user id a parameter.
                        permission_names=RawSQL(  # noqa: S611
                            permission_names_sql(), [user.pk, user.pk], output_field=names
                        ),
                        group_names=RawSQL(group_names_sql(), [user.pk], output_field=names),  # noqa: S611
                        # What apps read about the user on every page (the break-glass banner).
                        **{
                            f"user_read_{read.name}": RawSQL(  # noqa: S611
                                read.sql(), [user.pk], output_field=read.output_field
                            )
                            for read in USER_READS
                        },
                    )
                )
                user.__dict__["clinic_ids"] = [c.pk for c in clinics]
                if clinics:
                    first = clinics[0]
                    remember_permissions(user, first.permission_names, first.group_names)
                    for read in USER_READS:
                        read.remember(user, getattr(first, f"user_read_{read.name}"))
            request.user_clinics = clinics  # type: ignore[attr-defined]
            chosen = request.session.get(SESSION_CLINIC)
            if chosen is None and len(clinics) > 1:
                # A new session: the clinic this person chose last time.
                chosen = last_clinic_id(user)
            clinic = next((c for c in clinics if c.pk == chosen), None) if chosen else None
            if clinic is None:
                clinic = clinics[0] if clinics else None
            if (
                clinic is not None
                and request.session.get(SESSION_CLINIC) != clinic.pk
                and not is_background_poll(request)
            ):
                request.session[SESSION_CLINIC] = clinic.pk
            request.clinic = clinic  # type: ignore[attr-defined]
        if request.clinic is None:
            return self.get_response(request)
        # Templates and forms show and read times in the clinic's own zone ("08:00" means
        # 08:00 at the clinic), whatever the server's zone is.
        with timezone.override(request.clinic.tz):
            return self.get_response(request)
