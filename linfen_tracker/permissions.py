"""What API clients may do: decided by model permissions, never by group names
(authentication is linfen_tracker/authentication.py, the token endpoint auth_views.py).

The `city_staff` group carries view/add/change/delete on counties, officials, holidays and
sessions; `officials` carries view only (migration sessions_app/0003). A user with neither
is authenticated but may read nothing.
"""

from rest_framework.permissions import BasePermission, DjangoModelPermissions

VIEW_SESSIONS = "sessions_app.view_livestreamsession"
CHANGE_SESSIONS = "sessions_app.change_livestreamsession"


class ModelRolePermissions(DjangoModelPermissions):
    """DjangoModelPermissions that also requires `view_<model>` to read."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class CanViewSessions(BasePermission):
    """Rankings and summaries are figures about sessions: reading them needs view on sessions."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(VIEW_SESSIONS))


class CanAuditSessions(BasePermission):
    """The audit history is for the people who correct sessions (change permission)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(CHANGE_SESSIONS))


REVIEW_SESSIONS = "sessions_app.review_livestreamsession"


class CanReviewSessions(BasePermission):
    """Verifying and rejecting sessions is for reviewers (city staff); the four-eyes rule
    (not one's own entry or change) is the service's."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(REVIEW_SESSIONS))
class CanUseEvidence(BasePermission):
    """Evidence files are part of a session: whoever may view sessions may list and fetch
    them; whoever may change sessions (city staff) may add and delete them."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return user.has_perm(VIEW_SESSIONS)
        return user.has_perm(CHANGE_SESSIONS)
