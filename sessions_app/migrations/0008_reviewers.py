"""City staff verify and reject sessions (four eyes: never their own); officials may not."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REVIEW = "review_livestreamsession"
REVIEWERS = ["city_staff"]


def grant(apps, schema_editor=None):
    # Permissions are normally created after all migrations; make this one exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    assign_permissions(apps)


def assign_permissions(apps) -> None:
    """Give the reviewing groups the review permission (which must exist)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="sessions_app", codename=REVIEW)
    for name in REVIEWERS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="sessions_app", codename=REVIEW).delete()


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0007_refunds_status_ranking_basis")]
    operations = [migrations.RunPython(grant, revoke)]
