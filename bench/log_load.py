"""20 nurses tapping "Log" over HTTP, against a logged-in bare page on the same server.

    .venv/bin/python bench/log_load.py [--nurses 20] [--seconds 15] [--workers 4] [--port 8105]

It uses bench/pages.py's database (DATABASE_URL's name plus "_bench_pages"), seeding it the
same way when needed, and adds --nurses nurse logins at Riverside, each with a session made
in-process. Then it starts gunicorn as docker-compose.yml does (`gunicorn clinicops.wsgi`,
sync workers; WEB_CONCURRENCY or --workers of them) but with bench/support/floor_settings.py,
which adds the floor page `/bench/floor/` and turns DEBUG off, and drives it from this machine:

1. floor: every nurse's session GETs `/bench/floor/` (login required, same middleware, no
   work) as fast as the server answers, for --seconds;
2. log: every nurse POSTs a "Log" of one item to the tablet as htmx sends it (a new
   submission key each time, the CSRF token of their session), for --seconds.

Each nurse logs a different item of the same supply cart (one row each, like nurses at their
own carts). It prints requests per second, median and p95 latency for both, and the ratio.
Target (issue 18): logs/s at least a third of the floor's requests/s. Exit status 1 if not.
The client runs on the same 2 CPUs as the server: both figures pay for it alike.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import DEFAULT_URL, bench_database_url, ensure_database, p95  # noqa: E402

TARGET_SHARE = 1 / 3
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Nurse:
    def __init__(self, port: int, session: str, path: str, item_id: int) -> None:
        self.port, self.session, self.path, self.item_id = port, session, path, item_id
        self.cookies = {"sessionid": session}
        self.csrf = ""

    def request(self, method: str, path: str, body: str = "", headers: Any = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        all_headers = {"Host": "localhost", "Cookie": cookie, **(headers or {})}
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        conn.close()
        return response.status, data

    def prepare(self) -> None:
        status, body = self.request("GET", self.path)
        if status != 200:
            raise SystemExit(f"the tablet answered {status} to a nurse")
        match = CSRF_INPUT.search(body.decode())
        if match is None:
            raise SystemExit("no CSRF token on the tablet")
        self.csrf = match.group(1)

    def floor(self) -> int:
        return int(self.request("GET", "/bench/floor/")[0])

    def log(self) -> int:
        body = urlencode(
            {
                "csrfmiddlewaretoken": self.csrf,
                "idempotency_key": uuid.uuid4().hex,
                "visit": "",
                "barcode": "",
                "q": "",
                f"qty_{self.item_id}": "1",
                "action": "log",
            }
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "HX-Request": "true",
            "HX-Target": "log-panel",
            "Referer": f"http://localhost{self.path}",
        }
        return int(self.request("POST", self.path, body, headers)[0])


def run(nurses: list[Nurse], action: str, seconds: float) -> tuple[float, list[float], int]:
    """Every nurse repeats `action` for `seconds`; (requests/s, latencies ms, errors)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop(nurse: Nurse) -> None:
        mine, bad = [], 0
        while time.monotonic() < stop:
            start = time.perf_counter()
            status = getattr(nurse, action)()
            mine.append((time.perf_counter() - start) * 1000)
            if status != 200:
                bad += 1
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=loop, args=(n,)) for n in nurses]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return len(latencies) / elapsed, latencies, errors[0]


def prepare(count: int) -> tuple[list[tuple[str, int]], int]:
    """Nurse logins with sessions, and the cart: ([(session key, item id)], location id)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from bench.pages import seed_demo_once, seed_today
    from clinicops.core import roles
    from clinicops.core.middleware import SESSION_CLINIC
    from clinicops.core.tests.factories import StaffFactory
    from supplies.models import LocationItem
    from supplies.services import counts as count_services

    call_command("migrate", verbosity=0)
    seed_demo_once(3000)
    data = seed_today(60)
    clinic, location = data["clinic"], data["location"]
    items = list(LocationItem.objects.filter(location=location, is_active=True).order_by("pk"))
    for li in items:  # enough on the shelf that every log succeeds
        count_services.quick_count(
            actor=data["manager"], location_item=li, counted=100_000, reason="found"
        )
    users = get_user_model().objects
    sessions = []
    for n in range(count):
        username = f"bench-nurse-{n:02d}"
        user = users.filter(username=username).first()
        if user is None:
            user = StaffFactory(roles=[roles.NURSE], clinics=[clinic], user__username=username).user
        client = Client()
        client.force_login(user)
        session = client.session
        session[SESSION_CLINIC] = clinic.pk
        session.save()
        sessions.append((session.session_key, items[n % len(items)].pk))
    return sessions, location.pk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nurses", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "4")))
    parser.add_argument("--port", type=int, default=8105)
    parser.add_argument("--database", help="database name (default: DATABASE_URL's + _bench_pages)")
    args = parser.parse_args()

    url = bench_database_url(os.environ.get("DATABASE_URL", DEFAULT_URL), args.database)
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.support.floor_settings"
    os.environ.setdefault("DJANGO_DEBUG", "1")

    import django

    django.setup()
    sessions, location_id = prepare(args.nurses)
    from django.db import connections

    connections.close_all()

    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn),
        "clinicops.wsgi",
        "--bind",
        f"127.0.0.1:{args.port}",
        "--workers",
        str(args.workers),
        "--chdir",
        str(ROOT),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=os.environ.copy())  # noqa: S603
    try:
        path = f"/supplies/use/{location_id}/"
        nurses = [Nurse(args.port, key, path, item) for key, item in sessions]
        for _ in range(100):
            try:
                nurses[0].prepare()
                break
            except (ConnectionRefusedError, http.client.HTTPException, OSError):
                time.sleep(0.2)
        for nurse in nurses:
            nurse.prepare()
        run(nurses, "floor", 2)  # warm every worker
        run(nurses, "log", 2)
        floor_rate, floor_ms, floor_errors = run(nurses, "floor", args.seconds)
        log_rate, log_ms, log_errors = run(nurses, "log", args.seconds)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print()
    print(
        f"{args.nurses} nurse sessions over HTTP, gunicorn with {args.workers} sync workers, "
        f"{args.seconds:.0f} s each, client on the same machine (load average {load} on "
        f"{os.cpu_count()} CPUs at the end)"
    )
    print()
    print("| request | per second | median ms | p95 ms | errors |")
    print("|---|--:|--:|--:|--:|")
    for label, rate, ms, errors in (
        ("floor: logged-in bare view (GET)", floor_rate, floor_ms, floor_errors),
        ("Log (htmx POST, one item)", log_rate, log_ms, log_errors),
    ):
        print(f"| {label} | {rate:.0f} | {statistics.median(ms):.1f} | {p95(ms):.1f} | {errors} |")
    share = log_rate / floor_rate
    print(f"\nlogs/s = {share:.2f} x the floor's rate (target >= {TARGET_SHARE:.2f})")
    return 0 if share >= TARGET_SHARE and not log_errors else 1


if __name__ == "__main__":
    sys.exit(main())
