"""Benchmark: the API's rankings, the dashboard and the big screen under load, against
`/healthz` on the same server, measured with wrk.

    make bench-deps   # Debian's wrk
    python bench/api.py [--sessions 1000000] [--officials 10000] [--seconds 3] [--rounds 6]
        [--connections 4] [--workers 2] [--write-every 50]

Loads the rankings benchmark data (bench/data.py) into PostgreSQL (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/linfen_bench_api) and serves the app with gunicorn (sync
workers) on 127.0.0.1 as deployed: Redis as the shared cache (REDIS_URL, default
redis://127.0.0.1:6379/3) and a broker (BENCH_BROKER_URL, default redis://127.0.0.1:6379/4;
no Celery worker runs: the queued recomputes are dropped at the end, and the boards read
stay those of the last snapshot, "pending"). The load generator is wrk (C, one event loop
per thread, scripted in Lua: bench/wrk/), which costs a fraction of a CPU where Python
client threads cost more than the server; `--connections` connections, each its own wrk
thread. What wrk itself used is printed per target.

Targets (each `--seconds` long, taking turns for `--rounds` rounds, so that a machine
slowing down weighs on all alike):

- `healthz`, the baseline: `/healthz` of the same server (its middleware, one `SELECT 1`,
  and the broker check, which each process makes at most once a second and repeats in
  between: linfen_tracker/views.py). Two more servers, idle while the others run, give
  `healthz-nobroker` (CELERY_BROKER_URL unset: no broker check at all) and
  `healthz-ping-every` (HEALTHZ_BROKER_CHECK_SECONDS=0: a broker connection per request,
  as before), to show what the baseline does;
- `api-ping`: a trivial JSON view behind the API's token authentication, permission check
  and throttle, served only by the benchmark;
- `rankings`: `/api/v1/rankings/?holiday=...&metric=revenue&scope=official&limit=50` with a
  token: every request after the first per process is a cache hit;
- `summary`: `/api/v1/holidays/<slug>/summary/`;
- `dashboard`: the holiday's dashboard page, logged in (session cookie);
- `screen-state`: what the big screen polls, `/holidays/<slug>/screen/state/`, logged in;
- `mixed`: the rankings URL, and every `--write-every`-th request of a connection a POST of
  a new session to the holiday (city staff token). Each write invalidates the rankings'
  cache in every process, so the next read in each process takes the uncached path; the
  server times each response (X-Bench-Server-Ms), and the reads that missed the cache are
  reported apart. It runs after the read targets, in rounds of its own taking turns with
  `healthz` (its writes would otherwise make the read targets measure rebuilds).

Before timing, each target is checked once with a Python client (status, content); a
status other than the expected one under load fails the run. Prints per target requests/s
and latency (p50, p95: means over the rounds), the ratio over `healthz` (overall; median
and range per round), and the gunicorn workers' CPU time per request with its ratio (what
the server itself spends, which other load on a shared machine disturbs far less than
requests/s); then `cpu ratio: X` and `ratio: X` (rankings over healthz). Target: ratio >=
0.8. Every request goes to 127.0.0.1 only.
"""

import argparse
import http.client
import itertools
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import ROOT, load_bench_data, sessions_raw_delete, setup_django  # noqa: E402

HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/linfen_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/4"
BENCH_USERNAME = "bench-api-reader"
WRITER_USERNAME = "bench-api-writer"
WRITER_PREFIX = "Bench writer "
WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk"


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @classmethod
    def combine(cls, parts: list["Result"]) -> "Result":
        return cls(parts[0].name, sum(p.requests for p in parts), sum(p.errors for p in parts),
                   sum(p.seconds for p in parts), [t for p in parts for t in p.latencies])

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0

    def line(self) -> str:
        return (f"{self.name:<9} {self.rps:8.1f} req/s   p50 {self.percentile(50) * 1000:7.1f} ms"
                f"   p95 {self.percentile(95) * 1000:7.1f} ms   ({self.requests} requests, "
                f"{self.errors} errors, {self.seconds:.1f} s)")


