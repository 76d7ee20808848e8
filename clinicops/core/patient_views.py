"""Patient search, registration and the patient page (placeholder until the UI lands)."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse


@permission_required("core.view_patient", raise_exception=True)
def patient_search(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


@permission_required("core.add_patient", raise_exception=True)
def patient_create(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


@permission_required("core.view_patient", raise_exception=True)
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    raise NotImplementedError


@permission_required("core.change_patient", raise_exception=True)
def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    raise NotImplementedError
