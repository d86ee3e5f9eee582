"""Benchmark: the notifications of a recompute where every rank changes, against the recompute
alone, in interleaved rounds of the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/linfen_bench_notify \\
        python bench/notifications.py [--sessions 1000000] [--officials 10000] [--rounds 5]

Every bench official gets a user account with an email address and a revenue target. Each
round first reverses the holiday's board (every in-holiday session's audience, orders and
revenue become K - value; every official has the same number of sessions in the holiday, so
every official's rank on every metric turns around: not timed), then times the recompute
(`holiday_rankings_recompute`) and the notifications of its snapshot (`snapshot_notify`:
the changes of every kind, the notifications by each user's channels, the run's log). It
prints both per round, the medians and `ratio: X`, the median of the rounds' ratios
(notifications / recompute, each round's pair measured back to back; target 0.5).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import OFFICIAL_PREFIX, load_bench_data, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/linfen_bench_notify"
USER_PREFIX = "bench-official-"


def link_users(holiday) -> int:
    """A user (with an email address) for every bench official, and a revenue target at
    the board's median, so that the reversals make targets reached too."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,
                                   email, is_staff, is_active, date_joined)
            SELECT '!', false, %s || o.id, '', '', 'o' || o.id || '@bench.example', false,
                   true, now()
            FROM sessions_app_official o
            WHERE o.name LIKE %s AND o.user_id IS NULL
            ON CONFLICT (username) DO NOTHING
            """, [USER_PREFIX, OFFICIAL_PREFIX + "%"])
        cursor.execute(
            """
            UPDATE sessions_app_official o SET user_id = u.id FROM auth_user u
            WHERE u.username = %s || o.id AND o.user_id IS NULL AND o.name LIKE %s
            """, [USER_PREFIX, OFFICIAL_PREFIX + "%"])
        cursor.execute("DELETE FROM rankings_target WHERE holiday_id = %s", [holiday.pk])
        # Each run starts from no notifications, as a holiday does (runs stay comparable).
        cursor.execute("DELETE FROM notifications_notification WHERE holiday_id = %s",
                       [holiday.pk])
        cursor.execute("DELETE FROM notifications_notificationrun WHERE holiday_id = %s",
                       [holiday.pk])
        cursor.execute(
            """
            INSERT INTO rankings_target (holiday_id, official_id, county_id, metric, value,
                                         created_at, updated_at)
            SELECT %s, o.id, NULL, 'revenue',
                   (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY e.value)
                    FROM rankings_rankingentry e
                    WHERE e.snapshot_id = (SELECT MAX(id) FROM rankings_rankingsnapshot
                                           WHERE holiday_id = %s AND complete)
                      AND e.scope = 'official' AND e.metric = 'revenue'),
                   now(), now()
            FROM sessions_app_official o WHERE o.name LIKE %s
            """, [holiday.pk, holiday.pk, OFFICIAL_PREFIX + "%"])
        cursor.execute("SELECT COUNT(*) FROM sessions_app_official WHERE name LIKE %s "
                       "AND user_id IS NOT NULL", [OFFICIAL_PREFIX + "%"])
        return cursor.fetchone()[0]


def reverse_board(holiday) -> None:
    """Turn every official's totals around (K - value per session), so every rank changes."""
    from django.db import connection, transaction

    start, end = holiday.bounds
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sessions_app_livestreamsession
            SET audience = 1000000 - audience, orders = 30000 - orders,
                revenue = 75000.00 - revenue
            WHERE started_at >= %s AND started_at < %s
            """, [start, end])
        cursor.execute("UPDATE sessions_app_holiday SET data_version = data_version + 1 "
                       "WHERE id = %s", [holiday.pk])
    with connection.cursor() as cursor:
        # Settle the reversal's writes before the timed part, for both alike: its dead rows
        # vacuumed, a checkpoint now rather than in the middle of a measurement.
        cursor.execute("VACUUM ANALYZE sessions_app_livestreamsession")
        cursor.execute("VACUUM ANALYZE notifications_notification")
        cursor.execute("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--officials", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    setup_django(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    from django.db.models import Count

    from linfen_tracker.celery_app import app

    # As in production, the notifications' follow-ups (email digests, webhook deliveries) are
    # only enqueued, for a worker: an in-memory broker here, not sent in this process.
    app.conf.task_always_eager = False

    from notifications.models import Notification
    from notifications.services import snapshot_notify
    from rankings.services import holiday_rankings_recompute

    holiday = load_bench_data(sessions=args.sessions, officials=args.officials)
    users = link_users(holiday)
    print(f"users linked to officials: {users:,}; a revenue target each")
    # A first pair so that every measured round compares with a complete previous snapshot.
    first = holiday_rankings_recompute(holiday_id=holiday.pk)
    snapshot_notify(snapshot_id=first.snapshot_id)

    recompute, notify, ratios = [], [], []
    for n in range(1, args.rounds + 1):
        reverse_board(holiday)
        began = time.perf_counter()
        result = holiday_rankings_recompute(holiday_id=holiday.pk)
        r = time.perf_counter() - began
        began = time.perf_counter()
        made = snapshot_notify(snapshot_id=result.snapshot_id)
        t = time.perf_counter() - began
        recompute.append(r)
        notify.append(t)
        ratios.append(t / r)
        kinds = dict(Notification.objects.filter(snapshot_id=result.snapshot_id)
                     .values_list("event").annotate(Count("id")).order_by())
        print(f"round {n}: recompute {r * 1000:.0f} ms, notifications {t * 1000:.0f} ms "
              f"({made.notifications:,} notifications {kinds}, "
              f"{Notification.objects.filter(email_status='pending').count():,} emails "
              f"waiting); ratio {t / r:.2f}")

    r, t = statistics.median(recompute), statistics.median(notify)
    print(f"sessions: {args.sessions:,}  officials: {args.officials:,}  rounds: {args.rounds}")
    print(f"recompute alone: median {r * 1000:.0f} ms")
    print(f"notifications of the recompute: median {t * 1000:.0f} ms")
    print(f"ratio: {statistics.median(ratios):.2f} (median of the rounds' ratios; per round "
          f"{min(ratios):.2f} to {max(ratios):.2f}; ratio of the medians {t / r:.2f}; "
          f"target 0.5)")


if __name__ == "__main__":
    main()
