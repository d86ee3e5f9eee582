"""The rules of a session and a holiday, each written once, with its message.

The model (field validators, `clean()`, database constraints) applies them, and every entry
path (page form, API, admin, import, demo data, commands) saves through `services`, which
validates the model: so a bad row gets the same message whichever way it came in. The
entry paths only parse text into values, and the messages of parsing live here too
(`PARSE_MESSAGES`), so "12abc" is explained the same way in a form, a JSON payload or a
spreadsheet cell.
"""

from datetime import date, datetime, time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from linfen_tracker.exports import FORMULA_PREFIXES

# Livestream selling in Linfen starts well after 2000, so a year outside is a typo; the
# bound also keeps far dates (year 1, year 9999) from overflowing when they are converted
# between Beijing time and UTC, which made such rows unreadable by the database driver.
FIRST_YEAR, LAST_YEAR = 2000, 2099
# Far above any real livestream (the largest report hundreds of millions of views), and
# low enough that the sums of any holiday fit the database's numeric columns: a sum of
# 2^63 such values still has fewer than 32 digits (rankings store 38).
MAX_COUNT = 10**12 - 1
# revenue is numeric(14, 2): up to 999,999,999,999.99 yuan.
REVENUE_MAX_DIGITS, REVENUE_DECIMAL_PLACES = 14, 2
MAX_SESSION_HOURS = 24
MAX_HOLIDAY_DAYS = 62
TITLE_MAX_LENGTH = 200
PRODUCTS_MAX_LENGTH = 2000

# The numbers are part of the text (format_lazy), not %-parameters: a database constraint
# shows its message as it is, and every path must show the same words.
MESSAGES = {
    "year_range": format_lazy(_("Dates must fall in the years {first} to {last}."),
                              first=FIRST_YEAR, last=LAST_YEAR),
    "whole_seconds": _("Give the time to the second at most (no fractions of a second)."),
    "formula": _("Text may not start with =, +, -, @, a tab or a line break (a spreadsheet "
                 "would run it as a formula)."),
    "end_after_start": _("A session must end after it starts."),
    "max_duration": format_lazy(_("A session lasts at most {hours} hours: check the dates."),
                                hours=MAX_SESSION_HOURS),
    "overlap": _("This official already has a session on this platform at this time "
                 "(%(title)s, %(start)s to %(end)s)."),
    "inactive_official": _("This official is inactive: reactivate them before entering a "
                           "new session."),
    "holiday_order": _("The last day must not be before the first day."),
    "holiday_length": format_lazy(_("A holiday lasts at most {days} days."),
                                  days=MAX_HOLIDAY_DAYS),
    "audience_non_negative": _("Audience cannot be negative."),
    "orders_non_negative": _("Orders cannot be negative."),
    "revenue_non_negative": _("Revenue cannot be negative."),
    "count_max": format_lazy(_("Enter a number from 0 to {max}."), max=f"{MAX_COUNT:,}"),
    "refunded_orders_max": _("Refunded orders cannot exceed the orders."),
    "refunds_max": _("Refunds cannot exceed the revenue."),
    "verified_needs_who": _("A verified session records who verified it and when."),
    "rejected_needs_reason": _("A rejected session records the reason."),
    "verify_needs_evidence": _("Attach at least one evidence file (the platform's export or "
                               "a screenshot) before verifying."),
    "peak_above_unique": _("Peak viewers cannot exceed the unique viewers."),
    "unique_above_audience": _("Unique viewers cannot exceed the audience (views)."),
    "peak_above_audience": _("Peak viewers cannot exceed the audience (views)."),
    "host_is_lead": _("The lead host cannot also be a co-host."),
    "host_twice": _("%(name)s is listed twice as a co-host."),
    "unit_known": _("Use one of the units jin, kg, box, bag, bottle, piece, ticket or other."),
    "quantity_positive": _("Quantity must be greater than 0."),
    "items_above_revenue": _("The item lines' revenues add up to %(total)s yuan, more than the "
                             "session's revenue (%(revenue)s yuan)."),
    "weights_object": _("Give the weights as an object of metric -> weight, e.g. "
                        "{\"revenue\": 0.5, \"audience\": 0.5}."),
    "weights_unknown_metric": _("Unknown metric “%(metric)s” in the weights: use %(choices)s."),
    "weights_positive": _("The weight of “%(metric)s” must be a number greater than 0."),
    "item_line": _("Item line %(line)s: %(message)s"),
}

