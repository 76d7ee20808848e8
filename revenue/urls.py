from __future__ import annotations

from django.urls import path

from .views import batches, claims, coding, imports

app_name = "revenue"

urlpatterns = [
    # Coding.
    path("", coding.queue, name="queue"),
    path("visits/<int:visit_id>/code/", coding.start, name="start"),
    path("coding/<int:pk>/", coding.charge_entry, name="charge_entry"),
    path("coding/<int:pk>/diagnoses/", coding.set_diagnoses, name="set_diagnoses"),
    path("coding/<int:pk>/lines/", coding.add_line, name="add_line"),
    path("coding/<int:pk>/lines/<int:position>/remove/", coding.remove_line, name="remove_line"),
    path("coding/<int:pk>/ready/", coding.mark_ready, name="mark_ready"),
    path("coding/<int:pk>/reopen/", coding.reopen, name="reopen"),
    path("codes/search/", coding.code_search, name="code_search"),
    # Claims.
    path("claims/", claims.claim_list, name="claims"),
    path("claims/<int:pk>/", claims.claim_detail, name="claim"),
    path("claims/<int:pk>/scrub/", claims.scrub, name="claim_scrub"),
    path("claims/<int:pk>/update/", claims.update, name="claim_update"),
    path("claims/<int:pk>/status/", claims.change_status, name="claim_status"),
    path("claims/<int:pk>/replace/", claims.replace, name="claim_replace"),
    # Batches.
    path("batches/", batches.batches, name="batches"),
    path("batches/export/", batches.export_now, name="export"),
    path("batches/<int:pk>/download/", batches.download, name="batch_download"),
    # Reference data.
    path("import/codes/", imports.import_codes, name="import_codes"),
    path("import/fees/", imports.import_fees, name="import_fees"),
]
