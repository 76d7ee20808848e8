"""Charges, claims, remittances and denials."""

from __future__ import annotations

from django.apps import AppConfig


class RevenueConfig(AppConfig):
    name = "revenue"
    verbose_name = "Revenue cycle"

    def ready(self) -> None:
        # The front desk shows what a patient owes at check-in and checkout; patient flow is
        # below revenue in the import layers, so revenue hands it the reader.
        from patientflow import balances as desk

        from .services.balances import patient_balance, patient_balance_expression

        desk.register(patient_balance, expression=patient_balance_expression)
