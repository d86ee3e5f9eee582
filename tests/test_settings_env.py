"""The one settings module picks its backends from the environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'],"
    " 'name': str(settings.DATABASES['default']['NAME']),"
    " 'eager': settings.CELERY_TASK_ALWAYS_EAGER, 'broker': settings.CELERY_BROKER_URL,"
    " 'cache': settings.CACHES['default']['BACKEND'], 'tz': settings.TIME_ZONE,"
    " 'lang': settings.LANGUAGE_CODE, 'secret': settings.SECRET_KEY,"
    " 'local_seconds': settings.LOCAL_CACHE_SECONDS,"
    " 'num_proxies': settings.REST_FRAMEWORK['NUM_PROXIES']}))"
)
# The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment must not.
CONFIG_VARS = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "SECRET_KEY", "DEBUG",
               "DJANGO_ALLOW_ASYNC_UNSAFE", "LOCAL_CACHE_SECONDS", "TRUSTED_PROXY_COUNT")


def _environment(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    clean.update(env, DJANGO_SETTINGS_MODULE="linfen_tracker.settings")
    return clean


def _settings_with(**env) -> dict:
    """The settings a process started with `env` gets (and a secret key, unless given)."""
    env = {"SECRET_KEY": "settings-probe-" + "k" * 40, **env}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=_environment(**env),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_unset_environment_means_sqlite_and_in_process_tasks():
    found = _settings_with()
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["eager"] is True
    assert found["cache"].endswith("LocMemCache")
    # Per-process generations could not reach other processes: no per-process copies.
    assert found["local_seconds"] == 0
    assert (found["tz"], found["lang"]) == ("Asia/Shanghai", "zh-hans")
    # No proxy trusted: the connecting address is the client's, X-Forwarded-For is ignored.
    assert found["num_proxies"] == 0


def test_set_environment_means_postgresql_redis_and_a_worker():
    found = _settings_with(
        DATABASE_URL="postgres://u:p@db.example:5432/linfen",
        CELERY_BROKER_URL="redis://broker.example:6379/0",
        REDIS_URL="redis://cache.example:6379/1",
    )
    assert found["engine"] == "django.db.backends.postgresql"
    assert found["name"] == "linfen"
    assert found["eager"] is False
    assert found["broker"] == "redis://broker.example:6379/0"
    assert found["cache"] == "django_redis.cache.RedisCache"
    assert found["local_seconds"] == 60


def test_a_secret_starting_with_a_dollar_is_taken_literally():
    assert _settings_with(SECRET_KEY="$notavariable-x" * 4)["secret"] == "$notavariable-x" * 4


def test_check_deploy_passes_with_production_variables():
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env.update(
        DJANGO_SETTINGS_MODULE="linfen_tracker.settings",
        DEBUG="0",
        SECRET_KEY="x9!k2-production-secret-" + "q7" * 30,
        ALLOWED_HOSTS="linfen.example",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_trusted_proxy_count_tells_drf_how_many_forwarded_entries_to_skip():
    assert _settings_with(TRUSTED_PROXY_COUNT="1")["num_proxies"] == 1


DEVELOPMENT_KEY = "django-insecure-linfen-tracker-development-only-key"


@pytest.mark.parametrize("secret", [None, "", DEVELOPMENT_KEY])
def test_without_debug_the_app_refuses_to_start_on_no_key_or_the_development_key(secret):
    env = _environment(DEBUG="0", **({} if secret is None else {"SECRET_KEY": secret}))

    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True)

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_with_debug_the_development_key_is_used_and_the_app_starts():
    env = _environment(DEBUG="1")

    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert _settings_with(DEBUG="1", SECRET_KEY="")["secret"] == DEVELOPMENT_KEY


EMAIL_PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps({'backend': settings.EMAIL_BACKEND, 'host': settings.EMAIL_HOST,"
    " 'port': settings.EMAIL_PORT, 'tls': settings.EMAIL_USE_TLS,"
    " 'user': settings.EMAIL_HOST_USER, 'password': settings.EMAIL_HOST_PASSWORD,"
    " 'private': settings.WEBHOOK_ALLOW_PRIVATE}))"
)


def _email_settings_with(**env) -> dict:
    clean = {k: v for k, v in os.environ.items()
             if k not in CONFIG_VARS + ("EMAIL_URL", "WEBHOOK_ALLOW_PRIVATE")}
    clean.update(env, DJANGO_SETTINGS_MODULE="linfen_tracker.settings",
                 SECRET_KEY="linfen-tests-only-not-a-secret")
    out = subprocess.run([sys.executable, "-c", EMAIL_PROBE], cwd=ROOT, env=clean,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_email_prints_to_the_console_unless_email_url_is_set():
    assert _email_settings_with()["backend"].endswith("console.EmailBackend")
    found = _email_settings_with(EMAIL_URL="smtp+tls://mailer:pa%24s@smtp.example:587",
                                 WEBHOOK_ALLOW_PRIVATE="1")
    assert found == {"backend": "django.core.mail.backends.smtp.EmailBackend",
                     "host": "smtp.example", "port": 587, "tls": True, "user": "mailer",
                     "password": "pa$s", "private": True}
