"""My shifts: every user's own published shifts (any clinic), the changes since they were
published, and a signed iCalendar feed of them for a phone's calendar."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.contrib.auth.decorators import login_not_required, permission_required
from django.core import signing
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from clinicops.core.models import Staff
from clinicops.core.web import HtmxHttpRequest, render_page

from .. import selectors
from ..models import AssignmentChange

SALT = "workforce.ical"


def ical_token(staff: Staff) -> str:
    """The feed's credential: the staff id, signed (with the secret key and this salt)."""
    return signing.dumps({"staff": staff.pk}, salt=SALT, compress=True)


@never_cache
@require_GET
@permission_required("workforce.view_own_shifts", raise_exception=True)
def my_shifts(request: HtmxHttpRequest) -> HttpResponse:
    staff = Staff.objects.filter(user_id=request.user.pk or 0).first()
    today = timezone.localdate()
    shifts = (
        list(selectors.my_assignments(staff, today - timedelta(days=7), today + timedelta(days=35)))
        if staff
        else []
    )
    changes = (
        list(
            AssignmentChange.objects.filter(
                staff=staff, changed_at__gte=timezone.now() - timedelta(days=14)
            ).select_related("week__clinic")[:20]
        )
        if staff
        else []
    )
    feed = (
        request.build_absolute_uri(reverse("workforce:ical", args=[ical_token(staff)]))
        if staff
        else ""
    )
    context = {
        "staff": staff,
        "shifts": [
            {
                "a": a,
                "start": a.start.astimezone(a.week.clinic.tz),
                "end": a.end.astimezone(a.week.clinic.tz),
                "past": a.day < today,
            }
            for a in shifts
        ],
        "changes": changes,
        "feed": feed,
        "hours": round(sum(a.paid_minutes for a in shifts if a.day >= today) / 60, 1),
    }
    return render_page(request, "workforce/my_shifts.html", "shifts", context)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


@login_not_required
@never_cache
@require_GET
def ical(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Public on purpose: the signed token is the credential (docs/decisions)."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature as exc:
        raise Http404("Unknown feed.") from exc
    staff_id = data.get("staff") if isinstance(data, dict) else None
    staff = Staff.objects.filter(pk=staff_id).first() if isinstance(staff_id, int) else None
    if staff is None:
        raise Http404("Unknown feed.")
    today = timezone.localdate()
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//ClinicOps//Roster//EN",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:My shifts",
    ]
    for a in selectors.my_assignments(
        staff, today - timedelta(days=30), today + timedelta(days=90)
    ):
        lines += [
            "BEGIN:VEVENT",
            f"UID:assignment-{a.pk}@clinicops",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{a.start.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"DTEND:{a.end.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:{_escape(f'{a.template.name} ({a.get_role_display()})')}",
            f"LOCATION:{_escape(a.week.clinic.name)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    response = HttpResponse(
        "\r\n".join(lines) + "\r\n", content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="shifts.ics"'
    return response
