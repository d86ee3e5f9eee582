"""Create the role groups: `city_staff` write sessions, officials, holidays and counties;
`officials` read them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = ["county", "official", "holiday", "livestreamsession"]
ROLES = {
    "city_staff": ["view", "add", "change", "delete"],
    "officials": ["view"],
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; make them exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    assign_permissions(apps)


def assign_permissions(apps) -> None:
    """Create the groups and give them their permissions (which must exist)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, actions in ROLES.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        codenames = [f"{action}_{model}" for model in MODELS for action in actions]
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="sessions_app", codename__in=codenames
            )
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0002_load_linfen_divisions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
