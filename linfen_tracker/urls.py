from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Django's auth URLs less the password reset, which would mail through whatever
    # EMAIL_HOST says: the app sends no mail, and staff reset passwords in the admin.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(),
         name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(),
         name="password_change_done"),
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
