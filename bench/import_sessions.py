"""Benchmark: importing a 10,000-row spreadsheet through `sessions_app.imports`, against
django-import-export's default path (the admin's `SessionResource`) on the same rows.

    .venv/bin/python bench/import_sessions.py [--rows 10000] [--skip-baseline]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/linfen_bench_import \\
        .venv/bin/python bench/import_sessions.py

Runs in a throwaway database that it creates and drops: a temporary SQLite file by default,
or `test_<name>` beside the database DATABASE_URL names (PostgreSQL). Rankings recompute
in-process after each commit (no broker), as in the default deployment, for both paths.

Prints, for our service: parse+validate of the XLSX and of the CSV, the commit
(bulk insert + history + one stale mark per holiday + recompute), the total, and the
confirm flow (which validates again); for the baseline: `import_data` of the same rows;
rows/s for each, the ratio, and the history rows checked (one "+" row per session, by the
importing user). The issue's target: under 10 s for 10,000 rows with the audit trail.
"""

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OFFICIALS = 200


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linfen_tracker.settings")
    # No broker: the recompute after commit runs in-process, as in the default deployment.
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()


def spreadsheet_rows(official_ids: list[int], rows: int) -> list[list]:
    """`rows` sessions over the officials, spread over the five days of Labor Day 2020."""
    out = []
    first = datetime(2020, 5, 1, 8, 0)
    for i in range(rows):
        official = official_ids[i % len(official_ids)]
        slot = i // len(official_ids)
        start = first + timedelta(days=slot % 5, minutes=20 * (slot // 5))
        out.append([
            official, "", "douyin" if i % 3 else "kuaishou", f"Walnuts and millet live {i}",
            "walnuts, millet", start, start + timedelta(hours=1), 1000 + i, 10 + i % 97,
            Decimal(f"{1000 + i}.{i % 100:02d}"),
        ])
    return out


HEADERS = ["official", "county", "platform", "title", "products", "started_at", "ended_at",
           "audience", "orders", "revenue"]


def as_csv(rows: list[list]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v
                         for v in row])
    return out.getvalue().encode("utf-8")


def as_xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADERS)
    for row in rows:
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def clear_sessions() -> None:
    """Empty the sessions and their history between runs, in SQL: a model delete() would
    write 10,000 more history rows and take longer than the import."""
    from django.db import connection

    from sessions_app.models import LivestreamSession

    with connection.cursor() as cursor:
        for model in (LivestreamSession.history.model, LivestreamSession):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def timed(label: str, rows: int, function):
    """Run `function`; print its wall time, rows/s and this process's CPU time (which a busy
    machine inflates less than wall time: PostgreSQL's own work is not in it)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = function()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"  {label:<58} {seconds:7.2f} s  {rows / seconds:9,.0f} rows/s  (CPU {cpu:.2f} s)",
          flush=True)
    return result, seconds


def run(rows: int, skip_baseline: bool) -> None:
    import tablib
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from sessions_app.resources import SessionResource

    from sessions_app import imports
    from sessions_app.models import County, Holiday, ImportBatch, LivestreamSession, Official

    user = get_user_model().objects.create_user("bench-staff", password="unused-bench-pw")
    user.groups.add(Group.objects.get(name="city_staff"))
    counties = list(County.objects.all())
    Official.objects.bulk_create(
        Official(name=f"Bench official {i:04d}", title="County head",
                 county=counties[i % len(counties)])
        for i in range(OFFICIALS)
    )
    official_ids = list(Official.objects.order_by("id").values_list("id", flat=True))
    Holiday.objects.create(name="Labor Day 2020", slug="labor-day-2020",
                           start_date=datetime(2020, 5, 1).date(),
                           end_date=datetime(2020, 5, 5).date())
    data = spreadsheet_rows(official_ids, rows)
    xlsx, csv_bytes = as_xlsx(data), as_csv(data)
    print(f"Import of {rows:,} sessions on {connection.vendor} "
          f"(XLSX {len(xlsx) / 1024:,.0f} KB, CSV {len(csv_bytes) / 1024:,.0f} KB); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    print("sessions_app.imports (set-based validation, bulk_create_with_history):")
    check, t_xlsx = timed("parse + validate, XLSX", rows,
                          lambda: imports.import_check(filename="b.xlsx", content=xlsx))
    assert check.ok and len(check.rows) == rows, check.errors[:5]
    check_csv, t_csv = timed("parse + validate, CSV", rows,
                             lambda: imports.import_check(filename="b.csv", content=csv_bytes))
    assert check_csv.ok and len(check_csv.rows) == rows, check_csv.errors[:5]
    _, t_commit = timed("commit: insert + history + stale mark + recompute", rows,
                        lambda: imports.sessions_import(rows=check.rows, user=user,
                                                        source="b.xlsx"))
    history = LivestreamSession.history.filter(history_type="+")
    assert LivestreamSession.objects.count() == rows
    assert history.count() == rows, history.count()
    assert history.filter(history_user=user).count() == rows
    total = t_xlsx + t_commit
    print(f"  {'total (XLSX parse + validate + commit)':<58} {total:7.2f} s  "
          f"{rows / total:9,.0f} rows/s")
    print(f"  history: {history.count():,} '+' rows, all by {user.username}: ok")

    clear_sessions()
    # The pages: the upload reads, checks and stages the file; the confirm checks the staged
    # rows against the database again and commits.
    def upload():
        check = imports.import_check(filename="b.xlsx", content=xlsx)
        return imports.import_batch_stage(user=user, check=check)

    batch, t_upload = timed("page flow 1, upload: parse + validate + stage (XLSX)", rows, upload)
    outcome, t_confirm = timed("page flow 2, confirm: validate again + commit", rows,
                               lambda: imports.import_batch_confirm(batch_id=batch.id,
                                                                    user=user))
    assert outcome.created == rows and not ImportBatch.objects.exists()
    flow = t_upload + t_confirm
    print(f"  {'page flow total (upload + confirm)':<58} {flow:7.2f} s  "
          f"{rows / flow:9,.0f} rows/s")

    if skip_baseline:
        return
    clear_sessions()
    print("django-import-export default path (SessionResource.import_data, same rows, CSV):")

    def baseline():
        dataset = tablib.Dataset().load(csv_bytes.decode("utf-8"), format="csv")
        return SessionResource().import_data(dataset, dry_run=False, use_transactions=True,
                                             user=user)

    result, t_base = timed("import_data (validate + save row by row, with history)", rows,
                           baseline)
    assert not result.has_errors() and not result.has_validation_errors()
    assert LivestreamSession.objects.count() == rows
    assert LivestreamSession.history.count() == rows
    print(f"ratio (baseline time / our total): {t_base / total:.1f}x; "
          f"ours {rows / total:,.0f} rows/s vs baseline {rows / t_base:,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    setup_django()
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    if connection.vendor == "sqlite":
        # A file rather than memory: closer to what `make run` writes to.
        scratch = tempfile.mkdtemp(prefix="linfen-bench-import-")
        connection.settings_dict["TEST"]["NAME"] = os.path.join(scratch, "bench.sqlite3")
    databases = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        run(args.rows, args.skip_baseline)
    finally:
        teardown_databases(databases, verbosity=0)


if __name__ == "__main__":
    main()
