"""Credentials: recording one (with its scanned copy, checked by size and by content), and the
expiry alerts at 60, 30 and 7 days, each sent once per credential and expiry date."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from clinicops.audit import audit
from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.servicekit import user_or_none

from ..credentials import ALERT_DAYS
from ..models import Credential, CredentialAlert, CredentialScan, CredentialType
from .weeks import RosterError

log = logging.getLogger(__name__)

MAX_SCAN_BYTES = getattr(settings, "CREDENTIAL_SCAN_MAX_BYTES", 10 * 1024 * 1024)
# What a scanned copy may be, known by its first bytes (never by its name or the browser's word).
SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


class CredentialError(RosterError):
    """A credential write refused, with the reason in plain words."""


@dataclass(frozen=True)
class CheckedScan:
    content: bytes
    content_type: str
    filename: str


def check_scan(upload: UploadedFile[bytes]) -> CheckedScan:
    """The upload's bytes when it is a PDF, PNG or JPEG of at most MAX_SCAN_BYTES."""
    size = upload.size or 0
    limit_mb = MAX_SCAN_BYTES // (1024 * 1024)
    if size > MAX_SCAN_BYTES:
        raise CredentialError(
            f"Scanned copy: the file is {size / (1024 * 1024):.1f} MB; the limit is "
            f"{limit_mb} MB. Nothing was saved."
        )
    if size == 0:
        raise CredentialError("Scanned copy: the file is empty. Nothing was saved.")
    content = upload.read(MAX_SCAN_BYTES + 1)
    if len(content) > MAX_SCAN_BYTES:
        raise CredentialError(f"Scanned copy: the limit is {limit_mb} MB. Nothing was saved.")
    for magic, kind in SIGNATURES:
        if content.startswith(magic):
            name = (upload.name or "scan").rsplit("/", 1)[-1][:200]
            return CheckedScan(content, kind, name)
    raise CredentialError(
        "Scanned copy: the file is not a PDF, PNG or JPEG (checked by its content, not its "
        "name). Nothing was saved."
    )


def add_credential(
    *,
    actor: Any,
    staff: Staff,
    clinic: Clinic,
    type: CredentialType,
    number: str,
    issuer: str,
    state: str,
    issued_on: date,
    expires_on: date | None,
    scan: UploadedFile[bytes] | None = None,
) -> Credential:
    if not staff.clinics.filter(pk=clinic.pk).exists():
        raise CredentialError(f"{staff} is not on staff at {clinic}. Nothing was saved.")
    if expires_on is not None and expires_on < issued_on:
        raise CredentialError(
            "Expires: the expiry date is before the issue date. Nothing was saved."
        )
    checked = check_scan(scan) if scan is not None else None
    with transaction.atomic():
        same = Credential.objects.filter(
            staff=staff, type=type, number=number, issued_on=issued_on, expires_on=expires_on
        ).first()
        if same is not None:  # the same form sent twice
            return same
        credential = Credential.objects.create(
            staff=staff,
            type=type,
            number=number,
            issuer=issuer,
            state=state.upper(),
            issued_on=issued_on,
            expires_on=expires_on,
            created_by=user_or_none(actor),
        )
        if checked is not None:
            CredentialScan.objects.create(
                credential=credential,
                content=checked.content,
                content_type=checked.content_type,
                size=len(checked.content),
                sha256=hashlib.sha256(checked.content).hexdigest(),
                filename=checked.filename,
                uploaded_by=user_or_none(actor),
            )
        audit.record(
            actor=actor,
            action="create",
            obj=credential,
            clinic=clinic.pk,
            summary=(
                f"Recorded {type.code} for {staff}, expires "
                f"{expires_on.isoformat() if expires_on else 'never'}"
                f"{' with a scanned copy' if checked else ''}"
            ),
        )
    return credential


# ---------------------------------------------------------------------------------------------
# Expiry alerts


def threshold_for(days_left: int) -> int | None:
    """The alert due `days_left` days before expiry: the smallest threshold reached."""
    reached = [t for t in ALERT_DAYS if days_left <= t]
    return min(reached) if reached and days_left >= 0 else None


def _managers(staff: Staff) -> list[User]:
    group = Group.objects.filter(name=roles.MANAGER).first()
    if group is None:
        return []
    return list(
        User.objects.filter(
            groups=group, is_active=True, staff__clinics__in=staff.clinics.all()
        ).distinct()
    )


def send_alerts(*, today: date) -> int:
    """Send every expiry alert due on `today` that was not sent before; returns how many.
    Only a person's latest credential of a type is watched (a renewal silences the old one)."""
    latest: dict[tuple[int, int], Credential] = {}
    for c in Credential.objects.select_related("type", "staff__user").order_by("issued_on", "pk"):
        key = (c.staff_id, c.type_id)
        current = latest.get(key)
        if current is None or (
            current.expires_on is not None
            and (c.expires_on is None or c.expires_on >= current.expires_on)
        ):
            latest[key] = c
    sent = 0
    for c in latest.values():
        if c.expires_on is None:
            continue
        threshold = threshold_for((c.expires_on - today).days)
        if threshold is None:
            continue
        if _send_one(c, threshold, today):
            sent += 1
    return sent


def _send_one(c: Credential, threshold: int, today: date) -> bool:
    user = c.staff.user
    managers = _managers(c.staff)
    to = sorted({u.email for u in [user, *managers] if u.email})
    if c.expires_on is None:
        return False
    days = (c.expires_on - today).days
    try:
        with transaction.atomic():
            CredentialAlert.objects.create(
                credential=c,
                threshold_days=threshold,
                expires_on=c.expires_on,
                recipients=", ".join(to),
            )
            if to:
                send_mail(
                    subject=f"{c.type.code} of {user.display_name} expires in {days} days",
                    message=(
                        f"The {c.type.name} ({c.type.code}) number {c.number} of "
                        f"{user.display_name} expires on {c.expires_on:%A %d %B %Y}, in {days} "
                        "days. Renew it and give the new one to your manager: without it the "
                        "roster will not accept shifts that need it."
                    ),
                    from_email=None,
                    recipient_list=to,
                )
    except IntegrityError:
        return False  # sent already (this threshold, this expiry)
    audit.record(
        actor=None,
        action="create",
        object_type="workforce.credentialalert",
        object_id=c.pk,
        summary=f"{threshold}-day expiry alert for {c.type.code} of {user.display_name}",
    )
    log.info("credential alert: %s-day for credential %s", threshold, c.pk)
    return True
