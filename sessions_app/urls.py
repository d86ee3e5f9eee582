from django.urls import path

from . import views

urlpatterns = [
    path("", views.session_list_page, name="session_list"),
    path("new/", views.session_create_page, name="session_create"),
    path("<int:pk>/edit/", views.session_edit_page, name="session_edit"),
    path("<int:pk>/delete/", views.session_delete_page, name="session_delete"),
    path("<int:pk>/reject/", views.session_reject_page, name="session_reject"),
]
