"""The break-glass banner on every page while a user's emergency access runs."""

from __future__ import annotations

from html import escape
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from clinicops.core.models import Patient, User
from clinicops.core.templatetags.formats import clock

from . import breakglass


def break_glass(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated or user.is_superuser:
        return {}
    # A callable: the template calls it (one roles query) only where it offers break-glass.
    context: dict[str, Any] = {"may_break_glass": lambda: breakglass.may_break_glass(user)}
    grants = breakglass.current_grants(user)  # cached: no query for a user without any
    if not grants:
        return context
    # Read with the user's clinics on a page (Grant.patient); on their own only elsewhere.
    patients = {g.patient_id: g.patient for g in grants if g.patient is not None}
    if unread := [g.patient_id for g in grants if g.patient is None]:
        patients.update(Patient.objects.in_bulk(unread))
    shown = [
        {"patient": patients[g.patient_id], "expires_at": g.expires_at, "id": g.access_id}
        for g in sorted(grants, key=lambda g: g.expires_at)
        if g.patient_id in patients
    ]
    return {
        **context,
        "break_glass_grants": shown,
        # A callable: written only when a page shows the banner (not for an htmx fragment).
        "break_glass_banner_html": lambda: banner_html(shown),
    }


def banner_html(grants: list[dict[str, Any]]) -> SafeString:
    """The banner (templates/_partials/break_glass_banner.html): every record opened by
    breaking the glass, and until when (in the current time zone, the clinic's)."""
    lines = []
    for grant in grants:
        patient = grant["patient"]
        zone = (
            ' <span class="muted">· time shown in your clinic\u2019s zone</span>'
            if patient.clinic_id
            else ""
        )
        lines.append(
            f'    <li><a href="{escape(reverse("core:patient_detail", args=[patient.pk]))}">'
            f"{escape(patient.full_name)} ({escape(patient.mrn)})</a> until "
            f"{escape(clock(grant['expires_at']))}{zone}</li>\n"
        )
    return mark_safe(  # noqa: S308 - every value escaped above
        '<section class="break-glass-banner" aria-label="Emergency access in use"'
        " data-break-glass>\n"
        '  <p class="break-glass-banner__title"><strong>Emergency access (break-glass) in use.'
        "</strong> Every record you open under it is flagged in the audit trail and reviewed by"
        " the compliance officer.</p>\n"
        '  <ul class="break-glass-banner__list">\n'
        f"{''.join(lines)}  </ul>\n</section>"
    )