# --- What gunicorn serves: the project plus one benchmark-only route -------------------------
# gunicorn loads `bench.api:application`; both it and `urlpatterns` are built on first access
# (module __getattr__), after Django is configured, so importing this file stays cheap.


def _api_ping_urlpatterns() -> list:
    from django.urls import include, path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from linfen_tracker.authentication import API_AUTHENTICATION
    from linfen_tracker.permissions import CanViewSessions

    class ApiPing(APIView):
        authentication_classes = API_AUTHENTICATION
        permission_classes = [CanViewSessions]

        def get(self, request):
            return Response({"ok": True})

    return [path("bench/api-ping/", ApiPing.as_view()), path("", include("linfen_tracker.urls"))]


_timing = threading.local()


def _bench_application():
    import django
    from django.core.handlers.wsgi import WSGIHandler

    django.setup(set_prefix=False)
    from rankings import api as rankings_api

    # Marks the requests whose rankings payload was built, not read from the cache.
    build = rankings_api.leaderboard_data

    def leaderboard_data_counted(board):
        _timing.missed = True
        return build(board)

    rankings_api.leaderboard_data = leaderboard_data_counted

    class BenchHandler(WSGIHandler):
        def get_response(self, request):
            request.urlconf = __name__  # this module's urlpatterns: the project's + api-ping
            _timing.missed = False
            began = time.perf_counter()
            response = super().get_response(request)
            response["X-Bench-Server-Ms"] = f"{(time.perf_counter() - began) * 1000:.3f}"
            response["X-Bench-Cache"] = "miss" if _timing.missed else "hit"
            response["X-Bench-Method"] = request.method
            return response

    return BenchHandler()


def __getattr__(name: str):
    if name == "urlpatterns":
        globals()["urlpatterns"] = _api_ping_urlpatterns()
        return globals()["urlpatterns"]
    if name == "application":
        globals()["application"] = _bench_application()
        return globals()["application"]
    raise AttributeError(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _user(username: str, group: str):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, _ = get_user_model().objects.get_or_create(username=username)
    user.groups.add(Group.objects.get(name=group))
    return user


def bench_token(username: str = BENCH_USERNAME, group: str = "officials") -> str:
    """A user's token, as a REST client would hold (read-only officials by default)."""
    from linfen_tracker.authentication import api_token_issue

    return api_token_issue(user=_user(username, group)).key  # a new one if expired


def bench_session_cookie() -> str:
    """A logged-in browser session of the reading official (as after the login form)."""
    from django.contrib.sessions.backends.db import SessionStore

    user = _user(BENCH_USERNAME, "officials")
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    store["_auth_user_hash"] = user.get_session_auth_hash()
    store.create()
    return f"sessionid={store.session_key}"


def writer_officials(count: int, holiday) -> list[int]:
    """`count` officials the mixed target writes for, without the sessions earlier runs gave
    them; the holiday's rankings recomputed if those writes left them stale."""
    from django.db import connection, transaction

    from rankings.services import holiday_rankings_recompute
    from sessions_app.models import County, Holiday, Official
    from sessions_app.services import official_save, rankings_mark_stale
    from sessions_app.totals import holiday_totals_rebuild

    with transaction.atomic(), connection.cursor() as cursor:
        if sessions_raw_delete(cursor, officials_like=WRITER_PREFIX + "%"):
            # A raw delete: mend the holiday's totals and say its data changed, as writes do.
            holiday_totals_rebuild(holiday=holiday)
            rankings_mark_stale(days=[holiday.start_date])
    county = County.objects.order_by("id").first()
    ids = []
    for n in range(count):
        official = Official.objects.filter(name=f"{WRITER_PREFIX}{n}").first()
        if official is None:
            official = official_save(official=Official(
                name=f"{WRITER_PREFIX}{n}", title="County head", county=county), user=None)
        ids.append(official.pk)
    if Holiday.objects.get(pk=holiday.pk).rankings_stale:
        holiday_rankings_recompute(holiday_id=holiday.pk)
    return ids


def start_server(*, port: int, workers: int, extra_env: dict) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback
        "ALLOWED_HOSTS": HOST,
        # As deployed (docker-compose.yml): the cache is Redis, shared by the workers.
        "REDIS_URL": os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        # The benchmark is the only client: fairness throttling would only cap it.
        "THROTTLE_USER": "100000000/minute",
        "LOG_LEVEL": "WARNING",
        # whitenoise warns of the missing STATIC_ROOT: files are not what is measured.
        "PYTHONWARNINGS": "ignore::UserWarning",
        # Pages refer to static files by name: no collectstatic manifest is needed.
        "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        **extra_env,
    }
    env = {k: v for k, v in env.items() if v is not None}
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "bench.api:application",
         "--bind", f"{HOST}:{port}", "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


