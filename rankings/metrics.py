"""The metric registry: what a holiday's sessions are ranked on, one declaration per metric.

Everything that names a metric reads it from here: the recompute (rankings/services.py
generates its SQL from the declarations), the API's `metric` choices and schema, the
dashboard's tabs, the charts, the exports, the targets. Adding a metric is one
`MetricDefinition` in `METRICS` below (or `metric_register`, as the tests do).

Two kinds:

- A *base* metric aggregates one SQL expression over a subject's sessions, written over
  the sessions table under the alias `s` (`column`, e.g. "s.audience", and `aggregate`,
  SUM or MAX). SUM and MAX are associative, so partial aggregates (per official and county,
  per co-host) combine with the same function: `session_sql()` is the aggregate over
  session rows, `combine_sql(x)` the aggregate over partial results.
- A *ratio* is computed from the subject's sums of two base metrics (`numerator`,
  `denominator`, keys in this registry) times `scale`, rounded to 2 places: never an
  average of per-session ratios. A zero (or missing) denominator gives NULL, which ranks
  last.

`optional` base metrics read a column a session may leave empty (a platform that does not
report it): a subject with no reported value has NULL (ranked last), not 0.

Values are stored as numeric(38, 2); `format` says how to show and send them: "count"
(a whole number), "money" (yuan, 2 places) or "decimal" (2 places).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

AGGREGATES = ("SUM", "MAX")
FORMATS = ("count", "money", "decimal")
# The composite score (per holiday weights, Holiday.composite_weights) is ranked like a
# metric and read with `metric=composite`, but it is made from the registered metrics, not
# declared here.
COMPOSITE = "composite"


@dataclass(frozen=True)
class MetricDefinition:
    key: str
    label: Promise  # gettext_lazy: English msgid, Chinese in locale/zh_Hans
    unit: Promise  # what a value counts, e.g. "yuan", "views", "%"
    format: str  # "count" | "money" | "decimal"
    higher_is_better: bool = True
    # Base metric: an SQL expression over one session row (alias `s`) and how it aggregates.
    column: str | None = None
    aggregate: str = "SUM"
    optional: bool = False
    # Ratio: keys of two base metrics, and the factor (1000: per thousand; 100: percent).
    numerator: str | None = None
    denominator: str | None = None
    scale: int = 1
    # A short line for pages and the API schema: how the value is made.
    description: Promise | str = ""

    def __post_init__(self):
        if not self.key.isidentifier() or self.key == COMPOSITE:
            raise ValueError(f"bad metric key {self.key!r}")
        if self.format not in FORMATS:
            raise ValueError(f"{self.key}: format must be one of {FORMATS}")
        if (self.column is None) == (self.numerator is None):
            raise ValueError(f"{self.key}: give either a column or a numerator/denominator")
        if self.column is not None and self.aggregate not in AGGREGATES:
            raise ValueError(f"{self.key}: aggregate must be one of {AGGREGATES}")
        if self.numerator is not None and self.denominator is None:
            raise ValueError(f"{self.key}: a ratio needs a denominator")

    @property
    def is_ratio(self) -> bool:
        return self.numerator is not None

    @property
    def is_money(self) -> bool:
        return self.format == "money"

    def session_sql(self) -> str:
        """The aggregate over session rows (alias `s`), e.g. "SUM(s.audience)"."""
        return f"{self.aggregate}({self.column})"

    def combine_sql(self, partial: str) -> str:
        """The aggregate combining partial results in column `partial`, e.g. "SUM(b.x)"."""
        return f"{self.aggregate}({partial})"

    def ratio_sql(self, numerator: str, denominator: str) -> str:
        """The ratio of two summed expressions, NULL on a zero or missing denominator."""
        # "* 1.0": SQLite divides integers as integers; PostgreSQL keeps numeric.
        return (f"ROUND(({numerator}) * {self.scale}.0 / NULLIF({denominator}, 0), 2)")

    def value_to_api(self, value: Decimal | None):
        """A stored value as the API sends it: counts as integers, the rest as decimal
        strings with 2 places; NULL (a zero denominator, nothing reported) as null."""
        if value is None:
            return None
        if self.format == "count":
            return int(value)
        return f"{Decimal(value):.2f}"


METRICS: dict[str, MetricDefinition] = {}


def metric_register(definition: MetricDefinition) -> MetricDefinition:
    """Add a metric (its ratio's parts must be registered base metrics)."""
    if definition.key in METRICS:
        raise ValueError(f"metric {definition.key!r} is already registered")
    for part in (definition.numerator, definition.denominator):
        if part is not None and (part not in METRICS or METRICS[part].is_ratio):
            raise ValueError(f"{definition.key}: {part!r} is not a registered base metric")
    METRICS[definition.key] = definition
    return definition


def metric_unregister(key: str) -> None:
    METRICS.pop(key, None)


@contextmanager
def metric_registered(definition: MetricDefinition) -> Iterator[MetricDefinition]:
    """Register a metric for the duration of a block (tests)."""
    metric_register(definition)
    try:
        yield definition
    finally:
        metric_unregister(definition.key)


def metric_keys() -> list[str]:
    """Every registered metric, in declaration order."""
    return list(METRICS)


def metric_get(key: str) -> MetricDefinition:
    """The metric `key`; KeyError when none is registered under it."""
    return METRICS[key]


def base_metrics() -> list[MetricDefinition]:
    return [m for m in METRICS.values() if not m.is_ratio]


def ratio_metrics() -> list[MetricDefinition]:
    return [m for m in METRICS.values() if m.is_ratio]


def metric_label(key: str) -> str:
    """The metric's label in the current language (composite included; unknown: the key)."""
    if key == COMPOSITE:
        return str(_("Composite score"))
    definition = METRICS.get(key)
    return str(definition.label) if definition else key


def metric_is_money(key: str) -> bool:
    definition = METRICS.get(key)
    return bool(definition and definition.is_money)


def metric_format(key: str) -> str:
    """"count", "money" or "decimal" (the composite score is a decimal)."""
    definition = METRICS.get(key)
    return definition.format if definition else "decimal"


def ranked_metric_keys() -> list[str]:
    """What a board can be read on: every registered metric and the composite score."""
    return [*METRICS, COMPOSITE]


def ranked_metric_choices() -> list[tuple[str, str]]:
    """(key, label) of every registered metric and the composite score."""
    return [(key, metric_label(key)) for key in ranked_metric_keys()]


def metric_registry_description() -> str:
    """One line per metric for the API's schema: key, unit, how it is made."""
    lines = [f"`{m.key}` ({m.unit}): {m.description}" for m in METRICS.values()]
    lines.append(f"`{COMPOSITE}`: " + str(_(
        "100 x the weighted mean of each weighted metric's value divided by the best in the "
        "scope (the holiday's composite weights).")))
    return " ".join(lines)


def metric_value_to_api(key: str, value):
    definition = METRICS.get(key)
    if definition is None:  # the composite score
        return None if value is None else f"{Decimal(value):.2f}"
    return definition.value_to_api(value)


for _definition in (
    MetricDefinition(
        "audience", _("Audience"), _("views"), "count", column="s.audience",
        description=_("Sum of the views the platforms report."),
    ),
    MetricDefinition(
        "orders", _("Orders"), _("orders"), "count", column="s.orders",
        description=_("Sum of the orders."),
    ),
    MetricDefinition(
        "revenue", _("Revenue"), _("yuan"), "money", column="s.revenue",
        description=_("Sum of the revenue (gross, yuan)."),
    ),
    MetricDefinition(
        "net_revenue", _("Net revenue"), _("yuan"), "money", column="(s.revenue - s.refunds)",
        description=_("Sum of revenue less refunds (yuan)."),
    ),
    MetricDefinition(
        "unique_viewers", _("Unique viewers"), _("viewers"), "count",
        column="s.unique_viewers", optional=True,
        description=_("Sum of the distinct viewers reported (sessions without it left out)."),
    ),
    MetricDefinition(
        "peak_viewers", _("Peak viewers"), _("viewers"), "count", column="s.peak_viewers",
        aggregate="MAX", optional=True,
        description=_("The highest peak of concurrent viewers of any one session."),
    ),
    MetricDefinition(
        "new_followers", _("New followers"), _("followers"), "count",
        column="s.new_followers", optional=True,
        description=_("Sum of the followers gained (sessions without it left out)."),
    ),
    MetricDefinition(
        "aov", _("Average order value"), _("yuan"), "money",
        numerator="revenue", denominator="orders",
        description=_("Revenue / orders, from the sums."),
    ),
    MetricDefinition(
        "gpm", _("Revenue per 1,000 views"), _("yuan"), "money",
        numerator="revenue", denominator="audience", scale=1000,
        description=_("Revenue per 1,000 views (GPM), from the sums."),
    ),
    MetricDefinition(
        "conversion", _("Conversion"), _("%"), "decimal",
        numerator="orders", denominator="audience", scale=100,
        description=_("Orders / views in percent, from the sums."),
    ),
):
    metric_register(_definition)
