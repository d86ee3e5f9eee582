"""Counties, officials, holidays and the livestream sessions they host.

The rules on a session and a holiday (sessions_app/validators.py: bounds, years, lengths, end
after start, at most one session of an official at a time on one platform) are field
validators and `clean()`, which give each error on its field, and database constraints,
so that no path can store a bad row even past the model. `services` validates every write
with them.
"""

import secrets
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from linfen_tracker.i18n import localised

from . import validators
from .validators import MESSAGES

# Names and titles end up in exports and charts: no NUL (PostgreSQL refuses it in text) and
# nothing a spreadsheet would run as a formula.
_TEXT_VALIDATORS = [ProhibitNullCharactersValidator(), validators.NoFormulaValidator()]


class County(models.Model):
    class Kind(models.TextChoices):
        DISTRICT = "district", _("District")
        CITY = "city", _("County-level city")
        COUNTY = "county", _("County")

    slug = models.SlugField(_("slug"), max_length=40, unique=True)
    name = models.CharField(_("name (English)"), max_length=80)
    name_zh = models.CharField(_("name (Chinese)"), max_length=40)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    poverty_relief_key = models.BooleanField(
        _("key poverty-relief county"),
        default=False,
        help_text=_("The city decides which counties it reports as key poverty-relief counties."),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("county")
        verbose_name_plural = _("counties")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return localised(english=self.name, chinese=self.name_zh)


class Official(models.Model):
    name = models.CharField(_("name"), max_length=80, validators=_TEXT_VALIDATORS)
    title = models.CharField(
        _("job title"), max_length=80, help_text=_('As used in Chinese, e.g. "县长"'),
        validators=_TEXT_VALIDATORS,
    )
    title_en = models.CharField(
        _("job title (English)"), max_length=80, blank=True, default="", db_default="",
        help_text=_('e.g. "County head"; empty: the job title above in both languages'),
        validators=_TEXT_VALIDATORS,
    )
    county = models.ForeignKey(
        County, on_delete=models.PROTECT, related_name="officials", verbose_name=_("county")
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="official",
        verbose_name=_("user account"),
    )
    active = models.BooleanField(_("active"), default=True)
    # Search keys of the name for the pickers ("hezhiyuan hzy"): written by
    # services.official_save from the name (sessions_app/pinyin.py), never by hand.
    name_pinyin = models.CharField(_("pinyin of the name"), max_length=400, blank=True,
                                   default="", db_default="", editable=False)
    history = HistoricalRecords(excluded_fields=["name_pinyin"])

    class Meta:
        verbose_name = _("official")
        verbose_name_plural = _("officials")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_title})"

    @property
    def display_title(self) -> str:
        """The job title in the page's language (the Chinese one where no English is set)."""
        return localised(english=self.title_en or self.title, chinese=self.title)


class HolidayQuerySet(models.QuerySet):
    def covering(self, day) -> "HolidayQuerySet":
        """Holidays whose inclusive date range contains `day`."""
        return self.filter(start_date__lte=day, end_date__gte=day)


class RankingBasis(models.TextChoices):
    """Which sessions a holiday's rankings, summaries and reports count. Rejected sessions
    never count."""

    ALL_BUT_REJECTED = "all_but_rejected", _("All sessions but rejected ones")
    VERIFIED_ONLY = "verified_only", _("Verified sessions only")


class SessionStatus(models.TextChoices):
    ENTERED = "entered", _("Entered")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")


class TieStyle(models.TextChoices):
    """How a holiday's boards rank equal values: competition (9, 7, 7, 5 -> 1, 2, 2, 4) or
    dense (1, 2, 2, 3)."""

    COMPETITION = "competition", _("Competition (1, 2, 2, 4)")
    DENSE = "dense", _("Dense (1, 2, 2, 3)")


# The statuses each basis counts: the one definition the recompute (raw SQL), the summaries
# and the pages read.
COUNTED_STATUSES = {
    RankingBasis.ALL_BUT_REJECTED: (SessionStatus.ENTERED, SessionStatus.VERIFIED),
    RankingBasis.VERIFIED_ONLY: (SessionStatus.VERIFIED,),
}


