"""Benchmark: recomputing a holiday's rankings at scale, against a raw-SQL baseline.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/linfen_bench python bench/rankings.py
        [--sessions 1000000] [--officials 10000] [--in-holiday N] [--repeat 5] [--edits 20]
        [--broker-down-saves 3] [--timeout 300]

Every registered metric (rankings/metrics.py) is ranked; 20% of the sessions have a
co-host and each has three item lines (bench/data.py).

Times, in interleaved rounds, the full recompute (aggregate + rank + write the entries +
carry previous ranks, in one transaction) and the baseline (the same aggregates and RANK
windows computed in the server under the recompute's settings and reduced there to one row:
nothing written, nothing fetched); prints both medians and `ratio: X` (recompute /
baseline). Then, with a real Celery worker on Redis (CELERY_BROKER_URL, default
redis://127.0.0.1:6379/12), the time from saving one session to its new snapshot being
visible, `edit p95: <ms>` (nearest rank), how long the worker's recomputes took and the
saves themselves; last, how long a save takes while the broker is down (refusing
connections, or accepting them and never answering). A recompute that takes longer than
--timeout seconds, here or in the worker, stops the run with exit status 1 (its query is
cancelled).
"""

import argparse
import contextlib
import logging
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import ROOT, load_bench_data, setup_django  # noqa: E402

# The same aggregates and RANK windows as the recompute's statements, written by hand for
# every registered metric (sums, a maximum, three ratios of sums; co-hosts credited on the
# officials' boards, counties counting each session once), computed in the server: the
# partial aggregates into a temporary table, then the boards ranked and reduced there to one
# row (the ranks are summed, so the windows must be computed). No snapshot, no previous
# ranks, no entries written, and no rows carried to Python, which the recompute never does
# either.
BASELINE_BASE_SQL = """
CREATE TEMPORARY TABLE bench_baseline_base AS
SELECT s.official_id, s.county_id, 1 AS is_lead, COUNT(*) AS sessions,
       SUM(s.audience) AS audience, SUM(s.orders) AS orders, SUM(s.revenue) AS revenue,
       SUM(s.revenue - s.refunds) AS net_revenue, SUM(s.unique_viewers) AS unique_viewers,
       MAX(s.peak_viewers) AS peak_viewers, SUM(s.new_followers) AS new_followers
FROM sessions_app_livestreamsession s
WHERE s.started_at >= %(start)s AND s.started_at < %(end)s
  AND s.status IN ('entered', 'verified')
GROUP BY s.official_id, s.county_id
UNION ALL
SELECT h.official_id, s.county_id, 0, COUNT(*), SUM(s.audience), SUM(s.orders),
       SUM(s.revenue), SUM(s.revenue - s.refunds), SUM(s.unique_viewers),
       MAX(s.peak_viewers), SUM(s.new_followers)
FROM sessions_app_livestreamsession s
JOIN sessions_app_livestreamsession_hosts h ON h.livestreamsession_id = s.id
WHERE s.started_at >= %(start)s AND s.started_at < %(end)s
  AND s.status IN ('entered', 'verified')
GROUP BY h.official_id, s.county_id
"""
BASELINE_SQL = """
SELECT COUNT(*), SUM(rank) FROM ({ranked}) ranked
"""
# The other fair baseline: the same ranked rows written into a temporary table (what the
# recompute writes, without the previous ranks, the entries' index and WAL).
BASELINE_WRITTEN_SQL = """
CREATE TEMPORARY TABLE bench_baseline_ranked AS {ranked}
"""
BASELINE_RANKED_SQL = """
WITH subjects AS (
    SELECT 'official' AS scope, official_id AS subject_id, SUM(sessions) AS sessions,
           SUM(audience) AS audience, SUM(orders) AS orders, ROUND(SUM(revenue), 2) AS revenue,
           ROUND(SUM(net_revenue), 2) AS net_revenue, SUM(unique_viewers) AS unique_viewers,
           MAX(peak_viewers) AS peak_viewers, SUM(new_followers) AS new_followers
    FROM bench_baseline_base GROUP BY official_id
    UNION ALL
    SELECT 'county', c.id, COALESCE(SUM(b.sessions), 0), COALESCE(SUM(b.audience), 0),
           COALESCE(SUM(b.orders), 0), COALESCE(ROUND(SUM(b.revenue), 2), 0),
           COALESCE(ROUND(SUM(b.net_revenue), 2), 0), SUM(b.unique_viewers),
           MAX(b.peak_viewers), SUM(b.new_followers)
    FROM sessions_app_county c
    LEFT JOIN bench_baseline_base b ON b.county_id = c.id AND b.is_lead = 1
    GROUP BY c.id
), valued AS (
    SELECT subjects.*,
           ROUND(revenue / NULLIF(orders, 0), 2) AS aov,
           ROUND(revenue * 1000.0 / NULLIF(audience, 0), 2) AS gpm,
           ROUND(orders * 100.0 / NULLIF(audience, 0), 2) AS conversion
    FROM subjects
), m AS (
    SELECT scope, subject_id, sessions, 'audience' AS metric, audience AS value FROM valued
    UNION ALL SELECT scope, subject_id, sessions, 'orders', orders FROM valued
    UNION ALL SELECT scope, subject_id, sessions, 'revenue', revenue FROM valued
    UNION ALL SELECT scope, subject_id, sessions, 'net_revenue', net_revenue FROM valued
    UNION ALL SELECT scope, subject_id, sessions, 'unique_viewers', unique_viewers FROM valued
    UNION ALL SELECT scope, subject_id, sessions, 'peak_viewers', peak_viewers FROM valued
    UNION ALL SELECT scope, subject_id, sessions, 'new_followers', new_followers FROM valued
    UNION ALL SELECT scope, subject_id, sessions, 'aov', aov FROM valued
    UNION ALL SELECT scope, subject_id, sessions, 'gpm', gpm FROM valued
    UNION ALL SELECT scope, subject_id, sessions, 'conversion', conversion FROM valued
)
SELECT scope, metric, subject_id, value, sessions,
       RANK() OVER (PARTITION BY scope, metric ORDER BY value DESC NULLS LAST) AS rank
FROM m
"""
# The recompute's boards, to check the baseline covers exactly as many.
BASELINE_METRICS = 10


