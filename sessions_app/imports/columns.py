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
    ImportColumn(
        "unique_viewers", "独立观众数", False,
        gettext_lazy("Distinct viewers, a whole number from 0 to the audience (empty: not "
                     "reported)."),
        ("独立观众", "unique viewers", "UV"),
    ),
    ImportColumn(
        "peak_viewers", "最高在线人数", False,
        gettext_lazy("Peak concurrent viewers, at most the unique viewers and the audience "
                     "(empty: not reported)."),
        ("最高在线", "峰值在线人数", "peak viewers", "PCU"),
    ),
    ImportColumn(
        "new_followers", "新增粉丝数", False,
        gettext_lazy("Followers gained, a whole number >= 0 (empty: not reported)."),
        ("新增粉丝", "new followers"),
    ),
    ImportColumn(
        "hosts", "联播干部", False,
        gettext_lazy("Co-hosts: other officials who hosted with the lead, by id or unique "
                     "name, separated by ; (e.g. 12;贺志远). Not the lead, each once."),
        ("共同主播", "co-hosts", "cohosts"),
    ),
    ImportColumn(
        "items", "商品明细", False,
        gettext_lazy("Item lines, separated by ; each as product|quantity|unit|revenue|扶贫, "
                     "e.g. 核桃|200|斤|12000|是; 小米|50|袋|3000. Units: 斤 jin, 公斤 kg, 箱 box, "
                     "袋 bag, 瓶 bottle, 件 piece, 张 ticket, 其他 other. The last part (是/否, "
                     "optional) marks a certified poverty-alleviation product. The lines' "
                     "revenues add up to at most the session's."),
        ("商品行", "item lines", "items sold"),
    ),
)

UNIT_NAMES: dict[str, tuple[str, ...]] = {
    "jin": ("斤",),
    "kg": ("公斤", "千克"),
    "box": ("箱", "盒"),
    "bag": ("袋", "包"),
    "bottle": ("瓶",),
    "piece": ("件", "个"),
    "ticket": ("张", "票", "门票"),
    "other": ("其他", "其它"),
}

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
UNIT_CODES: dict[str, str] = {
    _header_key(name): code for code, names in UNIT_NAMES.items() for name in (code, *names)
}
COLUMN_ORDER = {column.field: i for i, column in enumerate(IMPORT_COLUMNS)}


