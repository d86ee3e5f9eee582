from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("holidays/<slug:slug>/", views.dashboard, name="holiday_dashboard"),
    path("holidays/<slug:slug>/screen/", views.screen, name="holiday_screen"),
    path("holidays/<slug:slug>/screen/state/", views.screen_state, name="holiday_screen_state"),
    path("holidays/<slug:slug>/screen/content/", views.screen_content,
         name="holiday_screen_content"),
    path("holidays/<slug:slug>/publish/", views.publish_page, name="holiday_publish"),
    path("holidays/<slug:slug>/publications/", views.publications_page,
         name="holiday_publications"),
    path("holidays/<slug:slug>/publications/<int:revision>/", views.publication_diff_page,
         name="holiday_publication_diff"),
    path("holidays/<slug:slug>/report/", views.report_page, name="holiday_report"),
    path("officials/<int:pk>/", views.official_detail, name="official_detail"),
    path("targets/import/", views.targets_import_page, name="targets_import"),
]
