"""The kiosk PIN's lockout is the login's: django-axes, with its limit (AXES_FAILURE_LIMIT, 5)
and cool-off (AXES_COOLOFF_MINUTES, 15), per person and address. The kiosk counts under the
username `timeclock:<username>`, so wrong PINs never lock the person's login (nor the reverse),
and every wrong PIN is a failed-login event in the audit trail like a wrong password."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest

from clinicops.core.models import Staff


def _credentials(staff: Staff) -> dict[str, str]:
    return {"username": f"timeclock:{staff.user.get_username()}"}


def is_locked(request: HttpRequest, staff: Staff) -> bool:
    return not AxesProxyHandler.is_allowed(request, _credentials(staff))


def failed(request: HttpRequest, staff: Staff) -> bool:
    """Count a wrong PIN; True when it locks the PIN."""
    user_login_failed.send(sender=__name__, credentials=_credentials(staff), request=request)
    locked = bool(getattr(request, "axes_locked_out", False))
    # The kiosk answers the lockout itself; axes' middleware would swap in the login's page.
    request.axes_locked_out = False  # type: ignore[attr-defined]
    return locked or is_locked(request, staff)


def succeeded(request: HttpRequest, staff: Staff) -> None:
    AxesProxyHandler.update_request(request)
    AxesProxyHandler.reset_attempts(
        username=_credentials(staff)["username"],
        ip_address=getattr(request, "axes_ip_address", None),
    )
