"""The API token endpoint: a username and password for the user's token."""

from axes.helpers import get_cool_off
from django.contrib.auth import authenticate
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .throttling import AnonFixedWindowThrottle


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text=_("Username."))
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, style={"input_type": "password"},
        help_text=_("Password."),
    )


class AuthTokenView(APIView):
    """Exchange a username and password for the user's API token.

    `authenticate()` gets the request, as django-axes needs: failed attempts count towards
    the lockout, and a locked-out user gets 429 (never their token, even with the right
    password) until the cool-off ends.
    """

    # No session authentication here: a browser's session would demand a CSRF token, and
    # the credentials in the body are the whole point.
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonFixedWindowThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: inline_serializer("AuthToken", {"token": serializers.CharField(
                help_text=_("Send it as `Authorization: Token <token>`."))}),
            400: OpenApiResponse(description=_("Missing fields or wrong credentials.")),
            429: OpenApiResponse(description=_("Locked out after repeated failures, or "
                                               "throttled.")),
        },
        description=_("Exchange a username and password for an API token."),
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
                {"detail": gettext("Too many failed logins: this account is locked for a "
                                   "while. Try again later, or ask an administrator.")},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
            if cool_off:
                response["Retry-After"] = str(int(cool_off.total_seconds()))
            return response
        if user is None or not user.is_active:
            raise serializers.ValidationError(
                {"non_field_errors": [gettext("Unable to log in with these credentials.")]}
            )
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