def interleaved(fns: dict, rounds: int) -> dict[str, list[float]]:
    """Run each of `fns` once per round, alternating which goes first, so that a busy
    moment of the machine weighs on both alike. Returns the seconds of each run by name."""
    times = {name: [] for name in fns}
    order = list(fns)
    for _ in range(rounds):
        for name in order:
            began = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - began)
        order.reverse()
    return times


def p95(values: list[float]) -> float:
    """The nearest-rank 95th percentile (of 20 values, the 19th smallest)."""
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)


def baseline(holiday, *, written: bool = False) -> None:
    """The baseline under the recompute's own settings (work_mem, no JIT, join methods), so
    that neither side spills to disk where the other does not. `written`: the ranked rows
    go into a temporary table instead of being reduced to one row."""
    from django.db import connection, transaction

    from rankings.services import _POSTGRESQL_TUNING

    start, end = holiday.bounds
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _POSTGRESQL_TUNING:
            cursor.execute(statement)
        cursor.execute("DROP TABLE IF EXISTS bench_baseline_base")
        cursor.execute(BASELINE_BASE_SQL, {"start": start, "end": end})
        if written:
            cursor.execute(BASELINE_WRITTEN_SQL.format(ranked=BASELINE_RANKED_SQL))
            cursor.execute("DROP TABLE bench_baseline_ranked")
        else:
            cursor.execute(BASELINE_SQL.format(ranked=BASELINE_RANKED_SQL))
            cursor.fetchone()
        cursor.execute("DROP TABLE bench_baseline_base")


