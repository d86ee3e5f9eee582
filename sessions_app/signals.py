"""What bumps the `reference` generation: any saved or deleted county, official or holiday
(names, poverty-relief flags, dates), so every holiday's cached summary and charts are
rebuilt on their next read (linfen_tracker/generations.py)."""

from django.db.models.signals import post_delete, post_save

from linfen_tracker.generations import REFERENCE, generation_bump


def _bump_reference(sender, **kwargs) -> None:
    generation_bump(REFERENCE)


def connect_signals() -> None:
    from .models import County, Holiday, Official

    for model in (County, Official, Holiday):
        for signal in (post_save, post_delete):
            signal.connect(_bump_reference, sender=model,
                           dispatch_uid=f"reference-gen-{signal}-{model._meta.label}")
