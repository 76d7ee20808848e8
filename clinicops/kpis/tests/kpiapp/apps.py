from __future__ import annotations

from django.apps import AppConfig


class KpiTestAppConfig(AppConfig):
    name = "clinicops.kpis.tests.kpiapp"
    label = "kpis_testapp"
