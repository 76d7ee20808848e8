"""The production shape: compose file, Dockerfile, and settings that pass Django's deploy checks."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from django.db import connection
from django.test import Client
from pytest_django.fixtures import Settings

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat"}
APP_SERVICES = {"web", "worker", "beat"}
# Services that run once and exit (a health check means nothing for them).
ONE_SHOT_SERVICES = {"migrate"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def production_env(**overrides: str) -> dict[str, str]:
    """The process environment as production sets it: DEBUG unset, real keys, one host."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env |= {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "AUDIT_HMAC_KEY": secrets.token_urlsafe(32),
        "DJANGO_ALLOWED_HOSTS": "clinic.example.org",
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clinicops"
        ),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
    return env | overrides


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own argv
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_compose_defines_the_services_each_long_running_one_with_a_health_check(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]

    assert set(services) == SERVICES
    for name, service in services.items():
        if name in ONE_SHOT_SERVICES:
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no health check"
        assert test[0] in {"CMD", "CMD-SHELL"}, name


def test_postgres_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["postgres"]["volumes"]

    assert "postgres-data:/var/lib/postgresql/data" in mounts
    assert "postgres-data" in compose["volumes"]


def test_app_services_share_the_image_env_file_and_backing_services(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == ".", name
        assert ".env" in service["env_file"], name
        assert "@postgres:5432/" in service["environment"]["DATABASE_URL"], name
        assert "redis://redis:6379/" in service["environment"]["REDIS_URL"], name
        for dependency in ("postgres", "redis"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy", name

    assert "gunicorn clinicops.wsgi" in " ".join(services["web"]["command"])
    assert services["worker"]["command"][:4] == ["celery", "-A", "clinicops", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "clinicops", "beat"]


def url_user(value: str) -> str:
    """The user of the default URL in a compose value like ${VAR:-postgres://user:${PW}@...}."""
    match = re.search(r":-postgres://([^:@/]+)[:@]", value)
    assert match, value
    return match.group(1)


def test_the_app_runs_as_its_own_role_and_migrations_as_the_owner(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    owner = services["postgres"]["environment"]["POSTGRES_USER"]
    migrate = services["migrate"]
    # given the owner's URL for migrate, the application's for everything else
    migrate_user = url_user(migrate["environment"]["DATABASE_URL"])
    app_user = url_user(migrate["environment"]["APP_DATABASE_URL"])
    assert migrate_user == owner
    assert app_user
    assert app_user != owner
    command = " ".join(migrate["command"])
    assert "manage.py migrate" in command
    assert command.index("migrate --noinput") < command.index("grant_app_role")
    assert migrate["restart"] == "no"
    for name in APP_SERVICES:
        service = services[name]
        assert url_user(service["environment"]["DATABASE_URL"]) == app_user, name
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "migrate" not in " ".join(service["command"]), f"{name} must not migrate"


def test_the_web_health_check_calls_healthz(compose: dict[str, Any]) -> None:
    check = " ".join(compose["services"]["web"]["healthcheck"]["test"])

    assert "http://127.0.0.1:8000/healthz/" in check


def test_the_dockerfile_builds_a_slim_non_root_image_with_static_files() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert re.search(r"^FROM python:3\.12-slim\b", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users, "the image must not run as root"
    assert users[-1] not in {"root", "0"}
    assert "collectstatic --noinput" in dockerfile
    assert "DJANGO_SECRET_KEY=" in dockerfile, "collectstatic needs a build-time placeholder key"


def test_the_docker_context_leaves_out_secrets_and_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()

    for entry in (".env", ".venv", ".data", ".git"):
        assert entry in ignored


def test_production_settings_pass_the_deploy_checks() -> None:
    result = run_python(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env()
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_collectstatic_works_at_build_time_without_database_or_redis(tmp_path: Path) -> None:
    # As in the Dockerfile: placeholder keys, no database, no Redis; the manifest storage
    # fails here if a stylesheet refers to a file that does not exist.
    env = production_env(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/nothing", REDIS_URL="redis://127.0.0.1:1/0"
    )
    env["DJANGO_SETTINGS_MODULE"] = "clinicops.settings"
    script = (
        "import django; from django.conf import settings; "
        f"django.setup(); settings.STATIC_ROOT = {str(tmp_path)!r}; "
        "from django.core.management import call_command; "
        "call_command('collectstatic', interactive=False, verbosity=0, skip_checks=False)"
    )

    result = run_python("-c", script, env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "staticfiles.json").exists()


def test_healthz_answers_without_login_behind_the_https_proxy(
    db: None, client: Client, settings: Settings
) -> None:
    settings.ALLOWED_HOSTS = ["clinic.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    response = client.get(
        "/healthz/", headers={"host": "clinic.example.org", "x-forwarded-proto": "https"}
    )

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn(db: None) -> Iterator[int]:
    """The production web process (gunicorn, production settings) on a free local port."""
    # Pointed at this test run's database, which exists wherever the tests run.
    url = urlsplit(production_env()["DATABASE_URL"])
    test_db_url = urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own argv
        [sys.executable, "-m", "gunicorn", "clinicops.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=production_env(DATABASE_URL=test_db_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(15)


def test_the_compose_web_health_check_passes_against_gunicorn(
    compose: dict[str, Any], gunicorn: int
) -> None:
    code = compose["services"]["web"]["healthcheck"]["test"][-1]
    code = code.replace("127.0.0.1:8000", f"127.0.0.1:{gunicorn}")

    # Without the proxy's headers the same request is refused or redirected, which is why
    # the health check sends them.
    plain = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=30)
    plain.request("GET", "/healthz/")
    assert plain.getresponse().status != 200

    result = run_python("-c", code, env=production_env())

    assert result.returncode == 0, result.stderr


def test_the_compose_beat_health_check_reaches_the_broker(compose: dict[str, Any]) -> None:
    code = compose["services"]["beat"]["healthcheck"]["test"][-1]

    result = run_python("-c", code, env=production_env())

    assert result.returncode == 0, result.stderr