def start_worker(broker: str) -> subprocess.Popen:
    env = {**os.environ, "CELERY_BROKER_URL": broker}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "linfen_tracker", "worker", "-l", "warning",
         "--concurrency", "2", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    from linfen_tracker.celery_app import app

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return worker
    worker.kill()
    raise SystemExit("the Celery worker did not answer within 30 s")


class EditNotVisible(Exception):
    pass


def edit_to_visible(holiday, edits: int, timeout: float):
    """Save `edits` edits of one session, one at a time, each waiting for a snapshot that
    covers it. Returns the seconds from save to visible, the worker's recompute times (ms)
    as its snapshots record them, and the seconds of the saves themselves."""
    from rankings.models import RankingSnapshot
    from sessions_app.models import Holiday, LivestreamSession
    from sessions_app.services import session_update

    session = LivestreamSession.objects.in_holiday(holiday).order_by("id").first()
    latencies, durations, saves = [], [], []
    for _ in range(edits):
        began = time.perf_counter()
        session = session_update(session=session, updated_by=None,
                                 data={"revenue": session.revenue + Decimal("1.00")},
                                 expected_version=session.version)
        saves.append(time.perf_counter() - began)
        wanted = Holiday.objects.get(pk=holiday.pk).data_version
        while True:
            latest = RankingSnapshot.objects.latest_for(holiday.pk)
            if latest and latest.data_version >= wanted:
                break
            if time.perf_counter() - began > timeout:
                raise EditNotVisible(
                    f"edit {len(latencies) + 1} did not reach the rankings within {timeout:.0f} s"
                )
            time.sleep(0.005)
        latencies.append(time.perf_counter() - began)
        durations.append(latest.duration_ms)
        time.sleep(0.5)
    return latencies, durations, saves


def worker_stop(worker: subprocess.Popen) -> None:
    """Stop the worker; if a recompute keeps it busy, kill it and cancel its query, which
    would otherwise run on in PostgreSQL."""
    from django.db import connection

    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    with connection.cursor() as cursor:  # only the benchmark uses its database
        cursor.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND state = 'active'"
        )


@contextlib.contextmanager
def broker_at(url: str):
    """Send this process's tasks to `url` inside the block. Celery reads CELERY_BROKER_URL
    before its configuration and caches connection pools, so all three are switched."""
    from linfen_tracker.celery_app import app

    def drop_pools():
        app._pool = None
        app.amqp._producer_pool = None

    saved = os.environ["CELERY_BROKER_URL"], app.conf.broker_url
    os.environ["CELERY_BROKER_URL"] = app.conf.broker_url = url
    drop_pools()
    try:
        yield
    finally:
        os.environ["CELERY_BROKER_URL"], app.conf.broker_url = saved
        drop_pools()


