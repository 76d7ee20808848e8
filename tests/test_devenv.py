"""The development orchestrator: URL forms, process handling, and real embedded servers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dj_database_url
import psycopg
import pytest
import redis
from celery import Celery
from django.core.cache.backends.redis import RedisCache

from clinicops import devenv
from clinicops.settings import celery_redis_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: as root, Postgres runs as another user, who must be able to reach
    # the directory, and pytest's base directory is private (0700).
    path = Path(tempfile.mkdtemp(prefix="clinicops-devenv-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_postgres_url_parses_into_the_socket_directory() -> None:
    url = devenv.postgres_url(Path("/srv/my data/.data/postgres"))

    parsed = dj_database_url.parse(url)

    assert parsed["HOST"] == "/srv/my data/.data/postgres"
    assert parsed["NAME"] == "clinicops"
    assert parsed["USER"] == "postgres"
    assert parsed["ENGINE"] == "django.db.backends.postgresql"


def test_redis_url_is_a_unix_socket_for_redis_py() -> None:
    url = devenv.redis_url(Path("/srv/app/.data/redis/redis.sock"), db=3)

    pool = redis.ConnectionPool.from_url(url)

    assert pool.connection_class is redis.UnixDomainSocketConnection
    assert pool.connection_kwargs["path"] == "/srv/app/.data/redis/redis.sock"
    assert pool.connection_kwargs["db"] == 3


def test_celery_gets_the_same_socket_in_its_own_spelling() -> None:
    assert (
        celery_redis_url("unix:///srv/app/.data/redis/redis.sock?db=2")
        == "redis+socket:///srv/app/.data/redis/redis.sock?virtual_host=2"
    )
    assert celery_redis_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_socket_path_too_long_for_sun_path_moves_to_the_temp_dir() -> None:
    short = Path("/work/main/.data/postgres")
    long = Path("/work/" + "deep/" * 30 + ".data/postgres")

    assert devenv.socket_dir_for(short, ".s.PGSQL.5432") == short
    moved = devenv.socket_dir_for(long, ".s.PGSQL.5432")
    assert moved.parent == Path(tempfile.gettempdir())
    assert len(str(moved / ".s.PGSQL.5432")) <= devenv.SOCKET_PATH_MAX
    assert moved == devenv.socket_dir_for(long, ".s.PGSQL.5432"), "stable between runs"


@pytest.mark.parametrize(
    ("args", "workers", "expected"),
    [
        ([], "auto", ["-n", "auto"]),
        (["-k", "audit"], "2", ["-n", "2"]),
        (["-n", "4"], "auto", []),
        (["-n4"], "auto", []),
        (["-p", "no:xdist"], "auto", []),
        ([], "0", []),
    ],
)
def test_xdist_is_added_unless_the_caller_chose(
    args: list[str], workers: str, expected: list[str]
) -> None:
    assert devenv.xdist_args(args, workers=workers) == expected


def test_the_banner_lists_the_demo_logins_and_password() -> None:
    info = devenv.DemoInfo(
        has_seed=True, logins=[("front desk", "frontdesk"), ("nurse", "nurse")], password="pw"
    )

    text = devenv.banner(8001, info)

    assert "http://127.0.0.1:8001/" in text
    assert "password: pw" in text
    assert "front desk  frontdesk" in text
    assert "nurse       nurse" in text


def test_the_banner_says_so_when_there_is_no_seed_command() -> None:
    text = devenv.banner(8000, devenv.DemoInfo(has_seed=False, logins=[], password=None))

    assert "seed_demo" in text


def test_the_demo_logins_come_from_the_seed_command() -> None:
    from clinicops.core.demo import DEMO_LOGINS
    from clinicops.core.tests.factories import DEMO_PASSWORD

    info = devenv.read_demo_probe(devenv.start_demo_probe({**os.environ, "DJANGO_DEBUG": "1"}))

    assert info.has_seed
    assert info.logins == [(str(role), username) for role, username in DEMO_LOGINS]
    assert info.password == DEMO_PASSWORD


def test_a_lease_forgets_dead_processes(data_dir: Path) -> None:
    lease = devenv.Lease(data_dir / "thing")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (data_dir / "thing.users").write_text(f'["{dead.pid}:1", "{lease.me}"]')

    with lease.locked():
        assert lease.users() == [lease.me]
        assert lease.leave() is True, "the dead process does not keep the server up"


def test_a_lease_is_shared_with_a_live_process(data_dir: Path) -> None:
    lease = devenv.Lease(data_dir / "thing")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (data_dir / "thing.users").write_text(f'["{devenv._process_identity(other.pid)}"]')
        with lease.locked():
            lease.join()
            assert lease.leave() is False, "the other process still uses the server"
    finally:
        other.kill()
        other.wait()


def test_stopping_a_child_stops_everything_it_forked() -> None:
    child = devenv._spawn(
        "sleepers", ["sh", "-c", "sleep 300 & sleep 300 & wait"], dict(os.environ)
    )
    time.sleep(0.3)
    assert devenv._group_alive(child.process.pid)

    devenv.stop_children([child], timeout=5)

    assert not devenv._group_alive(child.process.pid)
    assert child.process.returncode is not None


def test_embedded_redis_serves_django_cache_and_celery(data_dir: Path) -> None:
    server = devenv.EmbeddedRedis(data_dir)
    started = time.monotonic()
    with devenv.embedded(server) as url:
        startup = time.monotonic() - started
        pid = int(server.pidfile.read_text())
        # given the URL devenv exports, in both spellings the project uses
        cache = RedisCache(url, {"KEY_PREFIX": "devenv-test"})
        app = Celery("devenv-test", broker=celery_redis_url(url), backend=celery_redis_url(url))

        # when Django's cache and Celery's broker and result backend use it
        cache.set("greeting", "hello", 30)
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            queue = connection.SimpleQueue(f"devenv-test-{uuid.uuid4()}")
            queue.put({"ping": 1})
            message = queue.get(timeout=5)
            message.ack()
            queue.close()
        task_id = str(uuid.uuid4())
        app.backend.store_result(task_id, 42, "SUCCESS")

        # then every client reaches the same embedded server
        assert cache.get("greeting") == "hello"
        assert message.payload == {"ping": 1}
        assert app.AsyncResult(task_id).get(timeout=5) == 42
        assert startup < 10
    assert not devenv._pid_alive(pid), "the last user out stops the server"
    assert not server.ping()


def test_embedded_postgres_keeps_its_data_between_runs(data_dir: Path) -> None:
    server = devenv.EmbeddedPostgres(data_dir)
    started = time.monotonic()
    with devenv.embedded(server) as url:
        first_start = time.monotonic() - started
        first_pid = server.postmaster_pid()
        params = dj_database_url.parse(url)
        with psycopg.connect(
            host=params["HOST"], dbname=params["NAME"], user=params["USER"]
        ) as connection:
            version = connection.execute("SHOW server_version").fetchone()
            connection.execute("CREATE TABLE kept (n int)")
            connection.execute("INSERT INTO kept VALUES (7)")
    assert first_pid is not None
    assert not devenv._pid_alive(first_pid), "the last user out stops the server"

    started = time.monotonic()
    with devenv.embedded(devenv.EmbeddedPostgres(data_dir)) as url:
        second_start = time.monotonic() - started
        with psycopg.connect(
            host=params["HOST"], dbname=params["NAME"], user=params["USER"]
        ) as connection:
            kept = connection.execute("SELECT n FROM kept").fetchone()

    assert version is not None
    assert version[0].startswith("16")
    assert kept == (7,)
    sys.stderr.write(
        f"embedded Postgres: first start {first_start:.1f}s, then {second_start:.1f}s\n"
    )


def test_sigterm_stops_the_command_and_both_servers(data_dir: Path) -> None:
    env = {**os.environ, "CLINICOPS_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    marker = data_dir / "child-started"
    script = f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(300)"
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "clinicops.devenv", "exec", "--", sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, "devenv exited early"
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.1)
        postgres = devenv.EmbeddedPostgres(data_dir)
        redis_server = devenv.EmbeddedRedis(data_dir)
        postgres_pid = postgres.postmaster_pid()
        redis_pid = int(redis_server.pidfile.read_text())

        process.send_signal(signal.SIGTERM)

        assert process.wait(30) != 0
    finally:
        if process.poll() is None:
            process.kill()
    assert postgres_pid is not None
    assert not devenv._pid_alive(postgres_pid)
    assert not devenv._pid_alive(redis_pid)


def _make(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [shutil.which("make") or "make", "-s", "-C", str(ROOT), *args],
        env={"PATH": path, "HOME": os.environ.get("HOME", "/tmp")},  # noqa: S108
        capture_output=True,
        text=True,
        check=False,
    )


def _shim(path: Path, body: str = "echo 'pyenv: command not found' >&2; exit 127") -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_makefile_skips_python_shims_that_do_not_run(tmp_path: Path) -> None:
    # given pyenv-style shims that exist but fail, and a python3 that is this interpreter
    _shim(tmp_path / "python3.12")
    _shim(tmp_path / "python3.13")
    (tmp_path / "python3").symlink_to(Path(sys.executable).resolve())
    make_dir = Path(shutil.which("make") or "/usr/bin/make").parent

    result = _make("print-python", path=f"{tmp_path}:{make_dir}:/bin")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "python3")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_makefile_says_what_to_install_when_no_python_works(tmp_path: Path) -> None:
    for name in ("python3.12", "python3.13", "python3"):
        _shim(tmp_path / name)
    make_dir = Path(shutil.which("make") or "/usr/bin/make").parent

    result = _make("print-python", path=f"{tmp_path}:{make_dir}:/bin")

    assert result.returncode != 0
    assert "needs Python 3.12 (preferred) or 3.13" in result.stderr
    assert "apt-get install python3.12" in result.stderr


def test_make_run_migrates_as_the_owner_and_serves_as_the_app_role(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    owner = devenv.postgres_url(data_dir / "postgres")
    app = devenv.postgres_url(data_dir / "postgres", user=devenv.APP_DB_USER)
    calls: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def services(env: dict[str, str], data_dir: Path) -> Iterator[dict[str, str]]:
        yield {**env, "DATABASE_URL": owner, "APP_DATABASE_URL": app, "REDIS_URL": "unix:///x"}

    class Dead:
        returncode = 0

        def poll(self) -> int:
            return 0

    def spawn(name: str, cmd: list[str], env: dict[str, str]) -> devenv.Child:
        calls.append((name, env["DATABASE_URL"]))
        return devenv.Child(name, Dead())  # type: ignore[arg-type]

    monkeypatch.setattr(devenv, "services", services)
    monkeypatch.setattr(devenv, "_port_free", lambda port: True)
    monkeypatch.setattr(devenv, "_port_open", lambda port: True)
    monkeypatch.setattr(devenv, "start_demo_probe", lambda env: None)
    monkeypatch.setattr(devenv, "read_demo_probe", lambda probe: devenv.DemoInfo(True, [], None))
    monkeypatch.setattr(
        devenv, "_manage", lambda env, *args: calls.append((args[0], env["DATABASE_URL"]))
    )
    monkeypatch.setattr(devenv, "_spawn", spawn)
    monkeypatch.setattr(devenv, "stop_children", lambda children: None)

    devenv.cmd_run(8101, reload=False, data_dir=data_dir)

    assert calls[:3] == [("migrate", owner), ("grant_app_role", owner), ("seed_demo", app)]
    assert {url for name, url in calls[3:]} == {app}
    assert [name for name, _ in calls[3:]] == ["web", "worker", "beat"]
    assert dj_database_url.parse(app)["USER"] == "clinicops_app"
