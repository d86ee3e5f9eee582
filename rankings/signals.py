"""What bumps the `rankings` generation besides session writes and recomputes (which bump it
in their services): any saved or deleted holiday (name, dates, the default holiday), county
or official (names on the boards), and any deleted snapshot (from a shell, or with its
holiday). Saved snapshots need no receiver: only the recompute saves them, and it bumps once
it has also written `ranked_version`, which a bump at the snapshot's commit would precede."""

from django.db.models.signals import post_delete, post_save

from linfen_tracker.generations import RANKINGS, generation_bump


def _bump_rankings(sender, **kwargs) -> None:
    generation_bump(RANKINGS)


def connect_signals() -> None:
    from sessions_app.models import County, Holiday, Official

    from .models import RankingSnapshot

    receivers = [(signal, model) for model in (Holiday, County, Official)
                 for signal in (post_save, post_delete)]
    for signal, model in [*receivers, (post_delete, RankingSnapshot)]:
        signal.connect(_bump_rankings, sender=model,
                       dispatch_uid=f"rankings-gen-{signal}-{model._meta.label}")
