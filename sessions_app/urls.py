from django.urls import path

from . import views
from .evidence import views as evidence_views

urlpatterns = [
    path("", views.session_list_page, name="session_list"),
    path("new/", views.session_create_page, name="session_create"),
    path("<int:pk>/edit/", views.session_edit_page, name="session_edit"),
    path("<int:pk>/delete/", views.session_delete_page, name="session_delete"),
    path("<int:pk>/reject/", views.session_reject_page, name="session_reject"),
    path("<int:pk>/verify/", views.session_verify_page, name="session_verify"),
    path("review/", views.session_review_bulk, name="session_review_bulk"),
    path("queue/", views.review_queue_page, name="review_queue"),
    path("<int:pk>/flags/<slug:code>/dismiss/", views.session_flag_dismiss_page,
         name="session_flag_dismiss"),
    path("<int:pk>/evidence/", evidence_views.session_evidence_page, name="session_evidence"),
    path("<int:pk>/evidence/<int:evidence_id>/", evidence_views.evidence_file_page,
         name="evidence_file"),
    path("<int:pk>/evidence/<int:evidence_id>/thumbnail/", evidence_views.evidence_thumbnail_page,
         name="evidence_thumbnail"),
    path("<int:pk>/evidence/<int:evidence_id>/delete/", evidence_views.evidence_delete_page,
         name="evidence_delete"),
]