@contextlib.contextmanager
def silent_broker():
    """A TCP port that accepts connections and never answers: a broker that hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def saves_with_broker_down(holiday, saves: int) -> dict[str, list[float]]:
    """Seconds per session save while the broker refuses connections, and while it accepts
    them and never answers. The saves succeed either way; the holiday stays stale until a
    recompute (the next run's first one)."""
    from sessions_app.models import LivestreamSession
    from sessions_app.services import session_update

    session = LivestreamSession.objects.in_holiday(holiday).order_by("id").first()
    times = {}
    # The service logs each failed send with its traceback: expected here, and not output.
    logging.getLogger("sessions_app.services").setLevel(logging.CRITICAL)
    with silent_broker() as hanging:
        for kind, url in (("refused", "redis://127.0.0.1:1/0"), ("no answer", hanging)):
            times[kind] = []
            with broker_at(url):
                for _ in range(saves):
                    began = time.perf_counter()
                    session = session_update(
                        session=session, updated_by=None,
                        data={"revenue": session.revenue + Decimal("1.00")},
                        expected_version=session.version,
                    )
                    times[kind].append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--officials", type=int, default=10_000)
    parser.add_argument("--in-holiday", type=int, default=None, metavar="N",
                        help="how many of the sessions fall inside the holiday (default: 40%%)")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--broker-down-saves", type=int, default=3, metavar="N")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="the longest a recompute may take, in this process or the worker")
    args = parser.parse_args()

    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/12")
    os.environ["CELERY_BROKER_URL"] = broker  # this process sends, the worker recomputes
    setup_django()
    from django.db import OperationalError, connection

    from rankings.services import holiday_rankings_recompute

    holiday = load_bench_data(sessions=args.sessions, officials=args.officials,
                              in_holiday=args.in_holiday)
    from rankings.metrics import metric_keys

    if len(metric_keys()) != BASELINE_METRICS:
        raise SystemExit(f"the baseline covers {BASELINE_METRICS} metrics, the registry has "
                         f"{len(metric_keys())}: update BASELINE_SQL")
    with connection.cursor() as cursor:  # a recompute that hangs fails the run instead
        cursor.execute("SET statement_timeout = %s", [f"{args.timeout:.0f}s"])
    baseline(holiday)  # warm the cache for both measurements alike
    try:
        runs = interleaved({
            "baseline": lambda: baseline(holiday),
            "written": lambda: baseline(holiday, written=True),
            "recompute": lambda: holiday_rankings_recompute(holiday_id=holiday.pk),
        }, args.repeat)
    except OperationalError as error:
        raise SystemExit(f"a run took over {args.timeout:.0f} s: {error}") from None
    b, f = statistics.median(runs["baseline"]), statistics.median(runs["recompute"])
    w = statistics.median(runs["written"])
    per_round = [r / b_ for r, b_ in zip(runs["recompute"], runs["baseline"], strict=True)]
    per_round_w = [r / b_ for r, b_ in zip(runs["recompute"], runs["written"], strict=True)]
    from sessions_app.models import LivestreamSession

    inside = LivestreamSession.objects.in_holiday(holiday)
    print(f"sessions: {args.sessions:,} ({inside.count():,} in the holiday, "
          f"{inside.filter(hosts__isnull=False).distinct().count():,} of them co-hosted)  "
          f"officials: {args.officials:,}  metrics: {', '.join(metric_keys())}")
    print(f"baseline (aggregates + RANK in the server, nothing written): "
          f"median {b * 1000:.0f} ms (runs: {ms(runs['baseline'])})")
    print(f"baseline (the same, ranked rows written into a temporary table): "
          f"median {w * 1000:.0f} ms (runs: {ms(runs['written'])})")
    print(f"full recompute (compute + write snapshot): median {f * 1000:.0f} ms "
          f"(runs: {ms(runs['recompute'])})")
    print(f"ratio to the baseline written, per round: "
          f"{', '.join(f'{r:.2f}' for r in per_round_w)}")
    print(f"ratio to the baseline reduced to one row, per round: "
          f"{', '.join(f'{r:.2f}' for r in per_round)}")
    print(f"ratio (to the baseline reduced to one row): {f / b:.2f}")
    print(f"ratio: {f / w:.2f}")

    if args.edits:
        worker = start_worker(broker)
        try:
            lat, durations, saves = edit_to_visible(holiday, args.edits, args.timeout)
        except EditNotVisible as stuck:
            raise SystemExit(f"{stuck} (worker on {broker})") from None
        finally:  # whatever failed, no worker is left running
            worker_stop(worker)
        print(f"edit -> visible in rankings (worker on {broker}, {args.edits} edits): median "
              f"{statistics.median(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
              f"(runs: {ms(lat)})")
        print(f"worker's recomputes: median {statistics.median(durations):.0f} ms, "
              f"max {max(durations)} ms")
        print(f"save, broker up: median {statistics.median(saves) * 1000:.0f} ms, "
              f"max {max(saves) * 1000:.0f} ms")
        print(f"edit p95: {p95(lat) * 1000:.0f}")

    if args.broker_down_saves:
        for kind, times in saves_with_broker_down(holiday, args.broker_down_saves).items():
            print(f"save, broker down ({kind}): median {statistics.median(times) * 1000:.0f} "
                  f"ms, max {max(times) * 1000:.0f} ms (runs: {ms(times)})")


if __name__ == "__main__":
    main()
