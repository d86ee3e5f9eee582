"""Load test: officials reading leaderboards, staff saving sessions and REST clients pulling
rankings, all at once, against gunicorn + PostgreSQL + Redis + a Celery worker on loopback.

    python bench/load.py [--clients 200] [--seconds 30] [--workers 3] [--threads 16]

Uses its own PostgreSQL database (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/linfen_load, emptied and re-migrated each run) and Redis
databases 10 (cache) and 11 (broker). Each client is a thread with its own user and one
keep-alive connection, sending requests back to back until the time is up: 60% officials
(GET the holiday dashboard page with a logged-in session), 20% REST clients (GET
/api/v1/rankings/ with a token), 20% staff (POST /api/v1/sessions/ with a token, each a new
session inside the holiday). Requests go to 127.0.0.1 only and stop after --seconds.

Prints requests/s, p50, p95 and errors per kind, then checks after the load has stopped and
the worker has caught up: every session the server acknowledged (201) is in the database,
and the final rankings count every session of the holiday and the revenue to the cent.
Exits non-zero on any error or lost write.
"""

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import HOST, Result, free_port  # noqa: E402
from bench.data import ROOT, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/linfen_load"
BROKER = "redis://127.0.0.1:6379/11"
CACHE = "redis://127.0.0.1:6379/10"
KINDS = [("official-page", 0.6), ("rest-rankings", 0.2), ("staff-save", 0.2)]


