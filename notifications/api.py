"""REST API v1 of notifications (the user's own) and webhooks (superusers).

`notifications/`: list and read the requesting user's notifications, mark one or all read,
read and set their channels per kind. `webhooks/`: register, change and delete webhooks, send
a test message, read the delivery log.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from linfen_tracker.api import DescribedModelSerializer, DescribedSerializer
from linfen_tracker.choices import ChoiceField

from . import selectors, services
from .messages import notification_link, notification_text
from .models import Channel, Kind, Notification, Webhook, WebhookDelivery, WebhookEvent


class IsSuperuser(BasePermission):
    """Webhooks send our data to other hosts: only administrators register them."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated
                    and request.user.is_superuser)


# --- Notifications ----------------------------------------------------------------------------


class NotificationSerializer(DescribedModelSerializer):
    message = serializers.SerializerMethodField(help_text=_("What happened, in the request's "
                                                            "language."))
    url = serializers.SerializerMethodField(help_text=_("The page it is about."))
    unread = serializers.BooleanField(read_only=True, help_text=_("Not read yet."))

    class Meta:
        model = Notification
        fields = ["id", "kind", "holiday", "message", "url", "data", "created_at", "read_at",
                  "unread"]
        read_only_fields = fields
        extra_kwargs = {
            "kind": {"help_text": _("What it is about.")},
            "data": {"help_text": _("Details of a session event or publication (reason, "
                                    "revision).")},
            "created_at": {"help_text": _("When it was made.")},
            "read_at": {"help_text": _("When the user read it; null while unread.")},
        }

    def get_message(self, obj) -> str:
        return notification_text(obj)

    def get_url(self, obj) -> str:
        return notification_link(obj)


class MarkedReadSerializer(DescribedSerializer):
    marked = serializers.IntegerField(help_text=_("How many were marked read."))
    unread = serializers.IntegerField(help_text=_("Unread notifications left."))


class PreferenceSerializer(DescribedSerializer):
    kind = ChoiceField(choices=Kind.choices, help_text=_("Kind of notification."))
    channel = ChoiceField(choices=Channel.choices, help_text=_("site or email."))
    enabled = serializers.BooleanField(help_text=_("Whether the user is told this way."))


class PreferencesSerializer(DescribedSerializer):
    language = ChoiceField(choices=[("zh-hans", "zh-hans"), ("en", "en")], required=False,
                           help_text=_("Language of the emails."))
    preferences = PreferenceSerializer(many=True, help_text=_("Kind x channel choices."))


def _id(description) -> OpenApiParameter:
    return OpenApiParameter("id", int, OpenApiParameter.PATH, description=description)


_NOTIFICATION_ID = _id(_("Notification id."))
_WEBHOOK_ID = _id(_("Webhook id."))
_UNREAD = OpenApiParameter("unread", bool, description=_("true: unread only; false: read "
                                                         "only."))


@extend_schema_view(
    list=extend_schema(description=_("The requesting user's notifications, newest first."),
                       parameters=[_UNREAD]),
    retrieve=extend_schema(description=_("One of the user's notifications."),
                           parameters=[_NOTIFICATION_ID]),
)
class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated]
    filter_backends = []
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        unread = {"true": True, "1": True, "false": False, "0": False}.get(
            self.request.query_params.get("unread", "").lower())
        return selectors.notification_list(user=self.request.user, unread=unread)

    @extend_schema(request=None, responses=MarkedReadSerializer, parameters=[_NOTIFICATION_ID],
                   description=_("Mark one notification read."))
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        if not services.notification_mark_read(user=request.user, notification_id=int(pk)):
            raise NotFound()
        return Response({"marked": 1, "unread": selectors.unread_count(user=request.user)})

    @extend_schema(request=None, responses=MarkedReadSerializer,
                   description=_("Mark all of the user's notifications read."))
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        marked = services.notifications_mark_all_read(user=request.user)
        return Response({"marked": marked, "unread": 0})

    @extend_schema(methods=["GET"], responses=PreferencesSerializer,
                   description=_("The user's channels per kind and email language."))
    @extend_schema(methods=["PUT"], request=PreferencesSerializer,
                   responses=PreferencesSerializer,
                   description=_("Set channels per kind (those given) and the email "
                                 "language."))
    @action(detail=False, methods=["get", "put"])
    def preferences(self, request):
        if request.method == "PUT":
            payload = PreferencesSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            data = payload.validated_data
            services.preferences_save(
                user=request.user, language=data.get("language"),
                choices={(p["kind"], p["channel"]): p["enabled"] for p in data["preferences"]})
        chosen = selectors.preferences_get(user=request.user)
        return Response({
            "language": selectors.email_language_get(user=request.user),
            "preferences": [{"kind": k, "channel": c, "enabled": on}
                            for (k, c), on in chosen.items()],
        })