@dataclass
class Target:
    name: str
    port: int
    path: str
    headers: dict
    script: str = "get.lua"
    check: str = ""  # text the body must hold
    server: subprocess.Popen | None = None  # whose workers' CPU time is counted
    rounds: list[dict] = field(default_factory=list)

    def rps(self, run: dict) -> float:
        return run["requests"] / (run["duration_us"] / 1e6) if run["duration_us"] else 0.0


def check_target(target: Target) -> None:
    """One request with a Python client: the status and what the body must show."""
    conn = http.client.HTTPConnection(HOST, target.port, timeout=60)
    conn.request("GET", target.path, headers=target.headers)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    if response.status != 200 or target.check not in body:
        raise SystemExit(f"{target.name}: {target.path} answered {response.status}, "
                         f"expected 200 with {target.check!r}: {body[:300]}")


_mixed_runs = itertools.count(0)


def workers_cpu_seconds(server: subprocess.Popen | None) -> float:
    """CPU time (user + system) used so far by the gunicorn workers of `server`."""
    if server is None:
        return 0.0
    total = 0
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    except OSError:
        return 0.0
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(target: Target, *, seconds: float, connections: int, env: dict) -> dict:
    """One wrk run: its summary (common.lua's BENCH line), the CPU wrk used (share of one
    CPU) and the CPU the server's workers used per request (ms): a figure that other load
    on the machine disturbs much less than requests/s."""
    headers = "\n".join(f"{k}: {v}" for k, v in target.headers.items())
    if target.script == "mixed.lua":
        env = {**env, "BENCH_SLOT": str(next(_mixed_runs) * 500)}  # past earlier runs' writes
    workers_before = workers_cpu_seconds(target.server)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    done = subprocess.run(
        ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{seconds}s",
         "--timeout", "30s", "-s", str(WRK_SCRIPTS / target.script),
         f"http://{HOST}:{target.port}{target.path}"],
        capture_output=True, text=True,
        env={**os.environ, **env, "BENCH_HEADERS": headers, "BENCH_LUA_PATH": str(WRK_SCRIPTS)},
    )
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_used = workers_cpu_seconds(target.server) - workers_before
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode or line is None:
        raise SystemExit(f"wrk failed on {target.name}: {done.stdout}\n{done.stderr}")
    run = json.loads(line[len("BENCH "):])
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    run["wrk_cpu"] = used / wall
    run["worker_cpu_ms"] = workers_used * 1000
    return run


def _ms(values: list[float], p: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]:.1f} ms"


def _rps(runs: list[dict]) -> float:
    seconds = sum(r["duration_us"] for r in runs) / 1e6
    return sum(r["requests"] for r in runs) / seconds if seconds else 0.0


def _cpu_per_request(runs: list[dict]) -> float:
    requests = sum(r["requests"] for r in runs)
    return sum(r["worker_cpu_ms"] for r in runs) / requests if requests else float("nan")


