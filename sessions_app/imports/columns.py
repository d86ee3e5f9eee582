"""The import's columns: headers accepted in Chinese and English, and platform names."""

import re
import unicodedata
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from ..models import Platform


@dataclass(frozen=True)
class ImportColumn:
    field: str
    header_zh: str
    required: bool
    help: Promise
    # Other spellings accepted, compared after `_header_key` normalisation.
    aliases: tuple[str, ...] = ()

    @property
    def accepted_headers(self) -> list[str]:
        return [self.header_zh, self.field, *self.aliases]


IMPORT_COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn(
        "official", "干部", True,
        gettext_lazy("The official's id, or their exact name if no other official has it."),
        # 干部 is the word of every page; 官员 is what earlier templates wrote.
        ("干部id", "干部姓名", "官员", "官员id", "官员姓名", "official id", "official name"),
    ),
    ImportColumn(
        "county", "县区", False,
        gettext_lazy("County slug (e.g. jixian) or name (e.g. 吉县). Empty: the official's "
                     "county."),
        ("区县", "县", "county slug"),
    ),
    ImportColumn(
        "platform", "平台", True,
        gettext_lazy("抖音 / 快手 / 淘宝直播 / 微信视频号 / 京东 / 拼多多 / 其他, or douyin, "
                     "kuaishou, taobao_live, wechat_channels, jd, pinduoduo, other."),
        ("直播平台",),
    ),
    ImportColumn(
        "title", "标题", True, gettext_lazy("Title of the livestream, at most 200 characters."),
        ("直播标题",),
    ),
    ImportColumn(
        "products", "商品", False, gettext_lazy("Products sold (optional)."),
        ("产品", "商品名称"),
    ),
    ImportColumn(
        "started_at", "开始时间", True,
        gettext_lazy("Start in Beijing time, e.g. 2020-05-01 10:00 (or a date-time cell)."),
        ("started", "start", "直播开始时间"),
    ),
    ImportColumn(
        "ended_at", "结束时间", True,
        gettext_lazy("End in Beijing time, after the start, e.g. 2020-05-01 12:00."),
        ("ended", "end", "直播结束时间"),
    ),
    ImportColumn(
        "audience", "观看人数", True,
        gettext_lazy("Viewer count the platform reports, a whole number >= 0."),
        ("观看量", "观众人数"),
    ),
    ImportColumn(
        "orders", "订单数", True, gettext_lazy("Number of orders, a whole number >= 0."),
        ("订单量",),
    ),
    ImportColumn(
        "revenue", "销售额(元)", True,
        gettext_lazy("Revenue in yuan, >= 0, at most 2 decimal places, e.g. 230000.50."),
        ("销售额", "revenue (yuan)", "revenue_yuan"),
    ),
    ImportColumn(
        "refunded_orders", "退款订单数", False,
        gettext_lazy("Orders refunded after the show, a whole number from 0 to the orders "
                     "(empty: 0)."),
        ("退款订单", "refunded orders"),
    ),
    ImportColumn(
        "refunds", "退款金额(元)", False,
        gettext_lazy("Money refunded in yuan, from 0 to the revenue (empty: 0)."),
        ("退款金额", "refunds (yuan)", "refunds_yuan"),
    ),
)

PLATFORM_NAMES: dict[str, tuple[str, ...]] = {
    Platform.DOUYIN: ("抖音", "Douyin"),
    Platform.KUAISHOU: ("快手", "Kuaishou"),
    Platform.TAOBAO_LIVE: ("淘宝直播", "淘宝", "Taobao Live", "Taobao"),
    Platform.WECHAT_CHANNELS: ("微信视频号", "视频号", "WeChat Channels", "WeChat"),
    Platform.JD: ("京东", "京东直播", "JD", "JD.com"),
    Platform.PINDUODUO: ("拼多多", "Pinduoduo"),
    Platform.OTHER: ("其他", "其它", "Other"),
}


def _header_key(text: str) -> str:
    """Compare headers and names loosely: full-width forms, case, spaces, _ and - ignored."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_\-]+", "", text)


HEADER_FIELDS: dict[str, str] = {
    _header_key(header): column.field
    for column in IMPORT_COLUMNS
    for header in column.accepted_headers
}
PLATFORM_CODES: dict[str, str] = {
    _header_key(name): str(code)
    for code, names in PLATFORM_NAMES.items()
    for name in (str(code), *names)
}
COLUMN_ORDER = {column.field: i for i, column in enumerate(IMPORT_COLUMNS)}