# --- Webhooks ---------------------------------------------------------------------------------


class WebhookSerializer(DescribedModelSerializer):
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200,
        help_text=_("Generic: the signing key (required). DingTalk: the robot's signing "
                    "secret, if any. Never returned."))
    events = serializers.ListField(
        child=ChoiceField(choices=WebhookEvent.choices), allow_empty=False,
        help_text=_("Events to deliver."))
    has_secret = serializers.SerializerMethodField(help_text=_("Whether a secret is set."))

    class Meta:
        model = Webhook
        fields = ["id", "name", "url", "secret", "has_secret", "events", "format", "language",
                  "active", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {
            "url": {"help_text": _("Where deliveries are posted (http or https).")},
            "format": {"help_text": _("generic (signed JSON), dingtalk or wecom.")},
            "language": {"help_text": _("Language of robot messages.")},
            "name": {"help_text": _("Name shown in the admin.")},
            "active": {"help_text": _("Whether deliveries are made.")},
            "created_at": {"help_text": _("When it was registered.")},
        }

    def get_has_secret(self, obj) -> bool:
        return bool(obj.secret)


class WebhookDeliverySerializer(DescribedModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhook", "event", "holiday", "test", "status", "attempts",
                  "response_code", "last_error", "created_at", "last_attempt_at",
                  "delivered_at", "payload"]
        read_only_fields = fields
        extra_kwargs = {
            "webhook": {"help_text": _("Webhook id.")},
            "event": {"help_text": _("The event delivered (test for a test message).")},
            "test": {"help_text": _("A test message.")},
            "status": {"help_text": _("pending, retrying, succeeded or failed.")},
            "attempts": {"help_text": _("Attempts made.")},
            "response_code": {"help_text": _("HTTP status of the last attempt.")},
            "last_error": {"help_text": _("What went wrong last, if anything.")},
            "created_at": {"help_text": _("When it was queued.")},
            "last_attempt_at": {"help_text": _("When it was last tried.")},
            "delivered_at": {"help_text": _("When it succeeded.")},
            "payload": {"help_text": _("The event as sent in the generic format.")},
        }


@extend_schema_view(
    list=extend_schema(description=_("Registered webhooks (superusers).")),
    retrieve=extend_schema(description=_("One webhook."), parameters=[_WEBHOOK_ID]),
    create=extend_schema(description=_("Register a webhook. Its URL must resolve to public "
                                       "addresses unless WEBHOOK_ALLOW_PRIVATE=1.")),
    update=extend_schema(description=_("Change a webhook."), parameters=[_WEBHOOK_ID]),
    partial_update=extend_schema(description=_("Change some of a webhook's fields."),
                                 parameters=[_WEBHOOK_ID]),
    destroy=extend_schema(description=_("Delete a webhook and its delivery log."),
                          parameters=[_WEBHOOK_ID]),
)
class WebhookViewSet(viewsets.ModelViewSet):
    queryset = Webhook.objects.all()
    serializer_class = WebhookSerializer
    permission_classes = [IsSuperuser]
    filter_backends = []
    lookup_value_regex = "[0-9]{1,18}"

    def perform_create(self, serializer) -> None:
        serializer.instance = services.webhook_save(
            webhook=Webhook(), data=dict(serializer.validated_data), user=self.request.user)

    def perform_update(self, serializer) -> None:
        services.webhook_save(webhook=serializer.instance, data=dict(serializer.validated_data))

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer},
                   parameters=[_WEBHOOK_ID],
                   description=_("Send a test message; the delivery shows the outcome."))
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = services.webhook_test_send(webhook=self.get_object())
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=WebhookDeliverySerializer(many=True), parameters=[_WEBHOOK_ID],
                   description=_("The webhook's delivery log, newest first."))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        qs = self.get_object().deliveries.order_by("-id")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
