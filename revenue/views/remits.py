"""835 remittances: upload and post, the list, one remittance's postings and exceptions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from clinicops.audit import audit
from clinicops.core.web import HtmxHttpRequest, current_clinic

from .. import selectors
from ..forms import RemittanceUploadForm
from ..models import Remittance
from ..services import remittances
from ..x12.reader_835 import RemitRefused
from .common import id_or_404

LIST = "revenue/remittances.html"
DETAIL = "revenue/remittance.html"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("revenue.view_remittance", raise_exception=True)
def remittance_list(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = RemittanceUploadForm()
    refused = ""
    if request.method == "POST":
        if not request.user.has_perm("revenue.post_remittance"):
            raise PermissionDenied
        form = RemittanceUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = remittances.import_835(
                    actor=request.user,
                    content=upload.read(),
                    clinic=clinic,
                    filename=upload.name or "",
                )
            except RemitRefused as error:
                refused = f"Refused, nothing was posted: {error.message}"
                form.add_error("file", refused)
            else:
                stored = result.remittance
                if stored is None:  # every import that is not refused has its remittance
                    raise Http404
                if result.duplicate:
                    messages.warning(request, result.summary())
                else:
                    stored.refresh_from_db()
                    messages.success(
                        request,
                        f"Posted trace {stored.trace_number}: "
                        f"{_count(stored.claims_posted, 'claim')}, "
                        f"{_count(stored.lines_posted, 'line')}, "
                        f"{_count(stored.denials_opened, 'denial')} opened, "
                        f"{stored.exceptions} unmatched."
                        + (f" {' '.join(result.notes)}" if result.notes else ""),
                    )
                return redirect("revenue:remittance", pk=stored.pk)
    rows = list(selectors.remittances_for(request.user, clinic)[:100])  # type: ignore[arg-type]
    context = {"clinic": clinic, "form": form, "rows": rows, "refused": refused, "tab": "remits"}
    return render(request, LIST, context, status=422 if refused else 200)


@never_cache
@require_GET
@permission_required("revenue.view_remittance", raise_exception=True)
def remittance_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    try:
        remittance = (
            Remittance.objects.for_user(request.user).select_related("payer").get(pk=id_or_404(pk))
        )
    except Remittance.DoesNotExist:
        raise Http404 from None
    entries = list(
        remittance.entries.select_related("claim", "claim_line", "patient").order_by(
            "claim__control_number", "claim_line__position", "pk"
        )
    )
    audit.record_view(
        request, remittance, summary=f"Viewed the postings of 835 trace {remittance.trace_number}"
    )
    context = {
        "remittance": remittance,
        "entries": entries,
        "problems": list(remittance.problems.all()),
        "denials": list(remittance.denials.select_related("claim")),
        "tab": "remits",
    }
    return render(request, DETAIL, context)
