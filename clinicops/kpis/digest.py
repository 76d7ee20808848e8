"""The weekly digest: Monday morning, each clinic's managers get the week's tiles by email.

Sent at most once per clinic and week: the `SentDigest` row is inserted before the email goes
out, in the same transaction, on a unique (clinic, week). A second task for the same week
(a retry, a duplicate from beat) waits on that row and then finds it, so it sends nothing;
a failed send rolls the row back, so the retry sends it.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, User

from . import dashboard, selectors
from .models import SentDigest

# Who gets the digest: whoever may set the clinic's dashboard metrics (its managers).
RECIPIENT_PERMISSION = "kpis.change_clinicmetricchoice"


def recipients(clinic: Clinic) -> list[str]:
    """The email addresses of the clinic's active managers, sorted, each once."""
    users = (
        User.objects.with_perm(
            RECIPIENT_PERMISSION,
            include_superusers=False,
            # Permissions live in the model backend (the other one is axes' lockout).
            backend="django.contrib.auth.backends.ModelBackend",
        )
        .filter(is_active=True, staff__clinics=clinic)
        .exclude(email="")
    )
    return sorted({u.email for u in users})


def digest_week(today: date) -> date:
    """The Monday of the week a digest sent on local `today` reports: the last complete week."""
    return selectors.week_start(today) - timedelta(weeks=1)


def build_message(
    clinic: Clinic, board: dashboard.Dashboard, to: list[str]
) -> EmailMultiAlternatives:
    url = (
        settings.SITE_URL.rstrip("/")
        + reverse("kpis:clinic_dashboard", args=[clinic.pk])
        + f"?week={board.week_start:%Y-%m-%d}"
    )
    alerts = len(board.alerts)
    subject = f"{clinic.name}: week of {board.week_start:%d %b %Y}" + (
        f", {alerts} metric{'s' if alerts != 1 else ''} in alert" if alerts else ", no alerts"
    )
    context = {"clinic": clinic, "board": board, "url": url, "subject": subject}
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("kpis/email/digest.txt", context),
        to=to,
    )
    message.attach_alternative(render_to_string("kpis/email/digest.html", context), "text/html")
    return message


def send_weekly_digest(*, clinic_id: int, week_start: date) -> SentDigest | None:
    """Email the week's digest to the clinic's managers, once; None when nothing was sent
    (already sent, no metrics chosen, nobody to send it to, or the clinic is inactive)."""
    clinic = Clinic.objects.filter(pk=clinic_id, is_active=True).first()
    if clinic is None:
        return None
    week_start = selectors.week_start(week_start)
    if SentDigest.objects.filter(clinic=clinic, week_start=week_start).exists():
        return None
    to = recipients(clinic)
    board = dashboard.dashboard(clinic, week_start)
    if not to or not board.tiles:
        return None
    message = build_message(clinic, board, to)
    with transaction.atomic():
        try:
            with transaction.atomic():
                # Waits for a concurrent sender of the same week, then fails on the unique
                # (clinic, week): the email below goes out from one transaction only.
                sent = SentDigest.objects.create(
                    clinic=clinic,
                    week_start=week_start,
                    sent_at=timezone.now(),
                    recipients=to,
                    subject=message.subject[:200],
                )
        except IntegrityError:
            return None
        message.send()
        audit.record(
            actor=None,
            action=AuditEvent.Action.CREATE,
            obj=sent,
            clinic=clinic,
            summary=f"Weekly KPI digest emailed to {len(to)} manager{'s' if len(to) != 1 else ''}",
            changes={"week_start": week_start, "alerts": [t.key for t in board.alerts]},
        )
    return sent
