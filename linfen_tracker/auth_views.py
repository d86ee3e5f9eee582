"""The API token endpoint: a username and password for the user's token; revoking it."""

from axes.helpers import get_cool_off
from django.contrib.auth import authenticate
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .authentication import CachedTokenAuthentication, api_token_issue, token_expires_at
from .throttling import AnonFixedWindowThrottle, UserFixedWindowThrottle


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
