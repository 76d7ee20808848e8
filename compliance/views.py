"""The compliance officer's screens (placeholder until the UI lands)."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse


@permission_required("compliance.view_auditevent", raise_exception=True)
def audit_log(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError
