"""Credentials: the clinic's people and where their required credentials stand, one person's
credentials (with the form to record one and its scanned copy), one's own, and the scanned
copy itself, served only to the clinic's managers and to the person."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.audit import audit
from clinicops.core.models import Clinic, Staff
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from .. import credentials
from ..forms import CredentialForm
from ..models import Credential, CredentialScan, StaffContract
from ..services.credentials import CredentialError, add_credential

LIST = "workforce/credentials.html"
PERSON = "workforce/credential_person.html"


def _roles(staff_ids: list[int]) -> dict[int, frozenset[str]]:
    return {
        c.staff_id: c.roles
        for c in StaffContract.objects.filter(staff_id__in=staff_ids, is_active=True)
    }


@never_cache
@require_GET
@permission_required("workforce.view_credential", raise_exception=True)
def clinic_list(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    people = list(
        Staff.objects.filter(clinics=clinic, contract__is_active=True)
        .select_related("user", "contract")
        .order_by("user__last_name", "user__first_name")
    )
    statuses = credentials.statuses_for(_roles([p.pk for p in people]))
    today = clinic.today()
    rows = [(p, credentials.standings(statuses.get(p.pk, ()), today)) for p in people]
    context = {
        "clinic": clinic,
        "rows": [{"staff": p, "standings": s} for p, s in rows],
        "problems": sum(1 for _, s in rows if any(x.state in ("lapsed", "missing") for x in s)),
        "types": credentials.required_types(),
    }
    return render_page(request, LIST, "credential-list", context)


def _person(clinic: Clinic, staff_id: int) -> Staff:
    staff = Staff.objects.filter(pk=staff_id, clinics=clinic).select_related("user").first()
    if staff is None:
        raise Http404("Nobody by that id works at this clinic.")
    return staff


def _person_page(
    request: HtmxHttpRequest,
    staff: Staff,
    *,
    form: CredentialForm | None = None,
    own: bool,
    refused: bool = False,
) -> HttpResponse:
    clinic = current_clinic(request)
    held = list(
        Credential.objects.filter(staff=staff)
        .select_related("type", "scan")
        .defer("scan__content")
        .order_by("type__code", "-issued_on")
    )
    statuses = credentials.statuses_for(_roles([staff.pk]))
    context = {
        "clinic": clinic,
        "staff": staff,
        "held": held,
        "standings": credentials.standings(statuses.get(staff.pk, ()), clinic.today()),
        "form": form or CredentialForm(),
        "own": own,
    }
    audit.record(
        actor=request.user,
        action="view",
        obj=staff,
        object_type="workforce.credential",
        clinic=clinic.pk,
        summary=f"Read the credentials of {staff}",
    )
    response = render_page(request, PERSON, "person", context)
    if refused:
        response.status_code = 400
    return response


@never_cache
@require_GET
@permission_required("workforce.view_credential", raise_exception=True)
def person(request: HtmxHttpRequest, staff_id: int) -> HttpResponse:
    clinic = current_clinic(request)
    return _person_page(request, _person(clinic, staff_id), own=False)


@never_cache
@require_GET
@permission_required("workforce.view_own_credentials", raise_exception=True)
def mine(request: HtmxHttpRequest) -> HttpResponse:
    staff = Staff.objects.filter(user_id=request.user.pk or 0).select_related("user").first()
    if staff is None:
        raise Http404("You have no staff profile.")
    return _person_page(request, staff, own=True)


@never_cache
@require_POST
@permission_required("workforce.add_credential", raise_exception=True)
def add(request: HtmxHttpRequest, staff_id: int) -> HttpResponse:
    clinic = current_clinic(request)
    staff = _person(clinic, staff_id)
    form = CredentialForm(request.POST, request.FILES)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        label = form.fields[field].label if field in form.fields else "Credential"
        messages.error(request, f"{label}: {errors[0]} Nothing was saved.")
        return _person_page(request, staff, form=form, own=False, refused=True)
    data = form.cleaned_data
    try:
        row = add_credential(
            actor=request.user,
            staff=staff,
            clinic=clinic,
            type=data["type"],
            number=data["number"],
            issuer=data["issuer"],
            state=data["state"],
            issued_on=data["issued_on"],
            expires_on=data["expires_on"],
            scan=data.get("scan"),
        )
    except CredentialError as exc:
        messages.error(request, str(exc))
        return _person_page(request, staff, form=form, own=False, refused=True)
    row = Credential.objects.select_related("type").get(pk=row.pk)
    scan = CredentialScan.objects.filter(credential=row).only("size", "content_type").first()
    expires = f"expires {row.expires_on:%a %d %b %Y}" if row.expires_on else "does not expire"
    copy = f", scanned copy {scan.size // 1024} KB ({scan.content_type})" if scan else ""
    messages.success(
        request, f"Recorded {row.type.code} {row.number} for {staff}: {expires}{copy}."
    )
    return redirect("workforce:credential_person", staff_id=staff.pk)


@never_cache
@require_GET
@permission_required("workforce.view_own_credentials", raise_exception=True)
def scan(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The scanned copy: to the person it belongs to, or to a manager of a clinic they work at
    (the current one). Anyone else gets a 404, as for a copy that does not exist."""
    clinic = current_clinic(request)
    row = (
        CredentialScan.objects.filter(credential_id=pk).select_related("credential__staff").first()
    )
    if row is None:
        raise Http404("No scanned copy.")
    staff = row.credential.staff
    own = staff.user_id == request.user.pk
    manager = (
        request.user.has_perm("workforce.view_credential")
        and staff.clinics.filter(pk=clinic.pk).exists()
    )
    if not (own or manager):
        raise Http404("No scanned copy.")
    audit.record(
        actor=request.user,
        action="view",
        obj=row.credential,
        clinic=clinic.pk,
        summary=f"Read the scanned copy of {row.credential}",
    )
    response = HttpResponse(bytes(row.content), content_type=row.content_type)
    ext = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}.get(
        row.content_type, "bin"
    )
    response["Content-Disposition"] = f'inline; filename="credential-{pk}.{ext}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
