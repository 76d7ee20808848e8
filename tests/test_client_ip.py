"""The client's address behind (and without) a trusted proxy: audit trail and lockout agree."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory, override_settings

from clinicops.audit.audit import client_ip
from clinicops.audit.models import AuditEvent
from clinicops.core.models import User
from clinicops.core.tests.factories import DEMO_PASSWORD

PROXY = "10.0.0.5"


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        # No proxy: the connection's address; a forwarded header is the client's own claim.
        (0, "203.0.113.7", None, "203.0.113.7"),
        (0, "203.0.113.7", "198.51.100.1", "203.0.113.7"),
        # One proxy: the address it appended; what the client wrote before it is not believed.
        (1, PROXY, "198.51.100.1", "198.51.100.1"),
        (1, PROXY, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (1, PROXY, "6.6.6.6,198.51.100.1", "198.51.100.1"),
        (1, PROXY, "198.51.100.1:51234", "198.51.100.1"),
        (1, PROXY, "[2001:db8::7]:443", "2001:db8::7"),
        # One proxy, but a request that did not pass it: its own address.
        (1, "203.0.113.7", None, "203.0.113.7"),
        # Two proxies (a load balancer, then the TLS proxy).
        (2, PROXY, "6.6.6.6, 198.51.100.1, 10.0.0.4", "198.51.100.1"),
        # Garbage where the client should be: the connection's address, never the garbage.
        (1, PROXY, "not-an-ip", PROXY),
    ],
)
def test_client_ip(proxies: int, remote: str, forwarded: str | None, expected: str) -> None:
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        assert client_ip(request_from(remote, forwarded)) == expected


def login(client: Client, password: str, *, remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post("/login/", {"username": "frontdesk", "password": password}, **extra)


@pytest.mark.django_db
@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_audit_trail_records_the_client(
    client: Client, front_desk: User
) -> None:
    assert login(client, DEMO_PASSWORD, remote=PROXY, forwarded="198.51.100.9").status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert event.ip_address == "198.51.100.9"


@pytest.mark.django_db
def test_without_a_proxy_a_spoofed_header_is_not_recorded(client: Client, front_desk: User) -> None:
    login(client, DEMO_PASSWORD, remote="203.0.113.7", forwarded="198.51.100.9")
    assert AuditEvent.objects.get(action=AuditEvent.Action.LOGIN).ip_address == "203.0.113.7"


@pytest.mark.django_db
@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_lockout_is_per_client_not_per_proxy(front_desk: User) -> None:
    # Five failures from one client through the proxy lock that client out ...
    attacker = Client()
    for _ in range(5):
        response = login(attacker, "wrong-password", remote=PROXY, forwarded="198.51.100.66")
    assert response.status_code == 429
    assert login(Client(), DEMO_PASSWORD, remote=PROXY, forwarded="198.51.100.66").status_code == (
        429
    )
    # ... and not everyone else who comes through the same proxy.
    assert login(Client(), DEMO_PASSWORD, remote=PROXY, forwarded="198.51.100.7").status_code == (
        302
    )
    # The attacker cannot get round it by writing its own X-Forwarded-For before the proxy's.
    spoofed = "192.0.2.1, 198.51.100.66"
    assert login(Client(), DEMO_PASSWORD, remote=PROXY, forwarded=spoofed).status_code == 429


@pytest.mark.django_db
def test_without_a_proxy_a_spoofed_header_does_not_escape_the_lockout(front_desk: User) -> None:
    for n in range(5):
        response = login(Client(), "wrong-password", remote="203.0.113.7", forwarded=f"192.0.2.{n}")
    assert response.status_code == 429
    fresh = login(Client(), DEMO_PASSWORD, remote="203.0.113.7", forwarded="192.0.2.200")
    assert fresh.status_code == 429
