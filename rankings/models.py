"""Ranking snapshots: the leaderboards of a holiday as computed at one moment.

A snapshot and all its entries are written in one transaction, so readers see either the
previous complete snapshot or the new one, never a half-written one.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from sessions_app.models import County, Holiday, Official, RankingBasis


class Scope(models.TextChoices):
    OFFICIAL = "official", _("Officials")
    COUNTY = "county", _("Counties")


class RankingSnapshotQuerySet(models.QuerySet):
    def complete(self) -> "RankingSnapshotQuerySet":
        return self.filter(complete=True)

    def latest_for(self, holiday_id: int) -> "RankingSnapshot | None":
        return self.complete().filter(holiday_id=holiday_id).order_by("-id").first()


class RankingSnapshot(models.Model):
    holiday = models.ForeignKey(
        Holiday, on_delete=models.CASCADE, related_name="ranking_snapshots",
        verbose_name=_("holiday"),
    )
    computed_at = models.DateTimeField(_("computed at"))
    # The holiday's data_version read before the aggregates: every write up to it is counted.
    data_version = models.PositiveBigIntegerField(_("data version"))
    sessions = models.PositiveIntegerField(_("sessions covered"), default=0)
    complete = models.BooleanField(_("complete"), default=False)
    duration_ms = models.PositiveIntegerField(_("computation time (ms)"), default=0)
    # The holiday's composite weights and tie style when the snapshot was made: a board
    # states the formula it was computed with, even after staff change the weights.
    composite_weights = models.JSONField(_("composite weights"), default=dict, blank=True)
    tie_style = models.CharField(_("tie style"), max_length=12, default="competition")

    objects = RankingSnapshotQuerySet.as_manager()

    class Meta:
        verbose_name = _("ranking snapshot")
        verbose_name_plural = _("ranking snapshots")
        ordering = ["-id"]
        indexes = [models.Index(fields=["holiday", "complete", "-id"], name="snapshot_latest_idx")]

    def __str__(self) -> str:
        return f"{self.holiday} @ {self.computed_at:%Y-%m-%d %H:%M:%S}"


class RankingEntry(models.Model):
    # Entries are derived rows written by one INSERT ... SELECT that reads the subjects it
    # references, so database-level foreign keys would only add a trigger check per row
    # (three per entry, tens of thousands per recompute). Django still cascades deletes.
    # Single-column indexes are left out where a composite index below starts with the column.
    snapshot = models.ForeignKey(
        RankingSnapshot, on_delete=models.CASCADE, related_name="entries",
        db_constraint=False, db_index=False,
    )
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices)
    # A key of the metric registry (rankings/metrics.py) or "composite".
    metric = models.CharField(_("metric"), max_length=20)
    official = models.ForeignKey(
        Official, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        db_constraint=False, db_index=False,
    )
    county = models.ForeignKey(
        County, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        db_constraint=False, db_index=False,
    )
    # Wide enough for any holiday's sum: per-session figures are at most 10^12
    # (sessions_app/validators.py), so even 2^63 sessions stay under 10^32.
    # NULL: a ratio whose denominator is 0, or an optional figure nobody reported (ranked
    # last).
    value = models.DecimalField(_("value"), max_digits=38, decimal_places=2, null=True)
    rank = models.PositiveIntegerField(_("rank"))
    sessions = models.PositiveIntegerField(_("sessions"))
    # The composite score's entries: {metric: the subject's value / the best in its scope}.
    components = models.JSONField(_("components"), null=True, blank=True)
    # The rank in the board's movement baseline (the last published revision, else the
    # previous day's last snapshot: selectors.movement_baseline), set by whoever reads the
    # board; None when the subject was not ranked there. Not stored: a snapshot's arrows
    # depend on what is published later, and notifications join two snapshots themselves.
    previous_rank: int | None = None

    class Meta:
        verbose_name = _("ranking entry")
        verbose_name_plural = _("ranking entries")
        indexes = [
            # The only index: each one costs every recompute an index insert per entry (a
            # second one on (official, snapshot) added 110 ms at 10,000 officials). An
            # official's page reads few snapshots through this one's prefix. On PostgreSQL
            # not even the primary key's index on `id` is kept (migration 0012: Django
            # still treats `id` as the key; every read finds entries by their board), so
            # an AlterField of `id` must restore that constraint first.
            models.Index(fields=["snapshot", "scope", "metric", "rank"], name="entry_board_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="official", official__isnull=False, county__isnull=True)
                    | Q(scope="county", county__isnull=False, official__isnull=True)
                ),
                name="entry_subject_matches_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.scope}/{self.metric}"


class Target(models.Model):
    """A goal set by city staff for an official or a county on one metric of one holiday.

    Progress is read from the holiday's latest complete snapshot (rankings/targets.py), so a
    target needs no upkeep when sessions change.
    """

    holiday = models.ForeignKey(
        Holiday, on_delete=models.CASCADE, related_name="targets", verbose_name=_("holiday")
    )
    official = models.ForeignKey(
        Official, on_delete=models.CASCADE, null=True, blank=True, related_name="targets",
        verbose_name=_("official"),
    )
    county = models.ForeignKey(
        County, on_delete=models.CASCADE, null=True, blank=True, related_name="targets",
        verbose_name=_("county"),
    )
    metric = models.CharField(_("metric"), max_length=20)
    value = models.DecimalField(
        _("target value"), max_digits=20, decimal_places=2,
        help_text=_("The sum to reach over the holiday: a count, or yuan for revenue."),
        validators=[MinValueValidator(Decimal("0.01"),
                                      message=_("A target must be greater than zero."))],
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("set by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["holiday", "metric", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(official__isnull=False, county__isnull=True)
                           | Q(official__isnull=True, county__isnull=False)),
                name="target_one_subject",
                violation_error_message=_("Give either an official or a county, not both."),
            ),
            models.CheckConstraint(
                condition=Q(value__gt=0), name="target_value_positive",
                violation_error_message=_("A target must be greater than zero."),
            ),
            models.UniqueConstraint(
                fields=["holiday", "official", "metric"], condition=Q(official__isnull=False),
                name="target_unique_official_metric",
                violation_error_message=_(
                    "This official already has a target on this metric for this holiday."),
            ),
            models.UniqueConstraint(
                fields=["holiday", "county", "metric"], condition=Q(county__isnull=False),
                name="target_unique_county_metric",
                violation_error_message=_(
                    "This county already has a target on this metric for this holiday."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} · {self.metric} ≥ {self.value}"

    @property
    def scope(self) -> str:
        return Scope.OFFICIAL if self.official_id else Scope.COUNTY

    @property
    def subject(self):
        return self.official if self.official_id else self.county

    def get_metric_label(self) -> str:
        from .targets import metric_label

        return metric_label(self.metric)

    def clean(self) -> None:
        from .targets import target_metrics

        errors = {}
        if self.metric and self.metric not in target_metrics():
            errors["metric"] = _("Unknown metric: use %(choices)s.") % {
                "choices": ", ".join(target_metrics())}
        if bool(self.official_id) == bool(self.county_id):
            errors["official"] = _("Give either an official or a county, not both.")
        if errors:
            raise ValidationError(errors)


class Publication(models.Model):
    """A holiday's rankings as the city published them: revision 1, 2, ... of the holiday,
    each naming the complete snapshot it made official, who published it, when and why.

    Written only by `services.holiday_publish`, never changed afterwards; its snapshot is
    never pruned (`services._prune`) and cannot be deleted while it is published (RESTRICT:
    only with its holiday).
    """

    holiday = models.ForeignKey(
        Holiday, on_delete=models.CASCADE, related_name="publications",
        verbose_name=_("holiday"),
    )
    revision = models.PositiveIntegerField(_("revision"))
    snapshot = models.ForeignKey(
        RankingSnapshot, on_delete=models.RESTRICT, related_name="publications",
        verbose_name=_("ranking snapshot"),
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("published by"),
    )
    published_at = models.DateTimeField(_("published at"))
    note = models.TextField(_("note"), blank=True, default="")
    # The holiday's ranking basis when published: a later change of basis does not change
    # what this revision counted.
    ranking_basis = models.CharField(_("ranking basis"), max_length=20,
                                     choices=RankingBasis.choices)

    class Meta:
        verbose_name = _("publication")
        verbose_name_plural = _("publications")
        ordering = ["holiday", "-revision"]
        constraints = [
            models.UniqueConstraint(fields=["holiday", "revision"],
                                    name="publication_one_per_revision"),
            models.CheckConstraint(condition=Q(revision__gte=1),
                                   name="publication_revision_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.holiday} r{self.revision}"
