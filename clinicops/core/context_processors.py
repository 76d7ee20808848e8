from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .models import Clinic


def clinic(request: HttpRequest) -> dict[str, Any]:
    """The current clinic and the clinics the user may switch to.

    The navigation is not here: the header (clinicops.core.layout) asks for it, the one place
    that shows it, so a fragment rendered with the context processors does not work it out.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_clinic": getattr(request, "clinic", None),
        # The middleware's list (one query for both); a request it did not see queries again.
        "user_clinics": getattr(request, "user_clinics", None) or Clinic.objects.for_user(user),
    }
