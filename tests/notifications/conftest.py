"""Constructed snapshots: boards written directly, so each test states the two boards it
compares."""

from decimal import Decimal

import pytest
from django.utils import timezone

from rankings.entries import entry_partition_create
from rankings.models import RankingEntry, RankingSnapshot

from ..factories import OfficialFactory, UserFactory


def snapshot_make(holiday, boards: dict, *, counties: dict | None = None) -> RankingSnapshot:
    """A complete snapshot whose official boards are `boards` ({metric: {official: value}})
    and county boards `counties` ({metric: {county: value}}), ranked 1, 2, 2, 4."""
    snapshot = RankingSnapshot.objects.create(
        holiday=holiday, computed_at=timezone.now(), data_version=0, complete=True)
    rows = []
    for scope, by_metric in (("official", boards), ("county", counties or {})):
        for metric, values in by_metric.items():
            ordered = sorted(values.items(), key=lambda kv: -Decimal(kv[1]))
            for subject, value in ordered:
                rank = 1 + sum(1 for _s, v in ordered if Decimal(v) > Decimal(value))
                rows.append(RankingEntry(
                    snapshot=snapshot, scope=scope, metric=metric, value=Decimal(value),
                    rank=rank, sessions=1,
                    official=subject if scope == "official" else None,
                    county=subject if scope == "county" else None))
    entry_partition_create(snapshot.pk)  # on PostgreSQL, the snapshot's own partition
    RankingEntry.objects.bulk_create(rows)
    return snapshot


@pytest.fixture
def officials(db):
    """Officials A..L (12), each with a linked user account with an email address."""
    made = {}
    for letter in "ABCDEFGHIJKL":
        user = UserFactory(username=f"official-{letter.lower()}",
                           email=f"{letter.lower()}@example.org", group="officials")
        made[letter] = OfficialFactory(name=f"Official {letter}", user=user)
    return made