# What each entry path says when it cannot read a value as the field's type. The form's
# fields, the API's serializer fields and the import's cell readers all use these.
PARSE_MESSAGES = {
    "required": _("This field is required."),
    "whole_number": _("Enter a whole number."),
    "amount": _("Enter an amount in yuan, e.g. 230000.50."),
    "moment": _("Enter a date and time like 2020-05-01 10:00 (Beijing time)."),
    "official_unknown": _("No official has the id %(value)s."),
    "county_unknown": _("Unknown county “%(value)s”: give its slug (e.g. jixian) or name "
                        "(e.g. 吉县)."),
    "unit_unknown": _("Unknown unit “%(value)s”: use jin (斤), kg (公斤), box (箱), bag (袋), "
                      "bottle (瓶), piece (件), ticket (张) or other (其他)."),
    "number": _("Enter a number, e.g. 12.5."),
    "yes_no": _("Enter yes or no (是 or 否, 1 or 0)."),
    "platform_unknown": _("Unknown platform “%(value)s”: use douyin (抖音), kuaishou (快手), "
                          "taobao_live (淘宝直播), wechat_channels (微信视频号), jd (京东), "
                          "pinduoduo (拼多多) or other (其他)."),
}


def _beijing(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


# [first instant, first instant after) of the years sessions may fall in, Beijing time.
FIRST_MOMENT = _beijing(date(FIRST_YEAR, 1, 1))
END_MOMENT = _beijing(date(LAST_YEAR + 1, 1, 1))
FIRST_DATE, LAST_DATE = date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)


def year_in_range(value: date | datetime) -> bool:
    # Compared on the year as given, without arithmetic, which would overflow near year 1.
    return FIRST_YEAR <= value.year <= LAST_YEAR


def year_range_message() -> str:
    """The refusal of a date outside FIRST_YEAR..LAST_YEAR, in the current language."""
    return str(MESSAGES["year_range"])


@deconstructible
class YearRangeValidator:
    """A date or date-time in the years FIRST_YEAR to LAST_YEAR (Beijing time)."""

    def __call__(self, value) -> None:
        if isinstance(value, datetime) and timezone.is_aware(value):
            # The year a person means is the Beijing one; localtime cannot overflow here
            # because the UTC value came from a Python datetime (years 1 to 9999) and the
            # check below is on the year only.
            try:
                value = timezone.localtime(value)
            except OverflowError:
                raise ValidationError(year_range_message(), code="year_range") from None
        if not year_in_range(value):
            raise ValidationError(year_range_message(), code="year_range")

    def __eq__(self, other) -> bool:
        return isinstance(other, YearRangeValidator)


@deconstructible
class WholeSecondsValidator:
    """No fractions of a second: a microsecond must not make a "different" start time."""

    def __call__(self, value: datetime) -> None:
        if value.microsecond:
            raise ValidationError(MESSAGES["whole_seconds"], code="whole_seconds")

    def __eq__(self, other) -> bool:
        return isinstance(other, WholeSecondsValidator)


@deconstructible
class NoFormulaValidator:
    """Text that a spreadsheet would run as a formula when it opens an export (CSV
    injection) is refused at entry; exports quote it as well (linfen_tracker.exports)."""

    def __call__(self, value: str) -> None:
        if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
            raise ValidationError(MESSAGES["formula"], code="formula")

    def __eq__(self, other) -> bool:
        return isinstance(other, NoFormulaValidator)


def count_validators() -> list:
    """Audience, orders and the other counts: whole numbers from 0 to MAX_COUNT."""
    return [
        MinValueValidator(0),
        MaxValueValidator(MAX_COUNT, message=MESSAGES["count_max"]),
    ]


def amount_validators() -> list:
    """Revenue and other amounts: yuan >= 0 (digits and places are the field's own)."""
    return [MinValueValidator(Decimal("0"))]


def session_times_check(*, started_at: datetime | None, ended_at: datetime | None) -> dict:
    """Errors (field -> message) of a session's times taken together: the end after the
    start, and at most MAX_SESSION_HOURS between them."""
    if not started_at or not ended_at:
        return {}
    if ended_at <= started_at:
        return {"ended_at": ValidationError(MESSAGES["end_after_start"], code="end_after_start")}
    if (ended_at - started_at).total_seconds() > MAX_SESSION_HOURS * 3600:
        return {"ended_at": ValidationError(MESSAGES["max_duration"], code="max_duration")}
    return {}


def session_refunds_check(*, orders, refunded_orders, revenue, refunds) -> dict:
    """Errors (field -> message) of refunds against the sales: refunded orders at most the
    orders, refunds at most the revenue. (A negative sale is its own field's error, not a
    second one here.)"""
    errors = {}
    if orders is not None and refunded_orders is not None and 0 <= orders < refunded_orders:
        errors["refunded_orders"] = ValidationError(MESSAGES["refunded_orders_max"],
                                                    code="refunded_orders_max")
    if revenue is not None and refunds is not None and 0 <= revenue < refunds:
        errors["refunds"] = ValidationError(MESSAGES["refunds_max"], code="refunds_max")
    return errors


def session_viewers_check(*, audience, unique_viewers, peak_viewers) -> dict:
    """Errors (field -> message) of the viewer counts taken together: where given,
    peak_viewers <= unique_viewers <= audience. Refused, not flagged: no platform reports
    more concurrent viewers than distinct ones, or more distinct viewers than views."""
    errors = {}
    if unique_viewers is not None and audience is not None and unique_viewers > audience >= 0:
        errors["unique_viewers"] = ValidationError(MESSAGES["unique_above_audience"],
                                                   code="unique_above_audience")
    if peak_viewers is not None:
        if unique_viewers is not None and peak_viewers > unique_viewers >= 0:
            errors["peak_viewers"] = ValidationError(MESSAGES["peak_above_unique"],
                                                     code="peak_above_unique")
        elif audience is not None and peak_viewers > audience >= 0:
            errors["peak_viewers"] = ValidationError(MESSAGES["peak_above_audience"],
                                                     code="peak_above_audience")
    return errors


