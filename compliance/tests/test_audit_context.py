"""Who and from where: the request's IP reaches events, and sign-ins are audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from clinicops.audit import audit, sealer
from clinicops.audit.models import AuditEvent
from clinicops.core.models import User
from clinicops.core.tests.factories import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def test_the_request_ip_reaches_an_event_recorded_deep_inside_a_view(
    client: Client, compliance_officer: User
) -> None:
    client.force_login(compliance_officer)
    client.get(reverse("compliance:audit_log"), REMOTE_ADDR="203.0.113.77")
    event = AuditEvent.objects.get(action=AuditEvent.Action.SEARCH)
    assert event.ip_address == "203.0.113.77"


def test_a_forwarded_for_header_is_not_trusted_without_a_proxy(
    client: Client, compliance_officer: User
) -> None:
    # TRUSTED_PROXY_COUNT is 0 here: a client cannot pick the address it is logged under.
    client.force_login(compliance_officer)
    client.get(
        reverse("compliance:audit_log"),
        REMOTE_ADDR="203.0.113.77",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    assert AuditEvent.objects.get(action=AuditEvent.Action.SEARCH).ip_address == "203.0.113.77"


def test_outside_a_request_there_is_no_ip() -> None:
    assert audit.record(actor="cron", action=AuditEvent.Action.VIEW).ip_address is None


def test_the_context_is_restored_after_the_request() -> None:
    with audit.audit_context(ip_address="192.0.2.1"):
        inside = audit.record(actor="x", action=AuditEvent.Action.VIEW)
    outside = audit.record(actor="x", action=AuditEvent.Action.VIEW)
    assert (inside.ip_address, outside.ip_address) == ("192.0.2.1", None)


def test_login_is_audited_with_the_ip(client: Client, front_desk: User) -> None:
    response = client.post(
        reverse("login"),
        {"username": "frontdesk", "password": DEMO_PASSWORD},
        REMOTE_ADDR="198.51.100.1",
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert (event.actor, event.actor_label, event.ip_address) == (
        front_desk,
        "frontdesk",
        "198.51.100.1",
    )
    assert (event.object_type, event.object_id) == ("core.user", str(front_desk.pk))


def test_logout_is_audited(client: Client, front_desk: User) -> None:
    client.force_login(front_desk)
    client.post(reverse("logout"), REMOTE_ADDR="198.51.100.2")
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGOUT)
    assert (event.actor, event.ip_address) == (front_desk, "198.51.100.2")


def test_a_failed_login_is_audited_without_the_password(client: Client, front_desk: User) -> None:
    response = client.post(
        reverse("login"),
        {"username": "frontdesk", "password": "wrong-password-123"},
        REMOTE_ADDR="198.51.100.3",
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert event.actor is None
    assert event.ip_address == "198.51.100.3"
    assert "frontdesk" in event.summary
    assert "wrong-password" not in event.summary + str(event.changes)
    sealer.seal_pending()
    result = audit.verify_chain()
    assert (result.broken, result.checked) == (None, 1)


def test_a_failed_login_for_an_unknown_username_is_audited_too(client: Client) -> None:
    client.post(reverse("login"), {"username": "nobody", "password": "x" * 12})
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.LOGIN_FAILED, summary__contains="nobody"
    ).exists()
