"""Benchmark: the API's rankings and summary under load, against a trivial JSON view.

    python bench/api.py [--sessions 1000000] [--officials 10000] [--requests 10000]
        [--rounds 5] [--concurrency 4] [--workers 2] [--max-seconds 30]

Loads the rankings benchmark data (bench/data.py) into PostgreSQL (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/linfen_bench_api), serves the app with gunicorn on
127.0.0.1, and drives it with a bounded load generator (threads, one http.client connection
each, a fixed number of requests per target, stopped early after --max-seconds):

- baseline: `/healthz`, a trivial JSON view of the same server (middleware, one SELECT 1);
- api-ping: `/bench/api-ping/`, a trivial JSON view behind the API's token authentication and
  permission check, served only by the benchmark (it separates what any authenticated API
  request costs from what the rankings cost);
- rankings: `/api/v1/rankings/?holiday=...&metric=revenue&scope=official&limit=50` with a
  token (authentication, permission check, latest snapshot, 50 entries);
- summary: `/api/v1/holidays/<slug>/summary/` (aggregates over the holiday's sessions).

The targets take turns, --rounds times (each round sends a share of --requests to each),
so that a machine slowing down or speeding up during the run weighs on all of them alike.
Prints requests/s and p50/p95 latency for each over all rounds, the lowest and highest
per-round ratio, then `ratio: X` (rankings requests/s over the baseline's) and the ratio
over api-ping. The server runs as deployed (docker-compose.yml): Redis as the shared cache
(REDIS_URL, default redis://127.0.0.1:6379/3). Target: ratio >= 0.5 and rankings p95 < 50 ms
at 1,000,000 sessions. Every request goes to 127.0.0.1 only.
"""

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import ROOT, load_bench_data, setup_django  # noqa: E402

HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/linfen_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
BENCH_USERNAME = "bench-api-reader"


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


def _bench_application():
    import django
    from django.core.handlers.wsgi import WSGIHandler

    django.setup(set_prefix=False)

    class BenchHandler(WSGIHandler):
        def get_response(self, request):
            request.urlconf = __name__  # this module's urlpatterns: the project's + api-ping
            return super().get_response(request)

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


def bench_token() -> str:
    """A read-only (officials group) user's token, as a REST client would hold."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from linfen_tracker.authentication import api_token_issue

    user, _ = get_user_model().objects.get_or_create(username=BENCH_USERNAME)
    user.groups.add(Group.objects.get(name="officials"))
    return api_token_issue(user=user).key  # a new one if the stored one has expired


def start_server(*, port: int, workers: int) -> subprocess.Popen:
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
    }
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


def load(*, name: str, port: int, path: str, headers: dict, requests: int, concurrency: int,
         max_seconds: float) -> Result:
    """Send `requests` GETs from `concurrency` threads (fewer if max_seconds runs out)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    remaining = [requests]
    stop_at = time.monotonic() + max_seconds

    def worker() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        mine, failed = [], 0
        while time.monotonic() < stop_at:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            began = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    failed += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
            mine.append(time.perf_counter() - began)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(name, len(latencies), errors[0], time.perf_counter() - began, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--officials", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=10000, help="per target")
    parser.add_argument("--summary-requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="turns of all targets")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--max-seconds", type=float, default=30, help="per target")
    args = parser.parse_args()

    setup_django(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    holiday = load_bench_data(sessions=args.sessions, officials=args.officials)
    token = bench_token()
    # The server must use the same database as the data just loaded.
    port = free_port()
    server = start_server(port=port, workers=args.workers)
    auth = {"Authorization": f"Token {token}", "Accept-Language": "en"}
    targets = [
        ("baseline", "/healthz", {}, args.requests),
        ("api-ping", "/bench/api-ping/", auth, args.requests),
        ("rankings", f"/api/v1/rankings/?holiday={holiday.slug}&metric=revenue"
                     "&scope=official&limit=50", auth, args.requests),
        ("summary", f"/api/v1/holidays/{holiday.slug}/summary/", auth, args.summary_requests),
    ]
    rounds: dict[str, list[Result]] = {name: [] for name, *_ in targets}
    try:
        for name, path, headers, _requests in targets:
            # Warm-up: every worker has its database connection and caches before timing.
            load(name=name, port=port, path=path, headers=headers,
                 requests=max(20, args.workers * 10), concurrency=args.concurrency,
                 max_seconds=args.max_seconds)
        for _round in range(args.rounds):
            for name, path, headers, requests in targets:
                rounds[name].append(load(
                    name=name, port=port, path=path, headers=headers,
                    requests=max(1, requests // args.rounds), concurrency=args.concurrency,
                    max_seconds=args.max_seconds / args.rounds,
                ))
    finally:
        server.terminate()
        server.wait(timeout=30)
    results = {name: Result.combine(parts) for name, parts in rounds.items()}
    per_round = [r.rps / b.rps for r, b in zip(rounds["rankings"], rounds["baseline"],
                                              strict=True)]

    print(f"sessions: {args.sessions:,}  officials: {args.officials:,}  gunicorn workers: "
          f"{args.workers}  concurrency: {args.concurrency}  cpus: {os.cpu_count()}")
    for result in results.values():
        print(result.line())
    ratio = results["rankings"].rps / results["baseline"].rps
    p95 = results["rankings"].percentile(95) * 1000
    print(f"rankings p95: {p95:.1f} ms (target < 50 ms)")
    print(f"ratio per round: {min(per_round):.2f} to {max(per_round):.2f} "
          f"({args.rounds} rounds)")
    print(f"ratio over api-ping: {results['rankings'].rps / results['api-ping'].rps:.2f}")
    print(f"ratio: {ratio:.2f}")
    if any(r.errors for r in results.values()):
        raise SystemExit("some requests failed")


if __name__ == "__main__":
    main()
