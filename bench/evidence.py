"""Benchmark: adding a 10 MB evidence file (content check, SHA-256, thumbnail, store) and
downloading it through the view, against storing and reading the same bytes with nothing
else done.

    .venv/bin/python bench/evidence.py [--megabytes 10] [--rounds 5]

Runs in a throwaway SQLite database and a temporary MEDIA_ROOT. Each file is a real file
on disk (as Django keeps an upload over FILE_UPLOAD_MAX_MEMORY_SIZE), so the peak of Python
memory (tracemalloc) shows whether anything holds the whole file: it should stay far below
the file's size. Prints, per type: median wall time of `services.evidence_add` and of the
baseline (`default_storage.save` of the same file), their ratio, the peak memory, and the
download (the file view's streamed response, read to the end) against reading the stored
file.
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(media_root: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linfen_tracker.settings")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("EVIDENCE_STORAGE", None)
    os.environ["MEDIA_ROOT"] = media_root
    import django

    django.setup()


def sample_files(directory: Path, megabytes: int) -> dict[str, Path]:
    """A file of each kind of about `megabytes` MB (the PNG: a phone screenshot's size)."""
    from openpyxl import Workbook
    from PIL import Image

    size = megabytes * 1024 * 1024 - 4096
    files = {}
    row = "抖音,核桃专场,2020-05-01 10:00,245000,2100,230000.00\r\n".encode()
    files["csv"] = directory / "export.csv"
    files["csv"].write_bytes(row * (size // len(row)))
    files["pdf"] = directory / "report.pdf"
    body = b"%PDF-1.4\n" + os.urandom(size - 20)
    files["pdf"].write_bytes(body + b"\n%%EOF\n")
    files["png"] = directory / "screenshot.png"
    noise = Image.frombytes("RGB", (1170, 2532), os.urandom(1170 * 2532 * 3))
    noise.save(files["png"], "PNG")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for i in range(40_000):
        sheet.append([f"核桃专场 {i}", 245000 + i, 2100 + i % 97, os.urandom(8).hex()])
    out = io.BytesIO()
    workbook.save(out)
    files["xlsx"] = directory / "export.xlsx"
    files["xlsx"].write_bytes(out.getvalue())
    return files


def median_seconds(function, rounds: int) -> tuple[float, float]:
    """Median wall seconds over `rounds`, and the largest peak of traced Python memory."""
    times, peak = [], 0
    for _ in range(rounds):
        tracemalloc.start()
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return statistics.median(times), peak


def run(megabytes: int, rounds: int, scratch: Path) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.files import File
    from django.core.files.storage import default_storage
    from django.test import Client

    from sessions_app import services
    from sessions_app.models import County, LivestreamSession, Official, SessionEvidence

    user = get_user_model().objects.create_user("bench-staff", password="unused-bench-pw")
    user.groups.add(Group.objects.get(name="city_staff"))
    official = Official.objects.create(name="Bench", title="County head",
                                       county=County.objects.first())
    from datetime import datetime, timedelta

    from django.utils import timezone

    start = datetime(2020, 5, 1, 10, tzinfo=timezone.get_default_timezone())
    session = LivestreamSession.objects.create(
        official=official, county=official.county, platform="douyin", title="Bench",
        started_at=start, ended_at=start + timedelta(hours=1), audience=1, orders=1,
        revenue=1)
    client = Client()
    client.force_login(user)
    files = sample_files(scratch, megabytes)
    print(f"Evidence files, {rounds} rounds each, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs, storage {default_storage.__class__.__name__}")
    print(f"  {'file':<6}{'size':>9}  {'evidence_add':>12}  {'baseline save':>13}  "
          f"{'ratio':>5}  {'peak memory':>11}  {'download':>9}  {'read':>7}")
    for kind, path in files.items():
        def add(path=path):
            SessionEvidence.objects.filter(session=session).delete()
            with path.open("rb") as handle:
                services.evidence_add(session=session, uploaded_by=user,
                                      file=File(handle, name=path.name))

        def save(path=path):
            with path.open("rb") as handle:
                default_storage.save("bench/baseline", File(handle, name=path.name))

        added, peak = median_seconds(add, rounds)
        baseline, _peak = median_seconds(save, rounds)
        evidence = SessionEvidence.objects.get(session=session)
        url = f"/sessions/{session.pk}/evidence/{evidence.pk}/"

        def download(url=url):
            response = client.get(url)
            assert response.status_code == 200
            for _chunk in response.streaming_content:
                pass
            response.close()

        def read(name=evidence.file.name):
            with default_storage.open(name) as stored:
                while stored.read(64 * 1024):
                    pass

        fetched, _peak = median_seconds(download, rounds)
        read_back, _peak = median_seconds(read, rounds)
        print(f"  {kind:<6}{path.stat().st_size / 1048576:>7.1f}MB  {added * 1000:>10.0f}ms  "
              f"{baseline * 1000:>11.0f}ms  {added / baseline:>5.1f}  "
              f"{peak / 1048576:>9.2f}MB  {fetched * 1000:>7.0f}ms  {read_back * 1000:>5.0f}ms",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="linfen-bench-evidence-"))
    setup_django(str(scratch / "media"))
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    connection.settings_dict["TEST"]["NAME"] = str(scratch / "bench.sqlite3")
    databases = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        run(args.megabytes, args.rounds, scratch)
    finally:
        teardown_databases(databases, verbosity=0)
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
