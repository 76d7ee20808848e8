"""Charges, claims, remittances and denials."""

from __future__ import annotations

from django.apps import AppConfig


class RevenueConfig(AppConfig):
    name = "revenue"
    verbose_name = "Revenue cycle"
