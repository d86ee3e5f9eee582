"""How API clients authenticate, and what they may do: decided by model permissions, never
by group names.

The `city_staff` group carries view/add/change/delete on counties, officials, holidays and
sessions; `officials` carries view only (migration sessions_app/0003). A user with neither
is authenticated but may read nothing.
"""

from datetime import datetime, timedelta

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import authenticate
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import (
    AllowAny,
    BasePermission,
    DjangoModelPermissions,
    IsAuthenticated,
)
from rest_framework.response import Response
from rest_framework.views import APIView

from . import generations
from .throttling import AnonFixedWindowThrottle, UserFixedWindowThrottle


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

        user, token = generations.cached(generations.AUTH, f"token:{key}", load,
                                         request=getattr(self, "request", None))
        if token_expires_at(token) <= timezone.now():
            raise AuthenticationFailed(gettext(
                "The token has expired: ask for a new one at POST /api/v1/auth/token/."),
                code="token_expired")
        return user, token


# Token first: its `WWW-Authenticate` header is what turns "not logged in" into 401 rather
# than 403 (DRF answers 403 when the first authenticator offers no challenge, as sessions
# do not).
API_AUTHENTICATION = [CachedTokenAuthentication, SessionAuthentication]

VIEW_SESSIONS = "sessions_app.view_livestreamsession"
CHANGE_SESSIONS = "sessions_app.change_livestreamsession"


class ModelRolePermissions(DjangoModelPermissions):
    """DjangoModelPermissions that also requires `view_<model>` to read."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class CanViewSessions(BasePermission):
    """Rankings and summaries are figures about sessions: reading them needs view on sessions."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(VIEW_SESSIONS))


class CanAuditSessions(BasePermission):
    """The audit history is for the people who correct sessions (change permission)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(CHANGE_SESSIONS))


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text=_("Username."))
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, style={"input_type": "password"},
        help_text=_("Password."),
    )


class AuthTokenView(APIView):
    """POST: exchange a username and password for the user's API token. DELETE: revoke the
    token the request is authenticated with.

    `authenticate()` gets the request, as django-axes needs: failed attempts count towards
    the lockout, and a locked-out user gets 429 (never their token, even with the right
    password) until the cool-off ends.
    """

    throttle_classes = [AnonFixedWindowThrottle, UserFixedWindowThrottle]

    def get_authenticators(self):
        # POST reads nothing but the credentials in its body: no session (a browser's would
        # demand a CSRF token), and no token (an expired one sent along must not stop its
        # owner from getting a new one). DELETE is about the token it is sent with.
        # (Schema generation asks before it has set a request.)
        if getattr(self.request, "method", None) == "DELETE":
            return [CachedTokenAuthentication()]
        return []

    def get_permissions(self):
        return [IsAuthenticated() if self.request.method == "DELETE" else AllowAny()]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: inline_serializer("AuthToken", {
                "token": serializers.CharField(
                    help_text=_("Send it as `Authorization: Token <token>`.")),
                "expires": serializers.DateTimeField(
                    help_text=_("When the token stops working (API_TOKEN_DAYS after it was "
                                "issued); then ask for a new one.")),
            }),
            400: OpenApiResponse(description=_("Missing fields or wrong credentials.")),
            429: OpenApiResponse(description=_("Locked out after repeated failures, or "
                                               "throttled.")),
        },
        description=_("Exchange a username and password for an API token. The same token "
                      "comes back until it expires, then a new one."),
        auth=[],
    )
    def post(self, request):
        credentials = TokenRequestSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        user = authenticate(request=request, **credentials.validated_data)
        # axes marks the request it was given (this DRF request), so the check is ours.
        if getattr(request, "axes_locked_out", False):
            cool_off = get_cool_off(request)
            response = Response(
                {"detail": gettext("Too many failed logins, to this account or from this "
                                   "address: logging in is locked for a while. Try again "
                                   "later, or ask an administrator.")},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
            if cool_off:
                response["Retry-After"] = str(int(cool_off.total_seconds()))
            return response
        if user is None or not user.is_active:
            raise serializers.ValidationError(
                {"non_field_errors": [gettext("Unable to log in with these credentials.")]}
            )
        token = api_token_issue(user=user)
        return Response({"token": token.key, "expires": token_expires_at(token)})

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description=_("The token is deleted: it no longer works.")),
            401: OpenApiResponse(description=_("No token, or an unknown or expired one.")),
        },
        description=_("Revoke the API token this request is authenticated with. Ask for a new "
                      "one with POST."),
    )
    def delete(self, request):
        request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
