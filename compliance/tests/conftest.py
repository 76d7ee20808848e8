"""Fixtures for the audit trail's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from pytest_django.fixtures import Settings


@pytest.fixture(autouse=True)
def _isolated_cache(settings: Settings) -> None:
    """A per-test in-memory cache (the chain anchor and "already reported" live there)."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "audit"}
    }
    from django.core.cache import cache

    cache.clear()


@contextmanager
def audit_triggers_disabled() -> Iterator[None]:
    """Go around the append-only triggers, as an attacker with the table's owner role could."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE compliance_auditevent ENABLE TRIGGER USER")


def tamper(sql: str, params: list[object] | None = None) -> None:
    """Run one statement against the audit table with its triggers off."""
    with audit_triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])
