"""Logins and logouts belong in the audit trail too: who was at the keyboard, from where.

A login also starts the session's clocks (idle timeout and absolute lifetime).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent

from .middleware import start_session_clocks


@receiver(user_logged_in)
def start_clocks_at_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        start_session_clocks(request)


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit.record(actor=user, action=AuditEvent.Action.LOGIN, obj=user, object_type="core.user")


@receiver(user_logged_out)
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record(actor=user, action=AuditEvent.Action.LOGOUT, obj=user, object_type="core.user")


@receiver(user_login_failed)
def audit_login_failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit.record(
        actor=None,
        action=AuditEvent.Action.LOGIN_FAILED,
        object_type="core.user",
        summary=f"Failed login for username “{username}”",
    )
