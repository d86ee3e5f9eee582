from django.urls import path

from . import import_views

app_name = "session_import"

urlpatterns = [
    path("", import_views.import_upload, name="upload"),
    path("<int:batch_id>/", import_views.import_preview, name="preview"),
    path("<int:batch_id>/confirm/", import_views.import_confirm, name="confirm"),
    path("<int:batch_id>/cancel/", import_views.import_cancel, name="cancel"),
]
