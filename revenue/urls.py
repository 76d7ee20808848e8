from __future__ import annotations

from django.urls import path

from .views import ar, batches, claims, coding, denials, imports, remits

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
    path("batches/<int:pk>/", batches.batch_detail, name="batch"),
    path("batches/<int:pk>/check/", batches.check_now, name="batch_check"),
    path("batches/<int:pk>/download/", batches.download, name="batch_download"),
    # Remittances (835).
    path("remittances/", remits.remittance_list, name="remittances"),
    path("remittances/<int:pk>/", remits.remittance_detail, name="remittance"),
    # Denials.
    path("denials/", denials.queue, name="denials"),
    path("denials/assign/", denials.assign, name="denials_assign"),
    path("denials/pareto/", denials.pareto, name="pareto"),
    path("denials/<int:pk>/", denials.item_detail, name="denial"),
    path("denials/<int:pk>/status/", denials.item_status, name="denial_status"),
    path("denials/<int:pk>/note/", denials.item_note, name="denial_note"),
    path("denials/<int:pk>/appeal/", denials.item_appeal, name="denial_appeal"),
    path("denials/<int:pk>/letter/", denials.appeal_letter, name="denial_letter"),
    path("denials/<int:pk>/resubmit/", denials.item_resubmit, name="denial_resubmit"),
    path("denials/<int:pk>/write-off/", denials.item_write_off, name="denial_write_off"),
    # A/R.
    path("ar/", ar.aging, name="aging"),
    path("ar/csv/", ar.aging_csv, name="aging_csv"),
    # Reference data.
    path("import/codes/", imports.import_codes, name="import_codes"),
    path("import/fees/", imports.import_fees, name="import_fees"),
]
