"""City leadership (`city_leads`) publishes a holiday's rankings and reads what officials
read; superusers may too (they have every permission). Reading the published revisions
needs only what reading the rankings needs (view sessions)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "city_leads"
PUBLISH = ["add_publication", "view_publication"]
READ = {"sessions_app": ["view_county", "view_official", "view_holiday",
                         "view_livestreamsession"],
        "rankings": ["view_target"]}


def assign_permissions(apps) -> None:
    """Create the group and give it its permissions (which must exist)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="rankings",
                                                     codename__in=PUBLISH))
    for app_label, codenames in READ.items():
        group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label,
                                                         codename__in=codenames))


def grant(apps, schema_editor):
    for app_label in ("sessions_app", "rankings"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    assign_permissions(apps)


def revoke(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rankings", "0009_publications"),
        ("rankings", "0006_target_permissions"),
        ("sessions_app", "0008_reviewers"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
