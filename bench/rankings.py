"""Benchmark: live rankings kept incrementally, and the from-scratch recompute, at scale.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/linfen_bench python bench/rankings.py
        [--sessions 1000000] [--in-holiday N] [--officials 10000] [--repeat 5]
        [--edits 20] [--burst 1000] [--burst-writers 20] [--broker-down-saves 3]
        [--timeout 300]

0. VACUUM ANALYZE of the tables earlier runs wrote (as autovacuum would have done: this
   machine's PostgreSQL runs without it).
1. The from-scratch recompute (aggregate + rank + write a snapshot in one transaction,
   then prune old ones), timed in interleaved rounds against the baseline: the same aggregates
   (every metric of the registry, the holiday's ranking basis) and RANK windows computed in
   the server and reduced there to one row (nothing written, nothing fetched). Prints both
   medians and `ratio: X` (recompute / baseline). The reconciliation (the same aggregation
   compared with the kept totals) is timed alongside.
2. The holiday's anomaly flags are refreshed once (as the first snapshot task would), so
   that the edits start from production's steady state. Then, with a real Celery worker on
   Redis (CELERY_BROKER_URL, default redis://127.0.0.1:6379/12)
   making the debounced snapshots: the time from starting an edit of the leading official's
   session (through the service) to the new value in the rankings API
   (`/api/v1/rankings/?limit=50`, read in this process, uncached as right after a write),
   `edit p95: <ms>` (nearest rank).
3. A burst of --burst edits from --burst-writers processes, each on its own connection, of
   sessions across the board (all 17 counties: many writers of one county at once): how
   long after the last save everything is visible, edits lost (the county board's sum
   against the sum of the edits), and the differences between the kept totals and a
   from-scratch aggregation afterwards (`burst lost: 0`, `burst differences: 0`).
4. How long a save takes while the broker is down (refusing connections, or accepting them
   and never answering).

A recompute that takes longer than --timeout seconds stops the run with exit status 1.
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


def baseline_sql() -> str:
    """The recompute's own aggregates and RANK windows (every metric of the registry, the
    holiday's ranking basis, co-hosts), as one statement computed in the server and reduced
    there to one row: no temporary table, no snapshot, no writes, and
    no rows carried to Python, which the recompute never does either."""
    from rankings.services import _BASE_TABLE, _base_sql, recompute_sql

    base = _base_sql().split(" AS\n", 1)[1]  # the SELECT of CREATE TEMPORARY TABLE ... AS
    statement = recompute_sql()
    body = statement[statement.index("WITH subjects AS ("):statement.index("\nSELECT %(snapshot)s")]
    body = body.replace("WITH subjects AS (", f"WITH {_BASE_TABLE} AS ({base}), subjects AS (", 1)
    return (body + "\nSELECT COUNT(*), SUM(r) FROM (SELECT RANK() OVER (PARTITION BY m.scope, "
            "m.metric ORDER BY m.sort_value DESC NULLS LAST) AS r FROM m) ranked")


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


def baseline(holiday) -> None:
    """The baseline under the recompute's own settings (work_mem, no JIT, join methods), so
    that neither side spills to disk where the other does not."""
    from django.db import connection, transaction

    from linfen_tracker.set_based import set_based_settings

    start, end = holiday.bounds
    statuses = holiday.counted_statuses
    with transaction.atomic(), connection.cursor() as cursor:
        set_based_settings(cursor, derived=True)
        cursor.execute(baseline_sql(), {"start": start, "end": end,
                                        "status_1": statuses[0], "status_2": statuses[-1]})
        cursor.fetchone()


def vacuum_written_tables() -> None:
    """VACUUM ANALYZE what earlier runs wrote (snapshots and their entries' partitions;
    saves rewrite totals and flags), as autovacuum does on a deployed server. This
    machine's PostgreSQL runs with autovacuum off (its CI configuration): without this the
    rewritten tables only grow, run after run, and their statistics are those of the data
    before."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        setting = cursor.fetchone()[0]
        began = time.perf_counter()
        for table in ("rankings_rankingentry", "rankings_rankingsnapshot",
                      "sessions_app_holidaytotal", "sessions_app_sessionflag"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("ANALYZE sessions_app_livestreamsession")
    print(f"vacuumed the tables runs write (autovacuum is {setting} on this server): "
          f"{time.perf_counter() - began:.1f} s")


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


def api_client():
    """A logged-in client of the API in this process (a city staff user of the bench)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-reader")
    user.groups.add(Group.objects.get(name="city_staff"))
    client = Client()
    client.force_login(user)
    return client


def rankings_top(client, holiday, metric="revenue", scope="official") -> list[dict]:
    response = client.get("/api/v1/rankings/", {"holiday": holiday.slug, "metric": metric,
                                                "scope": scope, "limit": 50}, secure=True)
    assert response.status_code == 200, response.content[:300]
    return response.json()["results"]


def edit_to_visible(holiday, edits: int, timeout: float):
    """Save `edits` edits of the leading official's session, one at a time, each waiting
    until the rankings API shows it. Returns the seconds from the start of the save to
    visible, and of the saves themselves."""
    from sessions_app.models import LivestreamSession
    from sessions_app.services import session_update

    client = api_client()
    leader = rankings_top(client, holiday)[0]
    session = (LivestreamSession.objects.in_holiday(holiday)
               .filter(official_id=leader["official"]["id"]).order_by("id").first())
    expected = Decimal(leader["value"])
    latencies, saves = [], []
    for _ in range(edits):
        began = time.perf_counter()
        session = session_update(session=session, updated_by=None,
                                 data={"revenue": session.revenue + Decimal("1.00")},
                                 expected_version=session.version)
        saves.append(time.perf_counter() - began)
        expected += Decimal("1.00")
        while Decimal(rankings_top(client, holiday)[0]["value"]) != expected:
            if time.perf_counter() - began > timeout:
                raise EditNotVisible(
                    f"edit {len(latencies) + 1} did not reach the rankings within {timeout:.0f} s"
                )
            time.sleep(0.002)
        latencies.append(time.perf_counter() - began)
        time.sleep(0.5)
    return latencies, saves


def county_board_sum(client, holiday) -> Decimal:
    return sum((Decimal(row["value"]) for row in rankings_top(client, holiday, scope="county")),
               Decimal(0))


def _burst_writer(share: list[int], delta: str, barrier, results) -> None:
    """One writer of the burst, in its own process (as a web server's worker is): edits
    each session of `share` through the service, then reports its save times, when its
    last save finished (time.monotonic, one clock for every process of the machine) and
    its errors."""
    setup_django()
    from django.db import connection

    from sessions_app.models import LivestreamSession
    from sessions_app.services import session_update

    saves, errors, last = [], [], 0.0
    try:
        barrier.wait()
        for session_id in share:
            session = LivestreamSession.objects.get(pk=session_id)
            began = time.monotonic()
            session_update(session=session, updated_by=None,
                           data={"revenue": session.revenue + Decimal(delta)},
                           expected_version=session.version)
            last = time.monotonic()
            saves.append(last - began)
    except BaseException as error:  # noqa: BLE001 - reported by the parent
        errors.append(f"{type(error).__name__}: {error}")
    finally:
        connection.close()
        results.put({"saves": saves, "last": last, "errors": errors})


def burst(holiday, edits: int, writers: int, timeout: float) -> dict:
    """`edits` edits from `writers` processes at once (each its own connection), of distinct
    sessions drawn across the holiday, each adding a known amount to the revenue. Then: how
    long after the last save the county board shows every edit, how many were lost, and
    the differences between the totals and a from-scratch aggregation.

    Processes, not threads: 20 threads of one Python process took turns on its GIL while
    one of them held the holiday's lock, so every save waited for the others' Python as
    well (1,000 edits took 250 s); a web server's workers are processes."""
    import multiprocessing

    from sessions_app.models import LivestreamSession
    from sessions_app.totals import holiday_totals_differences

    client = api_client()
    ids = list(LivestreamSession.objects.in_holiday(holiday).order_by("?")
               .values_list("id", flat=True)[:edits])
    before = county_board_sum(client, holiday)
    delta = Decimal("3.00")
    context = multiprocessing.get_context("spawn")  # no connection inherited by a fork
    barrier, results = context.Barrier(writers + 1), context.Queue()
    processes = [context.Process(target=_burst_writer,
                                 args=(ids[n::writers], str(delta), barrier, results))
                 for n in range(writers)]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)  # every writer set up and connected: go
    began = time.monotonic()
    reports = [results.get(timeout=timeout) for _ in processes]
    errors = [error for report in reports for error in report["errors"]]
    saves = [seconds for report in reports for seconds in report["saves"]]
    last = max(report["last"] for report in reports)
    wanted = before + delta * len(saves)
    seen = county_board_sum(client, holiday)
    while seen != wanted and time.monotonic() - last < timeout:
        time.sleep(0.002)
        seen = county_board_sum(client, holiday)
    visible_after = time.monotonic() - last
    for process in processes:  # after the polling: a process takes a while to exit
        process.join()
    lost = int((wanted - seen) / delta)
    return {
        "edits": len(ids), "writers": writers, "errors": errors,
        "seconds": last - began, "saves": saves, "visible_after": visible_after,
        "lost": lost, "differences": len(holiday_totals_differences(holiday=holiday)),
    }


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
    parser.add_argument("--in-holiday", type=int, default=None, metavar="N",
                        help="sessions inside the holiday (default: 40%% of --sessions)")
    parser.add_argument("--officials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--burst", type=int, default=1000, metavar="EDITS")
    parser.add_argument("--burst-writers", type=int, default=20, metavar="PROCESSES")
    parser.add_argument("--broker-down-saves", type=int, default=3, metavar="N")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="the longest a recompute may take, in this process or the worker")
    args = parser.parse_args()

    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/12")
    os.environ["CELERY_BROKER_URL"] = broker  # this process sends, the worker recomputes
    setup_django()
    from django.db import OperationalError, connection

    from rankings.services import holiday_rankings_recompute
    from sessions_app.totals import holiday_totals_reconcile

    holiday = load_bench_data(sessions=args.sessions, officials=args.officials,
                              in_holiday=args.in_holiday)
    vacuum_written_tables()
    with connection.cursor() as cursor:  # a recompute that hangs fails the run instead
        cursor.execute("SET statement_timeout = %s", [f"{args.timeout:.0f}s"])
    baseline(holiday)  # warm the cache for both measurements alike
    try:
        runs = interleaved({
            "baseline": lambda: baseline(holiday),
            "recompute": lambda: holiday_rankings_recompute(holiday_id=holiday.pk),
            "reconcile": lambda: holiday_totals_reconcile(holiday=holiday, repair=False),
        }, args.repeat)
    except OperationalError as error:
        raise SystemExit(f"a run took over {args.timeout:.0f} s: {error}") from None
    b, f = statistics.median(runs["baseline"]), statistics.median(runs["recompute"])
    per_round = [r / b_ for r, b_ in zip(runs["recompute"], runs["baseline"], strict=True)]
    inside = args.in_holiday if args.in_holiday is not None else round(args.sessions * 0.4)
    print(f"sessions: {args.sessions:,}  in the holiday: {inside:,}  "
          f"officials: {args.officials:,}")
    print(f"baseline (aggregates + RANK in the server, nothing written): "
          f"median {b * 1000:.0f} ms (runs: {ms(runs['baseline'])})")
    print(f"full recompute (compute + write snapshot): median {f * 1000:.0f} ms "
          f"(runs: {ms(runs['recompute'])})")
    print(f"reconciliation (from scratch vs the kept totals): median "
          f"{statistics.median(runs['reconcile']) * 1000:.0f} ms "
          f"(runs: {ms(runs['reconcile'])})")
    print(f"ratio per round: {', '.join(f'{r:.2f}' for r in per_round)}")
    print(f"ratio: {f / b:.2f}")

    if args.edits or args.burst:
        # Production's steady state before timing edits: the holiday's anomaly flags as the
        # first snapshot task leaves them. The bench data is loaded without flags, so
        # otherwise the first edit (and the worker's first refresh, writing every flag of
        # the holiday: ~640,000 at 1 M) pays a one-off that no later edit does.
        from sessions_app.flags import session_flags_refresh

        began = time.perf_counter()
        flagged = session_flags_refresh(holiday_id=holiday.pk, notify=False)
        print(f"flags before the edits (a whole-holiday refresh, {len(flagged.raised):,} "
              f"raised): {time.perf_counter() - began:.1f} s")
        worker = start_worker(broker)
        try:
            if args.edits:
                lat, saves = edit_to_visible(holiday, args.edits, args.timeout)
                print(f"edit -> visible in the rankings API (worker on {broker}, {args.edits} "
                      f"edits): median {statistics.median(lat) * 1000:.0f} ms, max "
                      f"{max(lat) * 1000:.0f} ms (runs: {ms(lat)})")
                print(f"save, broker up: median {statistics.median(saves) * 1000:.0f} ms, "
                      f"max {max(saves) * 1000:.0f} ms")
                print(f"edit p95: {p95(lat) * 1000:.0f}")
            if args.burst:
                out = burst(holiday, args.burst, args.burst_writers, args.timeout)
                for error in out["errors"][:3]:
                    print(f"burst error: {error}")
                print(f"burst: {out['edits']} edits from {out['writers']} writers in "
                      f"{out['seconds']:.2f} s, save p95 {p95(out['saves']) * 1000:.0f} ms; "
                      f"all visible {out['visible_after'] * 1000:.0f} ms after the last")
                print(f"burst visible after last: {out['visible_after'] * 1000:.0f}")
                print(f"burst errors: {len(out['errors'])}")
                print(f"burst lost: {out['lost']}")
                print(f"burst differences: {out['differences']}")
        except EditNotVisible as stuck:
            raise SystemExit(f"{stuck} (worker on {broker})") from None
        finally:  # whatever failed, no worker is left running
            worker_stop(worker)

    if args.broker_down_saves:
        for kind, times in saves_with_broker_down(holiday, args.broker_down_saves).items():
            print(f"save, broker down ({kind}): median {statistics.median(times) * 1000:.0f} "
                  f"ms, max {max(times) * 1000:.0f} ms (runs: {ms(times)})")


if __name__ == "__main__":
    main()