def reset_database(url: str) -> None:
    import psycopg
    from environ import Env

    c = Env.db_url_config(url)
    with psycopg.connect(host=c["HOST"] or HOST, port=c["PORT"] or 5432,
                         user=c["USER"] or "postgres", dbname="postgres",
                         autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{c["NAME"]}" WITH (FORCE)')


def prepare(clients: int) -> dict:
    """Demo data, one user per client (officials read, staff write), their credentials."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from sessions_app.models import Holiday, Official

    call_command("seed_demo", stdout=open(os.devnull, "w"))
    holiday = Holiday.objects.get(slug="labor-day-2020")
    officials = list(Official.objects.values_list("id", flat=True))
    User = get_user_model()
    groups = {g.name: g for g in Group.objects.all()}
    plan = []
    rng = random.Random(7)
    for i in range(clients):
        kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
        user = User.objects.create_user(f"load-{i:03d}", password=None,
                                        is_staff=kind == "staff-save")
        user.groups.add(groups["city_staff" if kind == "staff-save" else "officials"])
        credential = {}
        if kind == "official-page":
            # A logged-in browser session, as after the login form (login isn't measured).
            store = SessionStore()
            store["_auth_user_id"] = str(user.pk)
            store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
            store["_auth_user_hash"] = user.get_session_auth_hash()
            store.create()
            credential = {"Cookie": f"sessionid={store.session_key}"}
        else:
            credential = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
        plan.append({"kind": kind, "headers": credential, "index": i,
                     "official": officials[i % len(officials)]})
    return {"holiday": holiday, "plan": plan}


def start(cmd: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)


def wait_healthy(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not become healthy")


def client(spec: dict, port: int, holiday_slug: str, stop_at: float, results: dict,
           created: list, lock: threading.Lock) -> None:
    kind, headers = spec["kind"], dict(spec["headers"])
    latencies, errors, statuses = [], 0, {}
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    # Each staff client writes its own official's sessions at its own minutes: no clashes.
    base = datetime.fromisoformat("2020-05-01T06:00:00+08:00") + timedelta(
        seconds=spec["index"] * 7)
    n = 0
    while time.monotonic() < stop_at:
        if kind == "official-page":
            method, path, body = "GET", f"/holidays/{holiday_slug}/", None
        elif kind == "rest-rankings":
            metric = ("audience", "orders", "revenue")[n % 3]
            method, path, body = "GET", (f"/api/v1/rankings/?holiday={holiday_slug}"
                                         f"&metric={metric}&scope=official"), None
        else:
            started = base + timedelta(minutes=n * 3 % (5 * 24 * 60 - 120), seconds=n // 2400)
            method, path = "POST", "/api/v1/sessions/"
            body = json.dumps({
                "official": spec["official"], "platform": "douyin",
                "title": f"Load {spec['index']}-{n}", "started_at": started.isoformat(),
                "ended_at": (started + timedelta(hours=1)).isoformat(),
                "audience": 1000 + n, "orders": 10 + n % 50, "revenue": f"{100 + n}.25",
            })
            headers["Content-Type"] = "application/json"
        began = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status, payload = 0, b""
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
        latencies.append(time.perf_counter() - began)
        statuses[status] = statuses.get(status, 0) + 1
        ok = status == (201 if method == "POST" else 200)
        if not ok:
            errors += 1
        elif method == "POST":
            with lock:
                created.append(json.loads(payload)["id"])
        n += 1
    conn.close()
    with lock:
        r = results.setdefault(kind, {"latencies": [], "errors": 0, "statuses": {}})
        r["latencies"] += latencies
        r["errors"] += errors
        for s, c in statuses.items():
            r["statuses"][s] = r["statuses"].get(s, 0) + c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=16, help="threads per gunicorn worker")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    reset_database(url)
    os.environ.update(CELERY_BROKER_URL=BROKER, REDIS_URL=CACHE)
    for db in ("10", "11"):  # before the demo data: its recompute message must survive
        subprocess.run(["redis-cli", "-n", db, "flushdb"], check=True, stdout=subprocess.DEVNULL)
    setup_django(url)
    setup = prepare(args.clients)
    holiday = setup["holiday"]

    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "SECURE_SSL_REDIRECT": "0",
           "ALLOWED_HOSTS": HOST, "LOG_LEVEL": "WARNING", "STATICFILES_STORAGE":
           "django.contrib.staticfiles.storage.StaticFilesStorage"}
    port = free_port()
    venv = ROOT / ".venv/bin"
    server = start([str(venv / "gunicorn"), "linfen_tracker.wsgi:application",
                    "--bind", f"{HOST}:{port}", "--workers", str(args.workers),
                    "--worker-class", "gthread", "--threads", str(args.threads),
                    "--backlog", "512", "--log-level", "warning"], env)
    worker = start([str(venv / "celery"), "-A", "linfen_tracker", "worker", "-l", "warning",
                    "--concurrency", "1", "--without-gossip", "--without-mingle"], env)
    try:
        wait_healthy(port)
        results, created, lock = {}, [], threading.Lock()
        barrier = threading.Barrier(args.clients + 1)
        stop = {}

        def run(spec):
            barrier.wait()  # every client connects and starts together
            client(spec, port, holiday.slug, stop["at"], results, created, lock)

        threads = [threading.Thread(target=run, args=(spec,)) for spec in setup["plan"]]
        for t in threads:
            t.start()
        stop["at"] = time.monotonic() + args.seconds
        began = time.monotonic()
        barrier.wait()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began

        total_errors = 0
        print(f"clients: {args.clients}  seconds: {elapsed:.1f}  gunicorn: {args.workers} "
              f"workers x {args.threads} threads  + 1 Celery worker")
        for kind, _ in KINDS:
            r = results.get(kind, {"latencies": [], "errors": 0, "statuses": {}})
            line = Result(kind, len(r["latencies"]), r["errors"], elapsed, r["latencies"])
            print(f"{line.line()}  statuses {r['statuses']}")
            total_errors += r["errors"]
        all_lat = [x for r in results.values() for x in r["latencies"]]
        print(Result("all", len(all_lat), total_errors, elapsed, all_lat).line())

        token = next(spec["headers"] for spec in setup["plan"] if spec["kind"] != "official-page")
        lost = verify(holiday, created, port=port, headers=token)
        print(f"errors: {total_errors}  lost writes: {lost}")
        if total_errors or lost:
            raise SystemExit(1)
    finally:
        for p in (server, worker):
            p.terminate()
        for p in (server, worker):
            p.wait(timeout=30)


def verify(holiday, created: list[int], *, port: int, headers: dict) -> int:
    """After the load: every acknowledged session is stored, the final rankings (once the
    worker caught up) count exactly the holiday's sessions and revenue, and the API shows
    that snapshot from every web process, whatever each had cached during the load."""
    from django.db.models import Sum

    from rankings.models import RankingEntry, RankingSnapshot
    from sessions_app.models import Holiday, LivestreamSession

    stored = set(LivestreamSession.objects.filter(id__in=created).values_list("id", flat=True))
    lost = len(set(created) - stored)
    deadline = time.monotonic() + 120
    while Holiday.objects.get(pk=holiday.pk).rankings_stale:
        if time.monotonic() > deadline:
            print("rankings did not catch up within 120 s")
            return lost + 1
        time.sleep(0.2)
    waited = 120 - (deadline - time.monotonic())
    snapshot = RankingSnapshot.objects.latest_for(holiday.pk)
    in_holiday = LivestreamSession.objects.in_holiday(holiday)
    db_count = in_holiday.count()
    db_revenue = in_holiday.aggregate(r=Sum("revenue"))["r"] or Decimal(0)
    ranked_revenue = RankingEntry.objects.filter(
        snapshot=snapshot, scope="county", metric="revenue").aggregate(r=Sum("value"))["r"]
    print(f"saved sessions acknowledged: {len(created)}, stored: {len(stored)}; rankings "
          f"caught up {waited:.1f} s after the load: snapshot counts {snapshot.sessions} "
          f"sessions (database: {db_count}), revenue {ranked_revenue} (database: {db_revenue})")
    if snapshot.sessions != db_count or ranked_revenue != db_revenue:
        return lost + 1
    stale = api_stale_reads(port=port, headers=headers, holiday=holiday,
                            revenue=db_revenue, computed_at=snapshot.computed_at)
    return lost + stale


def api_stale_reads(*, port: int, headers: dict, holiday, revenue: Decimal, computed_at,
                    requests: int = 30) -> int:
    """How many of `requests` API reads (each on a new connection, so spread over the web
    processes) do not show the final snapshot: its time, `ready`, the revenue to the cent."""
    stale = 0
    for _ in range(requests):
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        conn.request("GET", f"/api/v1/rankings/?holiday={holiday.slug}&metric=revenue"
                            "&scope=county", headers=headers)
        body = json.loads(conn.getresponse().read())
        conn.close()
        shown = sum(Decimal(r["value"]) for r in body["results"])
        if (body["status"] != "ready" or shown != revenue
                or datetime.fromisoformat(body["computed_at"]) != computed_at):
            stale += 1
    print(f"API after the load: {requests - stale}/{requests} reads show the final snapshot")
    return stale


if __name__ == "__main__":
    main()
