"""City staff set targets (view, add, change, delete); officials read them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {"city_staff": ["view", "add", "change", "delete"], "officials": ["view"]}


def assign_permissions(apps) -> None:
    """Give the role groups their target permissions (groups and permissions must exist)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, actions in ROLES.items():
        group = Group.objects.filter(name=group_name).first()
        if group is None:
            continue
        group.permissions.add(*Permission.objects.filter(
            content_type__app_label="rankings",
            codename__in=[f"{action}_target" for action in actions]))


def grant(apps, schema_editor):
    app_config = apps.get_app_config("rankings")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    assign_permissions(apps)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="rankings",
                              codename__endswith="_target").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rankings", "0005_targets"),
        ("sessions_app", "0003_role_groups"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
