"""Generations: exact invalidation of what each process caches for the API's hot reads.

A generation is a random token kept in the shared cache (`default`: Redis when REDIS_URL is
set). What a process caches in its own memory (`caches["local"]`) is kept with the token
its generation had when it was built, and stays good while that token stands. A write that
changes what such entries were built from bumps the generation (a new token), so every
process misses on its next request and reads the database again. One round trip to the
shared cache per request then stands in for the queries of authentication, permissions and
the leaderboard.

- `auth`: tokens, users, groups and permissions (who may do what). Bumped by the signal
  receivers in `linfen_tracker.signals`.
- `rankings`: what a leaderboard shows (holidays, snapshots, names, and the data versions
  behind its status). Bumped by session writes, recomputes and `rankings.signals`.
- `reference`: what every holiday's summary and charts print about counties, officials and
  holidays (names, poverty-relief flags, dates), not their sessions. Bumped by the signal
  receivers in `sessions_app.signals` on any saved or deleted county, official or holiday.

What is built per holiday is also stamped with a version of that holiday (`shared_cached`'s
`version`: its `data_version`, which every session write touching it bumps in the write's
transaction, or its latest snapshot): a write to one holiday leaves the others' copies good.

Tokens are random, not counters: a generation evicted from the shared cache comes back as a
new token, never as an old value that stale entries were filed under. A bump happens at once
(later reads of the same transaction, and tests, which never commit, see it) and again after
commit (a reader that cached the old rows while the transaction was open is left behind).

Without a shared cache (REDIS_URL unset) `default` is per process too, and a write in one
process could not reach the copies of another: LOCAL_CACHE_SECONDS is then 0 (nothing is
cached here) unless set, which is right only when a single process serves everything. If
the shared cache fails, reads go to the database (nothing is cached) rather than fail.
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar
from uuid import uuid4

from django.conf import settings
from django.core.cache import cache, caches
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from . import db_router

logger = logging.getLogger(__name__)

AUTH = "auth"
RANKINGS = "rankings"
REFERENCE = "reference"
NAMES = (AUTH, RANKINGS, REFERENCE)

# How long a shared entry may outlive a write that bypassed the bumps (raw SQL, a
# QuerySet.update of a county): the generations and versions, not this, make entries exact.
SHARED_CACHE_SECONDS = 3600

T = TypeVar("T")
_MISSING = object()


def _key(name: str) -> str:
    return f"generation:{name}"


def _new_token() -> str:
    # Random (see above), with the time it was made: the start of the replica's window.
    return f"{uuid4().hex}-{time.time():.3f}"


def _build(build: Callable[[], T], token: str) -> T:
    """`build()`, reading the primary while the replica may lack the write behind
    `token` (made less than REPLICA_PIN_SECONDS ago)."""
    if db_router.reading_replica():
        _random, dash, made_at = token.rpartition("-")
        try:
            made = float(made_at) if dash else 0.0
        except ValueError:  # a token from before tokens carried their time
            made = 0.0
        if time.time() - made < settings.REPLICA_PIN_SECONDS:
            with db_router.primary_reads():
                return build()
    return build()


_own = threading.local()


def _own_connection(redis):
    """This thread's own connection to Redis for `_round_trip`, made with the cache's
    connection settings (address, timeouts); a new one after a fork or a settings change."""
    pool = redis.connection_pool
    held = getattr(_own, "held", None)
    if held is None or held[0] is not pool or held[1] != os.getpid():
        held = (pool, os.getpid(), pool.connection_class(**pool.connection_kwargs))
        _own.held = held
    return held[2]


def _packed(commands: list[tuple]) -> bytes:
    """`commands` in the Redis protocol (RESP: the same in versions 2 and 3)."""
    out = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _round_trip(redis, commands: list[tuple]) -> list:
    """The replies to `commands`, sent to Redis in one write and read back in order.

    What a redis-py pipeline does, less its per-command machinery (retries, events,
    response callbacks, metrics) and the pool's check-out, which cost more CPU than the
    round trip itself (bench/api.py): on this thread's own connection, which only this
    function uses. A connection that fails is closed, never used again with a reply
    unread; one that Redis closed meanwhile (a restart, an idle timeout) is replaced and
    the commands sent once more (had Redis run them before the close, a request is counted
    twice for the throttle, the safe side).
    """
    packed = _packed(commands)
    for attempt in (1, 2):
        connection = _own_connection(redis)
        try:
            connection.send_packed_command([packed], check_health=False)
            return [connection.read_response() for _command in commands]
        except RedisConnectionError:
            connection.disconnect()
            if attempt == 2:
                raise
        except BaseException:
            connection.disconnect()
            raise
    raise AssertionError("unreachable")


def _fetch(keys: list[str], count: tuple[str, int] | None, request) -> dict:
    """`cache.get_many(keys)` in one round trip; with `count` (a counter's key and
    lifetime), the counter is incremented in the same round trip and its new value kept on
    `request` (`counted`), for the API throttle (linfen_tracker/throttling.py) to use."""
    client = getattr(cache, "client", None)
    if not hasattr(client, "get_client"):  # not Redis (local memory)
        return cache.get_many(keys)
    commands = [("MGET", *[client.make_key(key) for key in keys])]
    if count is not None and request is not None:
        counter, lifetime = count
        commands.append(("INCR", client.make_key(counter)))  # a missing counter starts at 1
    values, *counted = _round_trip(client.get_client(write=True), commands)
    if counted:
        if counted[0] == 1:  # the window's first request: the counter ends with its window
            cache.expire(counter, lifetime)
        request._counted = {counter: counted[0]}
    return {key: client.decode(value) for key, value in zip(keys, values, strict=True)
            if value is not None}


def counted(request, key: str) -> int | None:
    """The value counter `key` took in this request's generations round trip, if it was
    counted there (once: a second call answers None)."""
    return getattr(request, "_counted", {}).pop(key, None)


def generations_get(request=None, *, count: tuple[str, int] | None = None
                    ) -> dict[str, str] | None:
    """The current token of every generation, in one shared-cache round trip (once per
    request: memoized on `request`); None if the shared cache cannot be reached. `count`:
    see `_fetch`."""
    memo = getattr(request, "_generations", _MISSING)
    if memo is not _MISSING:
        return memo
    try:
        found = _fetch([_key(name) for name in NAMES], count, request)
        current = {}
        for name in NAMES:
            token = found.get(_key(name))
            if token is None:
                # First use, or evicted: a new token (add: concurrent starters agree).
                cache.add(_key(name), _new_token(), None)
                token = cache.get(_key(name))
            current[name] = token
        if None in current.values():
            current = None
    except Exception:
        logger.warning("Shared cache unavailable: reading from the database", exc_info=True)
        current = None
    if request is not None:
        request._generations = current
    return current


def _bump(name: str) -> None:
    try:
        cache.set(_key(name), _new_token(), None)
    except Exception:
        # Local entries then live out LOCAL_CACHE_SECONDS; the write itself stands.
        logger.exception("Could not bump the %s generation", name)


def generation_bump(name: str) -> None:
    """Invalidate every process's entries of generation `name`: now, and after commit if a
    transaction is open."""
    _bump(name)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(partial(_bump, name))


def cached(name: str, key: str, build: Callable[[], T], *, request=None,
           count: Callable[[T], tuple[str, int] | None] | None = None) -> T:
    """`build()`, cached in this process under the current token of generation `name`.

    The value is pickled (a copy per read: callers may change it). Exceptions from `build`
    are not cached. `count(value held)`, if given, names a counter to increment in the
    round trip that fetches the generations (see `_fetch`), from what this process holds
    for `key` whatever its generation (the token's user: a guess, checked by the
    generation right after).
    """
    if settings.LOCAL_CACHE_SECONDS <= 0:
        return build()
    local = caches["local"]
    # One slot per key, holding the generation it was built under: a bump leaves one stale
    # entry per key to be replaced, not a new set of entries per write.
    full_key = f"{name}:{key}"
    entry = local.get(full_key)
    counter = count(entry[1]) if count is not None and entry is not None else None
    current = generations_get(request, count=counter)
    if current is None:
        return build()
    if entry is not None and entry[0] == current[name]:
        return entry[1]
    value = _build(build, current[name])
    local.set(full_key, (current[name], value), settings.LOCAL_CACHE_SECONDS)
    return value


def shared_cached(name: str, key: str, build: Callable[[], T], *, version: object = None,
                  request=None) -> T:
    """`build()`, cached in the shared cache (Redis: one copy for every process) under the
    current token of generation `name` and `version`.

    For reads that cost more to build than to fetch (a holiday's summary, its charts), so
    built once for all processes. Like `cached`, one slot per key holding the stamp it was
    built under, and nothing cached where per-process copies are (LOCAL_CACHE_SECONDS 0:
    without Redis, `default` is per process too). Exceptions from `build` are not cached.
    """
    if settings.LOCAL_CACHE_SECONDS <= 0:
        return build()
    current = generations_get(request)
    if current is None:
        return build()
    stamp = (current[name], version)
    full_key = f"{name}:{key}"
    entry = cache.get(full_key)
    if entry is not None and entry[0] == stamp:
        return entry[1]
    value = _build(build, current[name])
    cache.set(full_key, (stamp, value), SHARED_CACHE_SECONDS)
    return value
