"""The item-master import: a CSV of items, checked line by line, and its template."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from clinicops.core.web import HtmxHttpRequest

from .. import importers
from ..forms import ImportForm

IMPORT = "supplies/import.html"


# ---------------------------------------------------------------------------------------------
# Item-master import


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("supplies.import_supplyitem", raise_exception=True)
def item_import(request: HtmxHttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    errors: list[importers.LineError] = []
    summary = None
    if request.method == "POST" and form.is_valid():
        try:
            summary = importers.import_items(form.cleaned_data["file"].read(), actor=request.user)
        except importers.ItemImportError as refused:
            errors = refused.errors
    context = {
        "form": form,
        "errors": errors,
        "summary": summary,
        "columns": importers.COLUMNS,
        "required": importers.REQUIRED_COLUMNS,
        "tab": "import",
    }
    return render(request, IMPORT, context)


@require_GET
@permission_required("supplies.import_supplyitem", raise_exception=True)
def import_template(request: HtmxHttpRequest) -> HttpResponse:
    response = HttpResponse(importers.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="supply-items-template.csv"'
    return response
