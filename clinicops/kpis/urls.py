from __future__ import annotations

from django.urls import path

from . import views

app_name = "kpis"

urlpatterns = [
    path("", views.clinic_dashboard, name="dashboard"),
    path("system/", views.system, name="system"),
    path("<int:clinic_id>/", views.clinic_dashboard, name="clinic_dashboard"),
    path("<int:clinic_id>/metrics/", views.choose_metrics, name="choose"),
    path("<int:clinic_id>/weekly.csv", views.weekly_csv, name="weekly_csv"),
    path("<int:clinic_id>/drill/<slug:key>/", views.drilldown, name="drilldown"),
    path("<int:clinic_id>/drill/<slug:key>/export.csv", views.drilldown_csv, name="drilldown_csv"),
]
