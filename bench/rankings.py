"""Benchmark: recomputing a holiday's rankings at scale, against a raw-SQL baseline.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/linfen_bench python bench/rankings.py
        [--sessions 1000000] [--officials 10000] [--repeat 3] [--edits 5]

Prints the median time of the full recompute (aggregate + rank + write the entries + carry
previous ranks, in one transaction), the median time of the baseline (the same aggregates
and RANK windows as plain SELECTs, rows fetched, nothing written), `ratio: X` (recompute /
baseline), then the time from saving one session to its new snapshot being visible with a
real Celery worker on Redis (CELERY_BROKER_URL, default redis://127.0.0.1:6379/12).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import ROOT, load_bench_data, setup_django  # noqa: E402

# The same aggregates and RANK windows as the recompute's statement, as a plain SELECT whose
# rows are fetched: no snapshot, no previous ranks, no writes.
BASELINE_SQL = """
WITH base AS (
    SELECT official_id, county_id, COUNT(*) AS sessions, SUM(audience) AS audience,
           SUM(orders) AS orders, SUM(revenue) AS revenue
    FROM sessions_app_livestreamsession
    WHERE started_at >= %(start)s AND started_at < %(end)s
    GROUP BY official_id, county_id
), subjects AS (
    SELECT 'official' AS scope, official_id AS subject_id, SUM(sessions) AS sessions,
           SUM(audience) AS audience, SUM(orders) AS orders, ROUND(SUM(revenue), 2) AS revenue
    FROM base GROUP BY official_id
    UNION ALL
    SELECT 'county', c.id, COALESCE(SUM(b.sessions), 0), COALESCE(SUM(b.audience), 0),
           COALESCE(SUM(b.orders), 0), COALESCE(ROUND(SUM(b.revenue), 2), 0)
    FROM sessions_app_county c LEFT JOIN base b ON b.county_id = c.id GROUP BY c.id
), m AS (
    SELECT scope, subject_id, sessions, 'audience' AS metric, audience AS value FROM subjects
    UNION ALL SELECT scope, subject_id, sessions, 'orders', orders FROM subjects
    UNION ALL SELECT scope, subject_id, sessions, 'revenue', revenue FROM subjects
)
SELECT scope, metric, subject_id, value, sessions,
       RANK() OVER (PARTITION BY scope, metric ORDER BY value DESC)
FROM m
"""


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return times


def baseline(holiday) -> None:
    from django.db import connection

    start, end = holiday.bounds
    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL, {"start": start, "end": end})
        cursor.fetchall()


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


def edit_to_visible(holiday, edits: int) -> list[float]:
    from rankings.models import RankingSnapshot
    from sessions_app.models import Holiday, LivestreamSession
    from sessions_app.services import session_update

    session = LivestreamSession.objects.in_holiday(holiday).order_by("id").first()
    latencies = []
    for _ in range(edits):
        began = time.perf_counter()
        session_update(session=session, updated_by=None,
                       data={"revenue": session.revenue + Decimal("1.00")},
                       expected_version=session.version)
        wanted = Holiday.objects.get(pk=holiday.pk).data_version
        while True:
            latest = RankingSnapshot.objects.latest_for(holiday.pk)
            if latest and latest.data_version >= wanted:
                break
            if time.perf_counter() - began > 60:
                raise SystemExit("the edit did not reach the rankings within 60 s")
            time.sleep(0.005)
        latencies.append(time.perf_counter() - began)
        time.sleep(0.5)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--officials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()

    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/12")
    os.environ["CELERY_BROKER_URL"] = broker  # this process sends, the worker recomputes
    setup_django()
    from rankings.services import holiday_rankings_recompute

    holiday = load_bench_data(sessions=args.sessions, officials=args.officials)
    baseline(holiday)  # warm the cache for both measurements alike
    base = timed(lambda: baseline(holiday), args.repeat)
    full = timed(lambda: holiday_rankings_recompute(holiday_id=holiday.pk), args.repeat)
    b, f = statistics.median(base), statistics.median(full)
    print(f"sessions: {args.sessions:,}  officials: {args.officials:,}")
    print(f"baseline (raw SQL aggregates + RANK, no writes): median {b * 1000:.0f} ms "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in base)})")
    print(f"full recompute (compute + write snapshot): median {f * 1000:.0f} ms "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in full)})")
    print(f"ratio: {f / b:.2f}")

    if args.edits:
        worker = start_worker(broker)
        try:
            lat = edit_to_visible(holiday, args.edits)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        print(f"edit -> visible in rankings (worker on {broker}): median "
              f"{statistics.median(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
              f"(runs: {', '.join(f'{t * 1000:.0f}' for t in lat)})")


if __name__ == "__main__":
    main()
