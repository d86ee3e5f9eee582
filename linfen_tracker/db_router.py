"""Reads from a PostgreSQL streaming replica (DATABASE_REPLICA_URL), writes to the primary.

Which database a query goes to:

- Writes always go to the primary (`default`), and so does every read inside a transaction
  on it: a transaction reads what it wrote and locks what it reads where it writes.
- Reads go to the replica only inside a request that `ReplicaReadMiddleware` let read it: a
  GET (or HEAD) of a page that shows data (`REPLICA_PAGES`: dashboards, boards, the big
  screen, lists, an official's page) or of the API, when the replica is up and at most
  REPLICA_MAX_LAG_SECONDS behind. Forms (an edit page's version must be the latest), the
  admin, logins, Celery tasks (the recompute must count every session) and commands read
  the primary.
- Read-your-writes: a request that may write (POST, PUT, PATCH, DELETE) pins its author to
  the primary for REPLICA_PIN_SECONDS (a cookie; for API clients, their Authorization header
  in the shared cache), longer than the replica may lag, so the author's next pages show
  what they just saved. Caches filled right after a write read the primary too
  (`generations.py`), so no process files replica rows older than the write under its
  new generation.
- A replica that does not answer, is not streaming from the primary, or lags beyond the
  threshold is skipped (checked at most every REPLICA_CHECK_SECONDS per process; 5 s when
  down); a read that fails on it mid-request is retried on the primary.

The lag is the age of the last transaction the replica replayed while it has received WAL
that it has not replayed yet (0 when it has replayed all it received). After an idle spell
that overestimates the first moments of a new write's lag: reads then fall back to the
primary for up to a check period, the safe side.
"""

