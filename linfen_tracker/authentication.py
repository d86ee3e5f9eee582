"""How API clients authenticate (DRF's default authentication classes, settings.py), and
the API tokens' lifetime.

Kept apart from the views: DRF imports its default classes while `rest_framework.views`
itself is being imported, so this module must not import DRF's views.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from . import generations


def token_expires_at(token: Token) -> datetime:
    """When `token` stops authenticating: API_TOKEN_DAYS after it was issued."""
    return token.created + timedelta(days=settings.API_TOKEN_DAYS)


def api_token_issue(*, user) -> Token:
    """The user's API token: the one they have while it lasts, else a new one. An expired
    token is deleted, not extended, so its key never works again."""
    token, _created = Token.objects.get_or_create(user=user)
    if token_expires_at(token) <= timezone.now():
        token.delete()
        token, _created = Token.objects.get_or_create(user=user)
    return token


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, with the token's user and their permissions cached in
    each process under the `auth` generation (linfen_tracker/generations.py).

    A REST client polling a leaderboard would otherwise cost three queries a request (the
    token and its user, then the user's own and group permissions). Any change to tokens,
    users, groups or permissions bumps the generation, so a revoked token, a deactivated
    user or a withdrawn role takes effect on the next request, in every process sharing the
    cache. Failures are not cached. Expiry is checked on every request, after the cache: a
    cached token is refused the moment it expires.
    """

    def authenticate(self, request):
        self.request = request  # DRF makes one instance per request
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        def load():
            user, token = super(CachedTokenAuthentication, self).authenticate_credentials(key)
            # Fills the user's permission cache (ModelBackend keeps it on the instance), so
            # it is cached along with the user.
            user.get_all_permissions()
            return user, token

        from .throttling import user_counter

        # The token's user as this process last knew them: their request is counted for the
        # throttle in the round trip that fetches the generations (one round trip, not two).
        user, token = generations.cached(
            generations.AUTH, f"token:{key}", load, request=getattr(self, "request", None),
            count=lambda known: user_counter(user_pk=known[0].pk))
        if token_expires_at(token) <= timezone.now():
            raise AuthenticationFailed(gettext(
                "The token has expired: ask for a new one at POST /api/v1/auth/token/."),
                code="token_expired")
        return user, token


# Token first: its `WWW-Authenticate` header is what turns "not logged in" into 401 rather
# than 403 (DRF answers 403 when the first authenticator offers no challenge, as sessions
# do not). The same list is DRF's default (settings.REST_FRAMEWORK).
API_AUTHENTICATION = [CachedTokenAuthentication, SessionAuthentication]
