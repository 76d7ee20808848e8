"""Session idle timeout and absolute lifetime, lockout, and security headers."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.test import Client, override_settings

from clinicops.core.middleware import (
    POLL_HEADER,
    SESSION_LAST_ACTIVITY,
    SESSION_STARTED,
)
from clinicops.core.tests.factories import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def age_session(client: Client, *, idle: float = 0, started: float = 0) -> None:
    session = client.session
    now = time.time()
    session[SESSION_LAST_ACTIVITY] = now - idle
    session[SESSION_STARTED] = now - started
    session.save()


def test_active_user_stays_logged_in(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    age_session(client, idle=14 * 60)
    assert client.get("/").status_code == 200


def test_idle_session_is_logged_out_to_the_login_page(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    age_session(client, idle=15 * 60 + 1)
    response = client.get("/patients/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=%2Fpatients%2F&why=idle")
    # and the session is really gone
    assert client.get("/").status_code == 302


def test_expired_htmx_request_redirects_the_whole_page(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    age_session(client, idle=16 * 60)
    response = client.get(
        "/patients/?q=smi",
        headers={
            "HX-Request": "true",
            "HX-Current-URL": "http://testserver/patients/?q=smi",
            POLL_HEADER: "1",
        },
    )
    # Not a login form swapped into a fragment: htmx navigates the page to the login.
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/?next=%2Fpatients%2F%3Fq%3Dsmi&why=idle")


def test_background_poll_does_not_keep_the_session_alive(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    age_session(client, idle=10 * 60)
    before = client.session[SESSION_LAST_ACTIVITY]
    response = client.get("/", headers={"HX-Request": "true", POLL_HEADER: "1"})
    assert response.status_code == 200
    assert client.session[SESSION_LAST_ACTIVITY] == before
    # ... whereas a real request does
    client.get("/")
    assert client.session[SESSION_LAST_ACTIVITY] > before


def test_the_last_activity_is_written_at_most_once_a_minute(client: Client, front_desk) -> None:
    """A click within SESSION_ACTIVITY_RESOLUTION of the last one writes no session at all."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(front_desk)
    age_session(client, idle=30)
    before = client.session[SESSION_LAST_ACTIVITY]
    client.get("/")  # the clinic is chosen into the session once
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200
    assert client.session[SESSION_LAST_ACTIVITY] == before
    assert not [q for q in captured.captured_queries if "django_session" in q["sql"].split()[:3]]
    assert not [q for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    # A minute after the last write, a click moves it (and writes the session once).
    age_session(client, idle=61)
    aged = client.session[SESSION_LAST_ACTIVITY]
    client.get("/")
    assert client.session[SESSION_LAST_ACTIVITY] == pytest.approx(time.time(), abs=5)
    assert client.session[SESSION_LAST_ACTIVITY] > aged


def test_the_idle_logout_comes_early_never_late(client: Client, front_desk) -> None:
    """The stored time may be up to a minute older than the last click: the logout can come
    up to a minute before the idle timeout after the last click, never after it."""
    client.force_login(front_desk)
    age_session(client, idle=59)  # a click now is not written ...
    assert client.get("/").status_code == 200
    stored = client.session[SESSION_LAST_ACTIVITY]
    with mock.patch("clinicops.core.middleware.time.time", return_value=stored + 15 * 60 + 1):
        assert client.get("/").status_code == 302  # ... 14 min after it, the session ended


def test_polls_alone_end_in_idle_logout(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    age_session(client, idle=14 * 60)
    poll = {"HX-Request": "true", POLL_HEADER: "1"}
    assert client.get("/", headers=poll).status_code == 200
    age_session(client, idle=15 * 60 + 5)
    assert client.get("/", headers=poll).status_code == 204


def test_a_login_followed_only_by_polls_goes_idle(client: Client, front_desk) -> None:
    # The idle clock starts at login, not at the first request that is not a poll: a board
    # left polling right after someone logged in must still log out after the idle timeout.
    assert (
        client.post("/login/", {"username": "frontdesk", "password": DEMO_PASSWORD}).status_code
        == 302
    )
    logged_in_at = time.time()
    poll = {"HX-Request": "true", POLL_HEADER: "1"}
    with mock.patch("clinicops.core.middleware.time.time", return_value=logged_in_at + 60):
        assert client.get("/", headers=poll).status_code == 200
    with mock.patch("clinicops.core.middleware.time.time", return_value=logged_in_at + 15 * 60 + 5):
        response = client.get("/", headers=poll)
    assert response.status_code == 204
    assert "why=idle" in response["HX-Redirect"]
    assert client.get("/").status_code == 302  # really logged out


def test_force_login_starts_the_idle_clock_too(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    session = client.session
    assert session[SESSION_LAST_ACTIVITY] == pytest.approx(time.time(), abs=30)
    assert session[SESSION_STARTED] == session[SESSION_LAST_ACTIVITY]


@override_settings(SESSION_IDLE_TIMEOUT=60)
def test_idle_timeout_is_configurable(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    age_session(client, idle=61)
    assert client.get("/").status_code == 302


def test_absolute_lifetime_ends_even_an_active_session(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    age_session(client, idle=1, started=12 * 60 * 60 + 1)
    response = client.get("/")
    assert response.status_code == 302
    assert "why=expired" in response["Location"]


def login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_five_failures_lock_that_username_from_that_address(client: Client, front_desk) -> None:
    for _ in range(5):
        response = login(client, "frontdesk", "wrong-password")
    assert response.status_code == 429
    # Now even the right password is refused from this address ...
    response = login(client, "frontdesk", DEMO_PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed attempts" in response.content
    # ... but the same user from another address, and another user here, may still log in.
    assert login(Client(), "frontdesk", DEMO_PASSWORD, ip="10.0.0.2").status_code == 302


def test_a_failed_login_names_no_reason_and_is_audited(client: Client, front_desk) -> None:
    from clinicops.audit.models import AuditEvent

    response = login(client, "frontdesk", "wrong-password")
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED).count() == 1


def test_passwords_are_hashed_with_argon2(front_desk) -> None:
    assert front_desk.password.startswith("argon2")


def test_csp_allows_only_our_origin_and_nonced_scripts(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    html = response.content.decode()
    # every script tag carries the nonce (htmx and our app.js)
    assert html.count("<script") == html.count(f'nonce="{nonce}"')


DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb", "serial", "hid")


@pytest.mark.parametrize("path", ["/login/", "/", "/healthz/"])
def test_permissions_policy_denies_device_features(client: Client, front_desk, path) -> None:
    if path != "/login/":
        client.force_login(front_desk)
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Permissions-Policy"]
    features = dict(item.strip().split("=", 1) for item in policy.split(","))
    for feature in DENIED_FEATURES:
        assert features[feature] == "()", feature