class Holiday(models.Model):
    name = models.CharField(_("name (English)"), max_length=80)
    name_zh = models.CharField(
        _("name (Chinese)"), max_length=80, blank=True, default="", db_default="",
        help_text=_('e.g. "2020年劳动节"; empty: the English name in both languages'),
    )
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    start_date = models.DateField(_("first day"), validators=[validators.YearRangeValidator()])
    end_date = models.DateField(
        _("last day"), help_text=_("Inclusive, in Beijing time."),
        validators=[validators.YearRangeValidator()],
    )
    ranking_basis = models.CharField(
        _("ranking basis"), max_length=20, choices=RankingBasis.choices,
        default=RankingBasis.ALL_BUT_REJECTED, db_default=RankingBasis.ALL_BUT_REJECTED,
        help_text=_("Which sessions the rankings, summaries and reports count. Rejected "
                    "sessions never count."),
    )
    tie_style = models.CharField(
        _("tie style"), max_length=12, choices=TieStyle.choices, default=TieStyle.COMPETITION,
        db_default=TieStyle.COMPETITION,
        help_text=_("How equal values share ranks on the boards."),
    )
    composite_weights = models.JSONField(
        _("composite weights"), default=dict, db_default=models.Value({}, models.JSONField()),
        blank=True, validators=[validators.CompositeWeightsValidator()],
        help_text=_('Metric -> weight, e.g. {"revenue": 0.5, "audience": 0.3, "orders": 0.2}; '
                    "empty: no composite score."),
    )
    # Bumped in the same transaction as every session write that touches the holiday; a
    # ranking snapshot records the version it covered, so "stale" survives a lost message.
    data_version = models.PositiveBigIntegerField(default=0, editable=False)
    # Set when a recompute message is on the broker and not yet started: later writes need
    # not send another (bursts coalesce). Cleared when the recompute starts.
    recompute_queued = models.BooleanField(default=False, editable=False)
    # The data_version covered by the latest complete ranking snapshot, written by the
    # recompute in the snapshot's transaction. Rankings are stale while it is behind.
    ranked_version = models.PositiveBigIntegerField(default=0, editable=False)
    # The last recompute that failed, until one succeeds: what went wrong and when, shown to
    # staff (admin, dashboard) so a holiday stuck at "pending" says why.
    rankings_error = models.TextField(_("rankings error"), blank=True, default="",
                                      db_default="", editable=False)
    rankings_failed_at = models.DateTimeField(
        _("rankings failed at"), null=True, blank=True, editable=False
    )
    history = HistoricalRecords(
        excluded_fields=["data_version", "recompute_queued", "ranked_version",
                         "rankings_error", "rankings_failed_at"]
    )

    objects = HolidayQuerySet.as_manager()

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")),
                name="holiday_ends_on_or_after_start",
                violation_error_message=MESSAGES["holiday_order"],
            ),
            models.CheckConstraint(
                condition=Q(
                    end_date__lt=F("start_date") + timedelta(days=validators.MAX_HOLIDAY_DAYS)
                ),
                name="holiday_at_most_max_days",
                violation_error_message=MESSAGES["holiday_length"],
            ),
            models.CheckConstraint(
                condition=Q(start_date__gte=validators.FIRST_DATE,
                            end_date__lte=validators.LAST_DATE),
                name="holiday_dates_in_year_range",
                violation_error_message=MESSAGES["year_range"],
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """The holiday's name in the page's language."""
        return localised(english=self.name, chinese=self.name_zh)

    def clean(self) -> None:
        errors = validators.holiday_dates_check(
            start_date=self.start_date, end_date=self.end_date
        )
        if errors:
            raise ValidationError(errors)

    @property
    def counted_statuses(self) -> tuple[str, ...]:
        """The session statuses the holiday's ranking basis counts. A basis that names
        nothing (written past the model) counts nothing: pages show zeros, and the
        recompute refuses it with a reason staff can see."""
        return tuple(str(status) for status in COUNTED_STATUSES.get(self.ranking_basis, ()))

    @property
    def rankings_stale(self) -> bool:
        return self.ranked_version < self.data_version

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[first instant, instant after the last day) in the project time zone (Beijing),
        within the years sessions may have: a holiday stored before the date rules (year 1,
        year 9999) covers what it can instead of overflowing."""
        tz = timezone.get_default_timezone()
        first, last = self._days_within_rules()
        start = datetime.combine(first, time.min, tzinfo=tz)
        end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
        return start, end

    @property
    def days(self) -> list:
        """Every day of the holiday (within the years sessions may have), in order."""
        first, last = self._days_within_rules()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def _days_within_rules(self):
        first = min(max(self.start_date, validators.FIRST_DATE), validators.LAST_DATE)
        last = max(min(self.end_date, validators.LAST_DATE), first)
        return first, last


class Platform(models.TextChoices):
    DOUYIN = "douyin", _("Douyin")
    KUAISHOU = "kuaishou", _("Kuaishou")
    TAOBAO_LIVE = "taobao_live", _("Taobao Live")
    WECHAT_CHANNELS = "wechat_channels", _("WeChat Channels")
    JD = "jd", _("JD")
    PINDUODUO = "pinduoduo", _("Pinduoduo")
    OTHER = "other", _("Other")


class LivestreamSessionQuerySet(models.QuerySet):
    def in_holiday(self, holiday: Holiday) -> "LivestreamSessionQuerySet":
        """Sessions whose start, in Beijing time, falls on a day of the holiday (inclusive)."""
        start, end = holiday.bounds
        return self.filter(started_at__gte=start, started_at__lt=end)

    def counted_in(self, holiday: Holiday) -> "LivestreamSessionQuerySet":
        """The holiday's sessions its rankings and summaries count: in its days, with a
        status its ranking basis counts (never rejected ones)."""
        return self.in_holiday(holiday).filter(status__in=holiday.counted_statuses)

    def flagged(self, code: str | None = None) -> "LivestreamSessionQuerySet":
        """Sessions with an open (undismissed) anomaly flag; of rule `code` if given."""
        return self.filter(models.Exists(self._open_flags(code)))

    def not_flagged(self) -> "LivestreamSessionQuerySet":
        return self.exclude(models.Exists(self._open_flags(None)))

    @staticmethod
    def _open_flags(code: str | None):
        flags = SessionFlag.objects.filter(session_id=models.OuterRef("pk"),
                                           dismissed_at__isnull=True)
        return flags.filter(code=code) if code else flags

    def with_net_revenue(self) -> "LivestreamSessionQuerySet":
        """Each session's net revenue (revenue - refunds), computed by the database."""
        return self.annotate(net_revenue_sql=F("revenue") - F("refunds"))


class LivestreamSessionManager(models.Manager.from_queryset(LivestreamSessionQuerySet)):
    """Sessions in the years sessions may have (validators.FIRST_YEAR to LAST_YEAR).

    Before that rule, the form stored sessions in year 1, whose UTC time is BC: the database
    driver cannot read such a row back, so every query that returned it failed (lists,
    history, the admin). A row outside the years counts in no holiday anyway; leaving it
    out of every query keeps the pages up, and `manage.py session_rules_check` lists it
    for mending. The rule itself (a constraint since migration 0006) keeps new ones out.
    """

    def get_queryset(self) -> LivestreamSessionQuerySet:
        return super().get_queryset().filter(
            started_at__gte=validators.FIRST_MOMENT, started_at__lt=validators.END_MOMENT
        )


class LivestreamSession(models.Model):
    official = models.ForeignKey(
        Official, on_delete=models.PROTECT, related_name="sessions", verbose_name=_("official")
    )
    # Copied from the official when entered, then kept: an official who moves keeps their old
    # sessions where they were.
    county = models.ForeignKey(
        County, on_delete=models.PROTECT, related_name="sessions", verbose_name=_("county")
    )
    platform = models.CharField(
        _("platform"), max_length=20, choices=Platform.choices,
        error_messages={"invalid_choice": validators.PARSE_MESSAGES["platform_unknown"]},
    )
    title = models.CharField(
        _("title"), max_length=validators.TITLE_MAX_LENGTH, validators=_TEXT_VALIDATORS
    )
    products = models.TextField(
        _("products"), blank=True,
        validators=[MaxLengthValidator(validators.PRODUCTS_MAX_LENGTH), *_TEXT_VALIDATORS],
    )
    started_at = models.DateTimeField(
        _("started at"),
        validators=[validators.YearRangeValidator(), validators.WholeSecondsValidator()],
    )
    ended_at = models.DateTimeField(
        _("ended at"),
        validators=[validators.YearRangeValidator(), validators.WholeSecondsValidator()],
    )
    audience = models.BigIntegerField(
        _("audience"),
        validators=validators.count_validators(),
        help_text=_("Viewer count reported by the platform."),
    )
    orders = models.BigIntegerField(_("orders"), validators=validators.count_validators())
    revenue = models.DecimalField(
        _("revenue (yuan)"),
        max_digits=validators.REVENUE_MAX_DIGITS,
        decimal_places=validators.REVENUE_DECIMAL_PLACES,
        validators=validators.amount_validators(),
    )
    refunded_orders = models.BigIntegerField(
        _("refunded orders"), default=0, db_default=0, validators=validators.count_validators(),
        help_text=_("Orders cancelled or refunded after the show."),
    )
    refunds = models.DecimalField(
        _("refunds (yuan)"), default=Decimal("0.00"), db_default=Decimal("0.00"),
        max_digits=validators.REVENUE_MAX_DIGITS,
        decimal_places=validators.REVENUE_DECIMAL_PLACES,
        validators=validators.amount_validators(),
        help_text=_("Money refunded for those orders."),
    )
    # What the platforms report besides views (optional: not every platform gives them).
    # Where given, peak_viewers <= unique_viewers <= audience (validators.session_viewers_check).
    unique_viewers = models.BigIntegerField(
        _("unique viewers"), null=True, blank=True, validators=validators.count_validators(),
        help_text=_("Distinct viewers the platform reports (optional)."),
    )
    peak_viewers = models.BigIntegerField(
        _("peak viewers"), null=True, blank=True, validators=validators.count_validators(),
        help_text=_("Peak concurrent viewers (optional)."),
    )
    new_followers = models.BigIntegerField(
        _("new followers"), null=True, blank=True, validators=validators.count_validators(),
        help_text=_("Followers gained during the show (optional)."),
    )
    # Other officials who hosted with the lead `official`: each is credited with the
    # session's full figures and one session on the officials' boards; counties and totals
    # count the session once, under its county. Written by the services only.
    hosts = models.ManyToManyField(
        Official, related_name="cohosted_sessions", blank=True, verbose_name=_("co-hosts"),
    )
    # Verification, four eyes (services.session_verify / session_reject): set by those
    # services only, never by an edit, which sends a checked session back to `entered`.
    status = models.CharField(
        _("status"), max_length=10, choices=SessionStatus.choices,
        default=SessionStatus.ENTERED, db_default=SessionStatus.ENTERED, editable=False,
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("checked by"), editable=False,
    )
    verified_at = models.DateTimeField(_("checked at"), null=True, blank=True, editable=False)
    rejection_reason = models.TextField(_("rejection reason"), blank=True, default="",
                                        db_default="", editable=False)
    # Who last changed what the session reports (figures, times, official, county): with
    # entered_by, the people who may not verify or reject it.
    last_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("figures last changed by"), editable=False,
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entered by"),
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Optimistic concurrency: an edit names the version it started from; a stale one is refused.
    version = models.PositiveIntegerField(default=1, editable=False)
    history = HistoricalRecords(m2m_fields=[hosts])

    objects = LivestreamSessionManager()

    class Meta:
        verbose_name = _("livestream session")
        verbose_name_plural = _("livestream sessions")
        ordering = ["-started_at", "id"]
        permissions = [("review_livestreamsession", _("Can verify or reject sessions"))]
        indexes = [models.Index(fields=["started_at"], name="session_started_at_idx")]
        # "At most one session of an official at a time on one platform" is an exclusion
        # constraint on PostgreSQL (migration 0006, not expressible here for every backend);
        # services checks it for every backend (SQLite serialises writers, so the check in
        # the write's transaction is enough there).
        constraints = [
            models.CheckConstraint(
                condition=Q(audience__gte=0),
                name="session_audience_non_negative",
                violation_error_message=MESSAGES["audience_non_negative"],
            ),
            models.CheckConstraint(
                condition=Q(orders__gte=0),
                name="session_orders_non_negative",
                violation_error_message=MESSAGES["orders_non_negative"],
            ),
            models.CheckConstraint(
                condition=Q(audience__lte=validators.MAX_COUNT, orders__lte=validators.MAX_COUNT),
                name="session_counts_at_most_max",
                violation_error_message=MESSAGES["count_max"],
            ),
            models.CheckConstraint(
                condition=Q(revenue__gte=0),
                name="session_revenue_non_negative",
                violation_error_message=MESSAGES["revenue_non_negative"],
            ),
            models.CheckConstraint(
                condition=Q(refunded_orders__gte=0, refunded_orders__lte=F("orders")),
                name="session_refunded_orders_within_orders",
                violation_error_message=MESSAGES["refunded_orders_max"],
            ),
            models.CheckConstraint(
                condition=Q(refunds__gte=0, refunds__lte=F("revenue")),
                name="session_refunds_within_revenue",
                violation_error_message=MESSAGES["refunds_max"],
            ),
            models.CheckConstraint(
                condition=~Q(status="verified")
                | Q(verified_by__isnull=False, verified_at__isnull=False),
                name="session_verified_records_who",
                violation_error_message=MESSAGES["verified_needs_who"],
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""),
                name="session_rejected_records_reason",
                violation_error_message=MESSAGES["rejected_needs_reason"],
            ),
            models.CheckConstraint(
                condition=Q(unique_viewers__isnull=True)
                | Q(unique_viewers__gte=0, unique_viewers__lte=F("audience")),
                name="session_unique_viewers_within_audience",
                violation_error_message=MESSAGES["unique_above_audience"],
            ),
            models.CheckConstraint(
                condition=Q(peak_viewers__isnull=True)
                | (Q(peak_viewers__gte=0, peak_viewers__lte=F("audience"))
                   & (Q(unique_viewers__isnull=True)
                      | Q(peak_viewers__lte=F("unique_viewers")))),
                name="session_peak_viewers_within_unique",
                violation_error_message=MESSAGES["peak_above_unique"],
            ),
            models.CheckConstraint(
                condition=Q(new_followers__isnull=True)
                | Q(new_followers__gte=0, new_followers__lte=validators.MAX_COUNT),
                name="session_new_followers_in_range",
                violation_error_message=MESSAGES["count_max"],
            ),
            models.CheckConstraint(
                condition=Q(ended_at__gt=F("started_at")),
                name="session_ends_after_start",
                violation_error_message=MESSAGES["end_after_start"],
            ),
            models.CheckConstraint(
                condition=Q(
                    ended_at__lte=F("started_at")
                    + timedelta(hours=validators.MAX_SESSION_HOURS)
                ),
                name="session_at_most_max_hours",
                violation_error_message=MESSAGES["max_duration"],
            ),
            models.CheckConstraint(
                condition=Q(started_at__gte=validators.FIRST_MOMENT,
                            started_at__lt=validators.END_MOMENT),
                name="session_starts_in_year_range",
                violation_error_message=MESSAGES["year_range"],
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        # The rules between fields, each on the field a person would correct. They repeat
        # the check constraints, so full_clean() never needs a query to test those; the rules
        # that need the database (overlaps, an inactive official) are in services.
        errors = {
            **validators.session_times_check(started_at=self.started_at,
                                             ended_at=self.ended_at),
            **validators.session_refunds_check(
                orders=self.orders, refunded_orders=self.refunded_orders,
                revenue=self.revenue, refunds=self.refunds,
            ),
            **validators.session_viewers_check(
                audience=self.audience, unique_viewers=self.unique_viewers,
                peak_viewers=self.peak_viewers,
            ),
        }
        if errors:
            raise ValidationError(errors)

    @property
    def net_revenue(self) -> Decimal | None:
        """Revenue less refunds (the database computes the same for sums: with_net_revenue)."""
        if self.revenue is None or self.refunds is None:
            return None
        return self.revenue - self.refunds

    @property
    def local_start_date(self):
        return timezone.localtime(self.started_at).date()


class ItemUnit(models.TextChoices):
    JIN = "jin", _("jin (斤, 500 g)")
    KG = "kg", _("kg")
    BOX = "box", _("box")
    BAG = "bag", _("bag")
    BOTTLE = "bottle", _("bottle")
    PIECE = "piece", _("piece")
    TICKET = "ticket", _("ticket")
    OTHER = "other", _("other")


class SessionItem(models.Model):
    """A line of what a session sold: a product, how much of it and for how much.

    Written with its session by `services.session_create` / `session_update` (all lines
    replaced at once), which check the rule between lines and session: their revenues add up
    to at most the session's revenue. Summaries read revenue by product and the share of
    certified poverty-alleviation products from these lines.
    """

    session = models.ForeignKey(
        LivestreamSession, on_delete=models.CASCADE, related_name="items",
        verbose_name=_("livestream session"),
    )
    name = models.CharField(_("product"), max_length=100, validators=_TEXT_VALIDATORS)
    quantity = models.DecimalField(
        _("quantity"), max_digits=14, decimal_places=3,
        validators=validators.positive_quantity_validators(),
    )
    unit = models.CharField(
        _("unit"), max_length=10, choices=ItemUnit.choices,
        error_messages={"invalid_choice": validators.PARSE_MESSAGES["unit_unknown"]},
    )
    revenue = models.DecimalField(
        _("revenue (yuan)"), max_digits=validators.REVENUE_MAX_DIGITS,
        decimal_places=validators.REVENUE_DECIMAL_PLACES,
        validators=validators.amount_validators(),
    )
    poverty_relief_product = models.BooleanField(
        _("certified poverty-alleviation product"), default=False,
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("item line")
        verbose_name_plural = _("item lines")
        ordering = ["session", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="item_quantity_positive",
                violation_error_message=MESSAGES["quantity_positive"],
            ),
            models.CheckConstraint(
                condition=Q(revenue__gte=0), name="item_revenue_non_negative",
                violation_error_message=MESSAGES["revenue_non_negative"],
            ),
            models.CheckConstraint(
                condition=Q(unit__in=ItemUnit.values), name="item_unit_known",
                violation_error_message=MESSAGES["unit_known"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} × {self.quantity.normalize() if self.quantity else ''} {self.unit}"


class ImportBatch(models.Model):
    """An uploaded spreadsheet waiting between its preview and the user's confirm or cancel.

    `content` holds the file's rows as read and checked (JSON, see `imports.ReadRows`), so
    the confirm checks them against the database again without parsing the file twice.
    Kept in the database, not the web session or a local file, so the preview and the
    confirm may be served by different processes or hosts. Confirm and cancel delete it;
    batches older than `sessions_app.imports.IMPORT_BATCH_TTL` are refused and purged.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    filename = models.CharField(_("file name"), max_length=255)
    content = models.BinaryField(_("content"))
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("import batch")
        verbose_name_plural = _("import batches")

    def __str__(self) -> str:
        return self.filename


def evidence_file_name(instance: "SessionEvidence", filename: str) -> str:
    """Where an evidence file is stored: a random name, never the uploader's, so no path can
    be guessed (even in a bucket made public by mistake), and the name carries no user input.
    The extension is that of the detected content type."""
    token = secrets.token_hex(16)
    extension = EVIDENCE_EXTENSIONS.get(instance.content_type.split(";")[0], "")
    return f"evidence/{token[:2]}/{token}{extension}"


def evidence_thumbnail_name(instance: "SessionEvidence", filename: str) -> str:
    token = secrets.token_hex(16)
    return f"evidence/thumbnails/{token[:2]}/{token}.jpg"


EVIDENCE_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "text/csv": ".csv",
}


class SessionEvidence(models.Model):
    """A file behind a session's figures: the platform's export of the show, a screenshot of
    its dashboard, or another document. Added and deleted only through
    `services.evidence_add` / `evidence_delete`, which check the content and keep the audit.

    The file lives in Django's default storage under a random name; it is served only by
    views that check the user may see the session. Rows are never changed after upload.

    Deleting a session deletes its evidence rows (CASCADE), through `session_delete`, which
    deletes each one as `evidence_delete` does: every deletion leaves a history record (who,
    when, which file, its sha256) next to the session's own, and the stored file is kept, so
    the audit trail still points at the bytes. PROTECT would make a duplicate session with
    evidence impossible to delete in one step; keeping orphan rows would show evidence of a
    session that no longer exists.
    """

    class Kind(models.TextChoices):
        PLATFORM_EXPORT = "platform_export", _("Platform export")
        SCREENSHOT = "screenshot", _("Screenshot")
        OTHER = "other", _("Other")

    session = models.ForeignKey(
        LivestreamSession, on_delete=models.CASCADE, related_name="evidence",
        verbose_name=_("livestream session"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to=evidence_file_name, max_length=200)
    # A small JPEG of an image, made at upload (sessions_app/evidence/thumbnails.py).
    thumbnail = models.FileField(
        _("thumbnail"), upload_to=evidence_thumbnail_name, max_length=200, blank=True,
        editable=False,
    )
    original_filename = models.CharField(
        _("file name"), max_length=255, validators=[ProhibitNullCharactersValidator()]
    )
    content_type = models.CharField(
        _("content type"), max_length=100, help_text=_("As detected from the content.")
    )
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("uploaded by"), editable=False,
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now, editable=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("evidence file")
        verbose_name_plural = _("evidence files")
        ordering = ["uploaded_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "sha256"], name="evidence_one_copy_per_session",
                violation_error_message=_("This session already has this file."),
            ),
        ]
        # The same file on other sessions is looked up by its digest alone.
        indexes = [models.Index(fields=["sha256"], name="evidence_sha256_idx")]

    def __str__(self) -> str:
        return self.original_filename

    @property
    def is_image(self) -> bool:
        return self.content_type in ("image/png", "image/jpeg")

    @property
    def type_label(self) -> str:
        """PNG, JPG, PDF, XLSX or CSV."""
        return EVIDENCE_EXTENSIONS.get(self.content_type.split(";")[0], "").lstrip(".").upper()


class SessionFlag(models.Model):
    """An anomaly the checks of `sessions_app/flags.py` found in a session's figures: one row
    per session and rule, written only by `flags.session_flags_refresh` (set-based SQL) and
    `services.session_flag_dismiss`.

    `figure_1`, `figure_2` are the session's own figures that raised the flag, so a dismissed
    flag re-opens when they change (and only then: a shift of the platform's median alone does
    not re-open it); `value_1` to `value_3` the numbers of the message, which is written when
    read (`flags.FlagRule.values`). Numbers (floating point: exact enough for money to the
    cent and moments to the microsecond, and the cheapest to compare), 0 where a rule has
    fewer: the refresh compares them with its findings in place. A flag whose rule no longer
    holds is deleted.

    `holiday` is the holiday whose refresh raised it (its rules read that holiday: the median
    of its sessions, the days after its end): a refresh compares the holiday's findings with
    the holiday's flags, read through this column's index, not through their sessions' dates
    (which made every refresh read every flag stored, of every holiday). A flag found by
    another holiday's refresh (its session moved there) passes to that holiday, keeping its
    dismissal if its figures are the same.
    """

    session = models.ForeignKey(
        LivestreamSession, on_delete=models.CASCADE, related_name="flags",
        verbose_name=_("livestream session"),
    )
    holiday = models.ForeignKey(
        Holiday, on_delete=models.CASCADE, null=True, blank=True, related_name="session_flags",
        verbose_name=_("holiday"), db_index=False,  # flag_holiday_code_idx leads with it
    )
    code = models.CharField(_("code"), max_length=40)
    figure_1 = models.FloatField(_("first figure that raised it"), default=0)
    figure_2 = models.FloatField(_("second figure that raised it"), default=0)
    value_1 = models.FloatField(_("first number of the message"), default=0)
    value_2 = models.FloatField(_("second number of the message"), default=0)
    value_3 = models.FloatField(_("third number of the message"), default=0)
    raised_at = models.DateTimeField(_("raised at"))
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("dismissed by"),
    )
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)
    dismissal_note = models.TextField(_("dismissal note"), blank=True, default="")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("anomaly flag")
        verbose_name_plural = _("anomaly flags")
        ordering = ["session_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["session", "code"], name="flag_one_per_rule"),
        ]
        indexes = [
            models.Index(fields=["code"], name="flag_code_idx"),
            # A holiday's flags, or those of the rules refreshed (the median rule alone
            # after each snapshot).
            models.Index(fields=["holiday", "code"], name="flag_holiday_code_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.code} #{self.session_id}"

    @property
    def dismissed(self) -> bool:
        return self.dismissed_at is not None

    @property
    def message(self) -> str:
        from .flags import flag_message, flag_params

        return flag_message(code=self.code, params=flag_params(
            code=self.code, values=(self.value_1, self.value_2, self.value_3)))

    @property
    def label(self) -> str:
        from .flags import flag_label

        return flag_label(self.code)


class TotalScope(models.TextChoices):
    OFFICIAL = "official", _("Officials")
    COUNTY = "county", _("Counties")


class HolidayTotal(models.Model):
    """What a holiday counts for one subject (an official or a county) on one aggregate: the
    sum of a figure over the sessions its ranking basis counts, and how many sessions.

    Kept up to date by every session write in the write's own transaction
    (`sessions_app.totals`), so that reading a live board costs the size of the board, not
    of the holiday; rankings read ranks from it at read time. The from-scratch aggregation
    (`totals.holiday_totals_reconcile`) is the check: it reports and repairs any difference.

    One row per (holiday, scope, subject, aggregate) rather than one column per aggregate:
    one index, (holiday, scope, metric, value), serves every board in rank order, and a new
    aggregate is new rows, not a new column and index. Rows stay at zero sessions when a
    subject's last session leaves (readers skip them), so a burst of edits never deletes
    and re-inserts the same rows.
    """

    holiday = models.ForeignKey(Holiday, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    scope = models.CharField(max_length=10, choices=TotalScope.choices)
    # The official's id (scope official) or the county's (scope county): one column, so that
    # (holiday, scope, metric, subject_id) is a plain unique key for INSERT ... ON CONFLICT.
    subject_id = models.BigIntegerField()
    metric = models.CharField(max_length=20)
    # A sum (or a maximum: `totals` knows which) over the sessions that report the figure.
    value = models.DecimalField(max_digits=38, decimal_places=2)
    sessions = models.BigIntegerField()
    # Sessions that report the figure (an optional one may be left empty): none means the
    # subject's value is NULL, ranked last, not 0.
    reported = models.BigIntegerField(default=0)
    # A maximum whose holder left (a session removed or lowered): recomputed from the
    # subject's sessions before the write commits (totals.totals_add).
    recheck = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["holiday", "scope", "metric", "subject_id"],
                                    name="holiday_total_key"),
        ]
        indexes = [
            models.Index(fields=["holiday", "scope", "metric", "value"],
                         name="holiday_total_board_idx"),
            models.Index(fields=["holiday"], condition=Q(recheck=True),
                         name="holiday_total_recheck_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.holiday_id}/{self.scope}/{self.subject_id}/{self.metric}={self.value}"
