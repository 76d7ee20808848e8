"""Every URL the project serves needs a login, except a short, reviewed list."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# Views that must answer without a login, each for a stated reason. Adding to this list is a
# security decision: say why in the comment.
PUBLIC_URL_NAMES = {
    "login",  # the way in
    "healthz",  # load balancer / compose health check; reveals nothing
    "scheduling:confirm",  # signed link in a reminder email; the signature is the credential
}

SAMPLE_VALUES = {
    "int": "1",
    "str": "x",
    "slug": "x",
    "uuid": "00000000-0000-0000-0000-000000000001",
}


def walk(
    patterns: list[URLPattern | URLResolver], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str]]:
    """(a concrete path, the URL's qualified name) for every pattern, resolvers included."""
    for pattern in patterns:
        route = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace
            yield from walk(
                pattern.url_patterns,
                prefix + route,
                f"{namespace}:{ns}".strip(":") if ns else namespace,
            )
        else:
            name = f"{namespace}:{pattern.name}".strip(":") if pattern.name else ""
            yield prefix + route, name


def concrete(route: str) -> str | None:
    """Fill <converter:name> with sample values; skip regex routes we cannot fill safely."""
    # Regex routes (the admin's): a named group becomes its first alternative, or "x".
    path = re.sub(r"\(\?P<\w+>([^)]*)\)", lambda m: m.group(1).split("|")[0], route)
    path = path.replace("^", "").replace("$", "").replace(".*", "x")
    path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_VALUES.get(m.group(1) or "str", "x"), path)
    if any(ch in path for ch in "()[]?*+\\"):
        return None
    return "/" + path


ROUTES = sorted(set(walk(get_resolver().url_patterns)))


def test_the_walk_finds_the_project_urls() -> None:
    names = {name for _, name in ROUTES}
    assert {"home", "login", "core:patient_search", "compliance:audit_log"} <= names
    assert any(route.startswith("admin/") for route, _ in ROUTES)


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), ROUTES, ids=[r for r, _ in ROUTES])
def test_anonymous_visit_redirects_to_login(client: Client, route: str, name: str) -> None:
    if name in PUBLIC_URL_NAMES:
        pytest.skip(f"{name} is public on purpose")
    path = concrete(route)
    if path is None:
        pytest.skip(f"cannot build a sample path for {route}")
    response = client.get(path)
    assert response.status_code == 302, f"{path} answered {response.status_code} to anonymous"
    # The admin sends its visitors via its own login URL, which forwards to ours.
    for _ in range(2):
        if response.status_code != 302 or response["Location"].startswith("/login/"):
            break
        response = client.get(response["Location"])
    assert response.status_code == 302, f"{path} ended at {response.status_code}"
    assert response["Location"].startswith("/login/"), response["Location"]


@pytest.mark.django_db
def test_public_urls_are_few_and_known() -> None:
    from django.urls import resolve

    public = set()
    for route, name in ROUTES:
        path = concrete(route)
        if path is None:
            continue
        try:
            match = resolve(path)
        except Exception:  # noqa: S112 - sample path not resolvable: not a view
            continue
        if getattr(match.func, "login_required", True) is False and not path.startswith("/admin/"):
            public.add(name)
    assert public <= PUBLIC_URL_NAMES