import contextvars
import hashlib
import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"
# Pages that show data and write nothing: they may read the replica (URL names).
REPLICA_PAGES = frozenset({
    "dashboard", "holiday_dashboard", "holiday_screen", "holiday_screen_state",
    "holiday_screen_content", "official_detail", "session_list", "session_evidence",
    "evidence_file", "evidence_thumbnail",
})
# API endpoints that stay on the primary even for GET.
PRIMARY_API = frozenset({"auth-token"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PIN_COOKIE = "linfen_primary_until"
DOWN_RECHECK_SECONDS = 5.0

_read_alias: contextvars.ContextVar[str] = contextvars.ContextVar("linfen_read_alias",
                                                                   default=PRIMARY)


def replica_configured() -> bool:
    """Whether a replica is configured (DATABASE_REPLICA_URL) and reads may go to it."""
    return REPLICA in settings.DATABASES and getattr(settings, "REPLICA_READS", True)


class ReplicaRouter:
    """Reads where the current context says (`reads_from`), writes to the primary."""

    def db_for_read(self, model, **hints) -> str:
        alias = _read_alias.get()
        if alias != PRIMARY and connections[PRIMARY].in_atomic_block:
            return PRIMARY
        # Never None: Django would then read where the hinted instance came from, and a
        # cached row read from the replica would take a write request's reads there.
        return alias

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # the same data on both

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == PRIMARY  # a hot standby replays the primary's schema


@contextmanager
def reads_from(alias: str):
    """Inside the block, reads outside transactions go to `alias`."""
    token = _read_alias.set(alias)
    try:
        yield
    finally:
        _read_alias.reset(token)


def primary_reads():
    """Inside the block, every read goes to the primary."""
    return reads_from(PRIMARY)


def reading_replica() -> bool:
    """Whether reads outside transactions go to the replica right now."""
    return _read_alias.get() == REPLICA


# --- The replica's state ------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaState:
    usable: bool
    lag: float | None  # seconds behind the primary; None when unknown (down, catching up)
    reason: str


_LAG_SQL = """
    SELECT pg_is_in_recovery(),
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
           CASE WHEN NOT pg_is_in_recovery()
                     OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
                ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
           END
"""
_state_lock = threading.Lock()
_state: tuple[float, ReplicaState] | None = None


def _measure() -> ReplicaState:
    connection = connections[REPLICA]
    try:
        with connection.cursor() as cursor:
            cursor.execute(_LAG_SQL)
            in_recovery, streaming, lag = cursor.fetchone()
    except DatabaseError as error:
        connection.close()
        return ReplicaState(False, None, f"unavailable: {str(error).strip()[:200]}")
    if not in_recovery:
        return ReplicaState(True, 0.0, "not in recovery (a primary): current")
    if not streaming:
        return ReplicaState(False, None, "not streaming from the primary")
    if lag is None:
        return ReplicaState(False, None, "has replayed nothing since it started")
    lag = max(0.0, float(lag))
    if lag > settings.REPLICA_MAX_LAG_SECONDS:
        return ReplicaState(False, lag, f"{lag:.1f} s behind the primary")
    return ReplicaState(True, lag, "streaming")


def replica_state() -> ReplicaState:
    """The replica's state as this process last measured it (at most REPLICA_CHECK_SECONDS
    ago; DOWN_RECHECK_SECONDS when it did not answer)."""
    global _state
    found = _state
    if found is not None and time.monotonic() < found[0]:
        return found[1]
    with _state_lock:
        found = _state
        if found is not None and time.monotonic() < found[0]:
            return found[1]
        with primary_reads():
            state = _measure()
        if not state.usable:
            logger.warning("Reading the primary: the replica is %s", state.reason)
        ttl = settings.REPLICA_CHECK_SECONDS if state.lag is not None else DOWN_RECHECK_SECONDS
        _state = (time.monotonic() + ttl, state)
        return state


def replica_state_forget() -> None:
    """Measure the replica again on the next request (tests, and after a failed read)."""
    global _state
    _state = None


def _replica_failed() -> None:
    global _state
    _state = (time.monotonic() + DOWN_RECHECK_SECONDS,
              ReplicaState(False, None, "failed during a request"))


# --- Pinning a writer to the primary -------------------------------------------------------


def _credential_key(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return f"replica-pin:{hashlib.sha256(header.encode()).hexdigest()}" if header else None


def _pinned(request) -> bool:
    try:
        if float(request.COOKIES.get(PIN_COOKIE, "0")) > time.time():
            return True
    except ValueError:
        pass
    key = _credential_key(request)
    return key is not None and bool(cache.get(key))


def _pin(request, response) -> None:
    seconds = settings.REPLICA_PIN_SECONDS
    response.set_cookie(PIN_COOKIE, f"{time.time() + seconds:.0f}", max_age=math.ceil(seconds),
                        httponly=True, samesite="Lax", secure=settings.SESSION_COOKIE_SECURE)
    key = _credential_key(request)
    if key is not None:
        cache.set(key, 1, math.ceil(seconds))


def _may_read_replica(request) -> bool:
    match = request.resolver_match
    if match is None or request.method not in SAFE_METHODS:
        return False
    if "api" in match.namespaces:
        return match.url_name not in PRIMARY_API
    return match.url_name in REPLICA_PAGES


class ReplicaReadMiddleware:
    """Sends a request's reads to the replica when the rules above allow it, pins writers
    to the primary, and retries a read that failed on the replica on the primary.

    Says where a response was read in `X-Read-From` (`primary`, or `replica; lag=<s>`), and
    gives pages `request.replica_lag` for their "may be a few seconds old" line."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_configured():
            return self.get_response(request)
        request.replica_lag = None
        try:
            response = self.get_response(request)
            if request.replica_lag is not None and connections[REPLICA].errors_occurred:
                logger.warning("A read failed on the replica: %s %s read again from the "
                               "primary", request.method, request.path)
                _replica_failed()
                connections[REPLICA].close()
                request.replica_lag = None
                _read_alias.set(PRIMARY)
                response = self.get_response(request)
        finally:
            _read_alias.set(PRIMARY)
        if request.method not in SAFE_METHODS:
            _pin(request, response)
        response["X-Read-From"] = (
            f"replica; lag={request.replica_lag:.1f}" if request.replica_lag is not None
            else "primary")
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not replica_configured() or not _may_read_replica(request) or _pinned(request):
            return None
        state = replica_state()
        if state.usable:
            request.replica_lag = state.lag
            _read_alias.set(REPLICA)
        return None


def replica_notice(request) -> dict:
    """Context processor: how many seconds behind the primary the page's data may be, when
    it was read from a replica at least a second behind (None otherwise)."""
    lag = getattr(request, "replica_lag", None)
    return {"replica_lag_seconds": math.ceil(lag) if lag is not None and lag >= 1 else None}
