from django.urls import path

from . import views

urlpatterns = [
    path("", views.notification_list, name="notification_list"),
    path("<int:pk>/read/", views.notification_read, name="notification_read"),
    path("read-all/", views.notifications_read_all, name="notifications_read_all"),
    path("settings/", views.notification_settings, name="notification_settings"),
]