def report_table(targets: list[Target], base: Target) -> None:
    """Requests/s and latency of each target, and both over the baseline's in the same
    rounds: requests/s (overall; median and range per round) and the workers' CPU time per
    request (baseline's over the target's)."""
    print(f"{'target':<19} {'req/s':>8} {'p50':>9} {'p95':>9} {'vs base':>8} "
          f"{'per round: median (range)':>26} {'CPU/req':>9} {'vs base':>8} {'wrk CPU':>8}")
    base_cpu = _cpu_per_request(base.rounds)
    for target in targets:
        rps = _rps(target.rounds)
        per_round = [target.rps(r) / (base.rps(b) or float("nan"))
                     for r, b in zip(target.rounds, base.rounds, strict=True)]
        p50 = statistics.mean(r["p50_us"] for r in target.rounds) / 1000
        p95 = statistics.mean(r["p95_us"] for r in target.rounds) / 1000
        cpu = _cpu_per_request(target.rounds)
        wrk = statistics.mean(r["wrk_cpu"] for r in target.rounds)
        print(f"{target.name:<19} {rps:8.1f} {p50:7.2f}ms {p95:7.2f}ms "
              f"{rps / _rps(base.rounds):7.2f}x {statistics.median(per_round):11.2f} "
              f"({min(per_round):.2f} to {max(per_round):.2f}) {cpu:7.2f}ms "
              f"{base_cpu / cpu:7.2f}x {wrk * 100:7.0f}%")


def report(targets: dict[str, Target], mixed: list[Target], args) -> int:
    print(f"sessions: {args.sessions:,}  officials: {args.officials:,}  gunicorn: {args.workers} "
          f"sync workers  wrk: {args.connections} connections  {args.rounds} rounds x "
          f"{args.seconds} s  cpus: {os.cpu_count()}  load average before: {args.load_before}")
    base = targets["healthz"]
    print("Reads (no writes meanwhile), against healthz:")
    report_table(list(targets.values()), base)
    if mixed:
        print(f"Writes among reads (one per {args.write_every} requests), against healthz "
              "in the same rounds:")
        report_table(mixed, mixed[0])
        mixed_report(mixed[1])
    bad = {t.name: sum(r["non_2xx"] + r["unexpected"] + r["connect_errors"] + r["read_errors"]
                       + r["timeouts"] for r in t.rounds)
           for t in [*targets.values(), *mixed]}
    odd = " ".join(r["unexpected_statuses"] for t in mixed for r in t.rounds
                   if r["unexpected_statuses"])
    print(f"failed or unexpected responses: {sum(bad.values())} "
          f"{({k: v for k, v in bad.items() if v}, odd) if any(bad.values()) else ''}")
    ranking = targets.get("rankings", base)
    per_round = [ranking.rps(r) / (base.rps(b) or float("nan"))
                 for r, b in zip(ranking.rounds, base.rounds, strict=True)]
    print(f"ratio per round (median): {statistics.median(per_round):.2f}")
    print(f"cpu ratio: {_cpu_per_request(base.rounds) / _cpu_per_request(ranking.rounds):.2f}")
    print(f"ratio: {_rps(ranking.rounds) / _rps(base.rounds):.2f}")
    return sum(bad.values())


