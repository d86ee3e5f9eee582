"""What bumps the `auth` generation: any change to who may do what (tokens, users, groups,
permissions and the links between them), so cached token users are dropped everywhere."""

from django.db.models.signals import m2m_changed, post_delete, post_save

from . import generations


def _bump_auth(sender, **kwargs) -> None:
    generations.generation_bump(generations.AUTH)


def _bump_auth_on_m2m(sender, action: str, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        generations.generation_bump(generations.AUTH)


def connect_signals() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    for model in (user_model, Token, Group, Permission):
        for signal in (post_save, post_delete):
            signal.connect(_bump_auth, sender=model,
                           dispatch_uid=f"auth-gen-{signal}-{model._meta.label}")
    for through in (user_model.groups.through, user_model.user_permissions.through,
                    Group.permissions.through):
        m2m_changed.connect(_bump_auth_on_m2m, sender=through,
                            dispatch_uid=f"auth-gen-m2m-{through._meta.label}")
