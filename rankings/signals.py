"""What bumps the `rankings` generation besides session writes and recomputes (which bump it
in their services): any saved or deleted holiday (name, dates, the default holiday),
county or official (names on the boards) and snapshot (admin or pruning)."""

from django.db.models.signals import post_delete, post_save

from linfen_tracker.generations import RANKINGS, generation_bump


def _bump_rankings(sender, **kwargs) -> None:
    generation_bump(RANKINGS)


def connect_signals() -> None:
    from sessions_app.models import County, Holiday, Official

    from .models import RankingSnapshot

    for model in (Holiday, County, Official, RankingSnapshot):
        for signal in (post_save, post_delete):
            signal.connect(_bump_rankings, sender=model,
                           dispatch_uid=f"rankings-gen-{signal}-{model._meta.label}")
