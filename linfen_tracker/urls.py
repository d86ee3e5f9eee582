from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("linfen_tracker.api_urls")),
    # The import page's `sessions/import/` goes above this include.
    path("sessions/import/", include("sessions_app.import_urls")),
    path("sessions/", include("sessions_app.urls")),
    path("notifications/", include("notifications.urls")),
    path("", include("rankings.urls")),
]

handler403 = "linfen_tracker.views.permission_denied"
handler404 = "linfen_tracker.views.page_not_found"
handler500 = "linfen_tracker.views.server_error"
