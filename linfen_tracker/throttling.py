"""Rate throttles for fairness (brute force is django-axes' job), O(1) per request.

DRF's throttles keep a timestamp per request in the window, and move the whole list to the
cache and back on every request: for a client at the user rate (6,000 a minute) that is
6,000 floats per request, pickled twice and sent over the network twice. These count the
requests of a fixed window instead: one small integer. The price is the fixed window's edge:
a client can fit up to twice the rate into the seconds around a window boundary.

The count is the cache's atomic `incr` (one round trip to Redis once the window's key
exists), so racing requests are all counted, which DRF's read-then-write log does not do.
For a token client the count rides along with the generations' round trip
(`user_counter`, generations.generations_get): an API read then costs one round trip to
Redis, not two.

Anonymous clients are told apart by `client_address`, which the login lockout uses too.
"""

from rest_framework.throttling import AnonRateThrottle, BaseThrottle, UserRateThrottle

from . import generations


def client_address(request) -> str | None:
    """The address of the client that sent `request`, as far as it can be trusted.

    With TRUSTED_PROXY_COUNT = 0 (REST_FRAMEWORK["NUM_PROXIES"]) the connecting address,
    REMOTE_ADDR: an X-Forwarded-For header is the client's own word and is ignored. With N
    proxies in front, the address the outermost of them saw, N entries from the right of
    X-Forwarded-For (each proxy appends what connected to it; whatever a client wrote
    itself stays further left). DRF's rule, shared with django-axes
    (AXES_CLIENT_IP_CALLABLE) so that throttling and lockout agree on who a client is.
    """
    return BaseThrottle().get_ident(request)


class FixedWindowMixin:
    """Replaces SimpleRateThrottle's sliding log by a counter per fixed window."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        key = f"{self.key}:{window}"
        # Counted already along with the generations (token clients; see user_counter)?
        count = generations.counted(request, key)
        if count is None:
            try:
                count = self.cache.incr(key)
            except ValueError:  # the window's first request (or its key was evicted)
                count = (1 if self.cache.add(key, 1, self.duration + 1)
                         else self.cache.incr(key))
        if count is None:  # the cache is unreachable (REDIS_CACHE_OPTIONS): let it through
            return True
        if count > self.num_requests:
            self.retry_after = (window + 1) * self.duration - self.now
            return False
        return True

    def wait(self) -> float | None:
        """Seconds until the window ends (DRF turns it into `Retry-After`)."""
        return getattr(self, "retry_after", None)


class AnonFixedWindowThrottle(FixedWindowMixin, AnonRateThrottle):
    """Anonymous clients, by address: the `anon` rate (THROTTLE_ANON)."""


class UserFixedWindowThrottle(FixedWindowMixin, UserRateThrottle):
    """Authenticated clients, by user: the `user` rate (THROTTLE_USER)."""


def user_counter(*, user_pk) -> tuple[str, int] | None:
    """The counter the user throttle counts a request of user `user_pk` under now, and its
    lifetime: the token authentication increments it in the round trip that fetches the
    generations, and `allow_request` reads the result instead of asking Redis again."""
    throttle = UserFixedWindowThrottle()
    if throttle.rate is None:
        return None
    ident = throttle.cache_format % {"scope": throttle.scope, "ident": user_pk}
    window = int(throttle.timer() // throttle.duration)
    return f"{ident}:{window}", throttle.duration + 1
