"""URLs of the REST API v1, mounted at /api/v1/ (design.md, "HTTP")."""

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter

from notifications.api import NotificationViewSet, WebhookViewSet
from rankings.api import (
    HolidayPublicationsView,
    HolidayPublishView,
    HolidayReportXlsxView,
    PublicationDiffView,
    RankingsExportView,
    RankingsView,
    TargetViewSet,
)
from sessions_app.api import (
    CountyViewSet,
    HolidayViewSet,
    LivestreamSessionViewSet,
    OfficialViewSet,
)

from .auth_views import AuthTokenView

app_name = "api"

router = SimpleRouter()
router.register("counties", CountyViewSet, basename="county")
router.register("officials", OfficialViewSet, basename="official")
router.register("holidays", HolidayViewSet, basename="holiday")
router.register("sessions", LivestreamSessionViewSet, basename="session")
router.register("targets", TargetViewSet, basename="target")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("webhooks", WebhookViewSet, basename="webhook")

# The schema and its docs describe what a logged-in user may call: like every endpoint but
# the token one, they are closed to anonymous visitors. Swagger UI comes from the sidecar's
# static files (settings: SWAGGER_UI_DIST = "SIDECAR"), not a CDN.
_docs_access = {"permission_classes": [IsAuthenticated]}


class SwaggerDocsView(SpectacularSwaggerSplitView):
    """Swagger UI. The split view serves its start-up script from the same URL (`?script`)
    instead of inline, so the page passes the Content-Security-Policy as it is."""

    def options(self, request, *args, **kwargs):
        # DRF answers OPTIONS with JSON metadata, which this view's only renderer (an HTML
        # template) cannot render: a 500. Say what the page allows, as Django views do.
        return HttpResponse(headers={"Allow": ", ".join(self.allowed_methods)})

urlpatterns = [
    path("auth/token/", AuthTokenView.as_view(), name="auth-token"),
    path("rankings/", RankingsView.as_view(), name="rankings"),
    path("rankings/export/", RankingsExportView.as_view(), name="rankings-export"),
    # A holiday's publications and report (rankings' views on the holidays' URLs).
    path("holidays/<str:key>/publish/", HolidayPublishView.as_view(), name="holiday-publish"),
    path("holidays/<str:key>/publications/", HolidayPublicationsView.as_view(),
         name="holiday-publications"),
    path("holidays/<str:key>/publications/<int:revision>/diff/", PublicationDiffView.as_view(),
         name="holiday-publication-diff"),
    path("holidays/<str:key>/report.xlsx", HolidayReportXlsxView.as_view(),
         name="holiday-report-xlsx"),
    path("schema/", SpectacularAPIView.as_view(**_docs_access), name="schema"),
    path("docs/", SwaggerDocsView.as_view(url_name="api:schema", **_docs_access), name="docs"),
    *router.urls,
]
