"""manage.py assumes development only where no production secret is configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINT_DEBUG = ["shell", "-c", "from django.conf import settings; print(settings.DEBUG)"]


def run_manage(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_DEBUG", "DJANGO_SECRET_KEY"}}
    env.update(env_overrides)
    return subprocess.run(  # noqa: S603 - our own manage.py with a fixed argument list
        [sys.executable, "manage.py", *PRINT_DEBUG],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_checkout_without_secrets_runs_commands_in_development_mode() -> None:
    result = run_manage({})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_with_a_production_secret_debug_stays_off() -> None:
    result = run_manage(
        {
            "DJANGO_SECRET_KEY": "x" * 60,
            "AUDIT_HMAC_KEY": "y" * 40,
            "DJANGO_ALLOWED_HOSTS": "clinic.example.org",
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