def mixed_report(mixed: Target) -> None:
    reads = [ms for r in mixed.rounds for ms in r["server_ms"]["read"]]
    misses = [ms for r in mixed.rounds for ms in r["server_ms"]["miss"]]
    writes = [ms for r in mixed.rounds for ms in r["server_ms"]["write"]]
    print(f"mixed, server time (X-Bench-Server-Ms; wrk samples most responses): "
          f"{len(writes)} writes p50 {_ms(writes, 50)} p95 {_ms(writes, 95)}; "
          f"{len(misses)} reads after a write (uncached) p50 {_ms(misses, 50)} "
          f"p95 {_ms(misses, 95)}; {len(reads)} cached reads p50 {_ms(reads, 50)} "
          f"p95 {_ms(reads, 95)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--officials", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=3, help="per target and round")
    parser.add_argument("--rounds", type=int, default=6, help="turns of all targets")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--write-every", type=int, default=50,
                        help="mixed: one write per this many requests")
    parser.add_argument("--only", default="", help="comma-separated targets (and healthz)")
    parser.add_argument("--raw", default="", help="write every run's wrk summary to this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make bench-deps` (Debian's wrk package)")

    setup_django(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    holiday = load_bench_data(sessions=args.sessions, officials=args.officials)
    from sessions_app.models import Holiday

    holiday_start = int(Holiday.objects.get(pk=holiday.pk).bounds[0].timestamp())
    token, cookie = bench_token(), bench_session_cookie()
    writer_token = bench_token(WRITER_USERNAME, "city_staff")
    officials = writer_officials(args.connections, holiday)
    broker = os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER_URL)

    def drop_queued_tasks() -> None:  # no worker runs: the writes' recomputes just queue
        subprocess.run(["redis-cli", "-u", broker, "del", "celery", "unacked",
                        "unacked_index"], check=False, stdout=subprocess.DEVNULL)

    drop_queued_tasks()
    ports = {"main": free_port(), "nobroker": free_port(), "ping-every": free_port()}
    servers = [
        start_server(port=ports["main"], workers=args.workers,
                     extra_env={"CELERY_BROKER_URL": broker}),
        start_server(port=ports["nobroker"], workers=args.workers,
                     extra_env={"CELERY_BROKER_URL": None}),
        start_server(port=ports["ping-every"], workers=args.workers,
                     extra_env={"CELERY_BROKER_URL": broker,
                                "HEALTHZ_BROKER_CHECK_SECONDS": "0"}),
    ]
    auth = {"Authorization": f"Token {token}", "Accept-Language": "en"}
    browser = {"Cookie": cookie, "Accept-Language": "en"}
    rankings = (f"/api/v1/rankings/?holiday={holiday.slug}&metric=revenue&scope=official"
                "&limit=50")
    main_port = ports["main"]
    targets = {t.name: t for t in [
        Target("healthz", main_port, "/healthz", {}, check='"broker": "ok"'),
        Target("healthz-nobroker", ports["nobroker"], "/healthz", {}, check='"eager"'),
        Target("healthz-ping-every", ports["ping-every"], "/healthz", {}, check='"ok"'),
        Target("api-ping", main_port, "/bench/api-ping/", auth, check='"ok"'),
        Target("rankings", main_port, rankings, auth, check='"rank":50'),
        Target("summary", main_port, f"/api/v1/holidays/{holiday.slug}/summary/", auth,
               check='"by_county"'),
        Target("dashboard", main_port, f"/holidays/{holiday.slug}/", browser,
               check=holiday.name),
        Target("screen-state", main_port, f"/holidays/{holiday.slug}/screen/state/", browser,
               check='"snapshot"'),
        Target("mixed", main_port, rankings, auth, script="mixed.lua", check='"rank":50'),
    ]}
    if args.only:
        wanted = {"healthz", *args.only.split(",")}
        targets = {k: v for k, v in targets.items() if k in wanted}
    for target in targets.values():
        target.server = servers[list(ports.values()).index(target.port)]
    # The mixed target runs after the reads, in rounds of its own with the baseline: its
    # writes would otherwise make the read targets measure rebuilds after writes.
    mixed = []
    if "mixed" in targets:
        mixed = [Target("healthz", main_port, "/healthz", {}, server=servers[0]),
                 targets.pop("mixed")]
    mixed_env = {"BENCH_WRITE_EVERY": str(args.write_every), "BENCH_START": str(holiday_start),
                 "BENCH_WRITE_AUTH": f"Token {writer_token}",
                 "BENCH_OFFICIALS": ",".join(map(str, officials))}
    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        for target in [*targets.values(), *mixed]:
            check_target(target)
            if target.script != "mixed.lua":  # warm-up: connections and caches in place
                run_wrk(target, seconds=1, connections=args.connections, env=mixed_env)
        for phase in (list(targets.values()), mixed):
            for _round in range(args.rounds if phase else 0):
                for target in phase:
                    target.rounds.append(run_wrk(target, seconds=args.seconds,
                                                 connections=args.connections, env=mixed_env))
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        drop_queued_tasks()
    if args.raw:
        Path(args.raw).write_text(json.dumps({
            "reads": {k: t.rounds for k, t in targets.items()},
            "mixed": {t.name: t.rounds for t in mixed}}))
    failures = report(targets, mixed, args)
    if failures:
        raise SystemExit("some requests failed")


if __name__ == "__main__":
    main()