def session_hosts_check(*, lead_id: int | None, hosts: list) -> dict:
    """Errors (field -> message) of the co-hosts (officials, in the order given): the lead
    host is not also a co-host, and nobody is listed twice."""
    seen, messages = set(), []
    for official in hosts:
        if lead_id is not None and official.pk == lead_id:
            messages.append(ValidationError(MESSAGES["host_is_lead"], code="host_is_lead"))
        elif official.pk in seen:
            messages.append(ValidationError(MESSAGES["host_twice"], code="host_twice",
                                            params={"name": official.name}))
        seen.add(official.pk)
    return {"hosts": messages} if messages else {}


def session_items_check(*, revenue, item_revenues: list) -> dict:
    """Errors (field -> message) of the item lines against the session: their revenues add
    up to at most the session's revenue (a line may leave some of it unattributed)."""
    if revenue is None or any(r is None for r in item_revenues):
        return {}
    total = sum(item_revenues, Decimal("0"))
    if total > revenue:
        return {"items": ValidationError(
            MESSAGES["items_above_revenue"], code="items_above_revenue",
            params={"total": f"{total:,.2f}", "revenue": f"{revenue:,.2f}"})}
    return {}


def positive_quantity_validators() -> list:
    """An item line's quantity: more than 0."""
    return [PositiveDecimalValidator()]


@deconstructible
class PositiveDecimalValidator:
    def __call__(self, value) -> None:
        if value is not None and value <= 0:
            raise ValidationError(MESSAGES["quantity_positive"], code="quantity_positive")

    def __eq__(self, other) -> bool:
        return isinstance(other, PositiveDecimalValidator)


# The keys of the ranked metrics, provided by the rankings app when it starts
# (rankings.apps): sessions_app never imports rankings, and a holiday's composite weights
# must name metrics the recompute knows.
metric_keys_provider = None


@deconstructible
class CompositeWeightsValidator:
    """Composite weights: an object of registered metric -> number > 0."""

    def __call__(self, value) -> None:
        if not isinstance(value, dict):
            raise ValidationError(MESSAGES["weights_object"], code="weights_object")
        known = list(metric_keys_provider()) if metric_keys_provider else None
        errors = []
        for key, weight in value.items():
            if known is not None and key not in known:
                errors.append(ValidationError(
                    MESSAGES["weights_unknown_metric"], code="weights_unknown_metric",
                    params={"metric": key, "choices": ", ".join(known)}))
            elif (isinstance(weight, bool) or not isinstance(weight, int | float)
                  or not weight > 0 or weight != weight or weight == float("inf")):
                errors.append(ValidationError(MESSAGES["weights_positive"],
                                              code="weights_positive", params={"metric": key}))
        if errors:
            raise ValidationError(errors)

    def __eq__(self, other) -> bool:
        return isinstance(other, CompositeWeightsValidator)


def holiday_dates_check(*, start_date: date | None, end_date: date | None) -> dict:
    """Errors (field -> message) of a holiday's dates taken together: the last day on or
    after the first, and at most MAX_HOLIDAY_DAYS days in all."""
    if not start_date or not end_date:
        return {}
    if end_date < start_date:
        return {"end_date": ValidationError(MESSAGES["holiday_order"], code="holiday_order")}
    if (end_date - start_date).days + 1 > MAX_HOLIDAY_DAYS:
        return {"end_date": ValidationError(MESSAGES["holiday_length"],
                                            code="holiday_length")}
    return {}


# Fields the system sets, never a person: not validated as input.
_SYSTEM_FIELDS = ("entered_by", "version")


def session_rules_check(*, session, exclude=()) -> None:
    """Check a LivestreamSession against the rules that need no database: each field's own
    (bounds, years, whole seconds, lengths, formulas) and those between fields
    (`LivestreamSession.clean`). Raises ValidationError (field -> messages).

    The import runs this on every row, resolving the relations itself (`exclude`); the
    service's writes run it together with `services.session_database_check`.
    """
    session.full_clean(
        exclude=[*_SYSTEM_FIELDS, *exclude], validate_unique=False, validate_constraints=False
    )


def overlap_error(*, title: str, started_at: datetime, ended_at: datetime) -> ValidationError:
    """The refusal of a session that overlaps another of the same official on the same
    platform, naming the other one (times in Beijing time)."""
    return ValidationError(
        MESSAGES["overlap"],
        code="overlap",
        params={
            "title": title,
            "start": timezone.localtime(started_at).strftime("%Y-%m-%d %H:%M"),
            "end": timezone.localtime(ended_at).strftime("%Y-%m-%d %H:%M"),
        },
    )
