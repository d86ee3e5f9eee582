"""Webhooks and their delivery log for administrators (superusers only), with a "send test"
action; notifications and runs read-only, for looking into what was sent."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Notification, NotificationRun, Webhook, WebhookDelivery, WebhookEvent


class SuperuserOnly:
    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser


class ReadOnly:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DeliveryInline(ReadOnly, admin.TabularInline):
    model = WebhookDelivery
    fields = ("created_at", "event", "test", "status", "attempts", "response_code",
              "last_error", "delivered_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    ordering = ("-id",)
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        # The newest 20 here; the whole log is under "webhook deliveries".
        ids = super().get_queryset(request).order_by("-id").values_list("id", flat=True)[:20]
        return WebhookDelivery.objects.filter(id__in=list(ids)).order_by("-id")


class WebhookForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=WebhookEvent.choices, label=_("events"),
                                       widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Webhook
        fields = ("name", "url", "secret", "events", "format", "language", "active")
        widgets = {"secret": forms.PasswordInput(render_value=True)}

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                services.webhook_validate(webhook=self.instance)
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(Webhook)
class WebhookAdmin(SuperuserOnly, admin.ModelAdmin):
    form = WebhookForm
    list_display = ("name", "url", "format", "language", "active", "created_at")
    list_filter = ("format", "active")
    search_fields = ("name", "url")
    inlines = [DeliveryInline]
    actions = ["send_test"]
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        # The same rules as the API's (the address check included), in the service.
        services.webhook_save(webhook=obj, user=request.user)

    @admin.action(description=_("Send a test message"))
    def send_test(self, request, queryset):
        for webhook in queryset:
            services.webhook_test_send(webhook=webhook)
        self.message_user(request, _("Test messages queued: see the delivery log."),
                          messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(SuperuserOnly, ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "webhook", "event", "test", "status", "attempts",
                    "response_code", "last_attempt_at")
    list_filter = ("status", "event", "test", "webhook")
    readonly_fields = ("webhook", "event", "holiday", "test", "status", "attempts",
                       "response_code", "last_error", "created_at", "last_attempt_at",
                       "delivered_at", "payload")
    list_select_related = ("webhook",)
    actions = ["send_again"]

    @admin.action(description=_("Send again"))
    def send_again(self, request, queryset):
        ids = list(queryset.values_list("id", flat=True))
        services.deliveries_send_again(delivery_ids=ids)
        self.message_user(request, _("Queued again."), messages.SUCCESS)


@admin.register(NotificationRun)
class NotificationRunAdmin(SuperuserOnly, ReadOnly, admin.ModelAdmin):
    list_display = ("snapshot_id", "holiday", "previous_snapshot_id", "created_at",
                    "notifications", "deliveries", "duration_ms")
    list_filter = ("holiday",)


@admin.register(Notification)
class NotificationAdmin(SuperuserOnly, ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "holiday", "in_site", "read_at",
                    "email_status")
    list_filter = ("kind", "email_status", "in_site")
    search_fields = ("user__username",)
    list_select_related = ("user", "holiday")
    raw_id_fields = ("user", "session", "official", "county", "other_official", "target")
