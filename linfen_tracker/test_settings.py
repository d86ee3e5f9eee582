"""Test settings: the environment's settings, less what a test client cannot do.

The database and broker still come from DATABASE_URL / CELERY_BROKER_URL (CI points them at
PostgreSQL and Redis). Unit tests run tasks in-process; tests about tasks start a real worker
on the real broker (tests/conftest.py).
"""

import copy
import os
import tempfile

# Tests run without DEBUG, as deployed, and settings refuse to start without DEBUG on the
# development key: the tests' own key, unless the environment gives one.
os.environ.setdefault("SECRET_KEY", "linfen-tests-only-not-a-secret")

from .settings import *  # noqa: E402, F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
# Evidence files in a directory of this run (removed at its end, tests/conftest.py), never
# in an object store the environment names; the S3 tests bring their own server.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Created by the first file stored, so processes that store none leave nothing behind.
MEDIA_ROOT = os.path.join(tempfile.gettempdir(), f"linfen-test-media-{os.getpid()}")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
# Tests with a real worker wait for the snapshot a write asks for, not for the debounce.
RANKINGS_SNAPSHOT_DELAY_SECONDS = 0
CELERY_TASK_EAGER_PROPAGATES = True
ALLOWED_HOSTS = ["*"]
# The test process is the only one reading and writing (workers in tests are threads of it),
# so the per-process caches of linfen_tracker/generations.py are exact without Redis.
LOCAL_CACHE_SECONDS = 60

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file (WAL, see settings), not Django's in-memory test database: that one is a shared
    # cache that locks whole tables, so a live server or worker thread and the test could
    # not both use it.
    # One per test run, so that runs side by side don't share it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")  # noqa: F405
    }

# A `replica` alias that is the test database itself (a test mirror of `default`), and the
# router sending nothing to it: tests that need a real streaming replica make one
# (tests/test_replica.py) and turn REPLICA_READS on.
DATABASES["replica"] = {**copy.deepcopy(DATABASES["default"]),  # noqa: F405
                        "TEST": {"MIRROR": "default"}}
REPLICA_READS = False

# Static files straight from the finders: tests don't run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
RANKINGS_SNAPSHOT_MAX_SHARE = 1  # no rest between snapshots: tests wait for follow-ups
