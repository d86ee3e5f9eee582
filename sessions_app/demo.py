"""The demo data set: Labor Day 2020 in Linfen, with fictional officials.

61 sessions during May 1-5, 2020 total 14.2 million yuan, 10 million of it in the counties
flagged as key poverty-relief counties, as reported; a few sessions fall just outside the
holiday. Figures follow 2020 county livestreams: 1-5 hours, viewers 5,000-1,000,000 (most
200,000-300,000), orders 300-30,000 (most about 2,000), revenue 20,000-7,500,000 yuan (most
about 230,000), average order 30-250 yuan. Generated from a fixed seed, so every run builds
the same rows.
"""

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

HOLIDAY = {"slug": "labor-day-2020", "name": "Labor Day 2020", "name_zh": "2020年劳动节",
           "start_date": date(2020, 5, 1), "end_date": date(2020, 5, 5)}
SESSIONS_IN_HOLIDAY = 61
REVENUE_TOTAL = Decimal("14200000.00")
REVENUE_POVERTY_RELIEF = Decimal("10000000.00")
POVERTY_RELIEF_SESSIONS = 30

# (name, title, county slug). Fictional people; real counties. Guxian, Anze, Xiangning and
# Puxian host nothing, so the county board shows a shared last rank.
OFFICIALS = [
    ("贺志远", "县长", "jixian"),
    ("马晓燕", "副县长", "jixian"),
    ("乔文斌", "县长", "daning"),
    ("冯丽娟", "副县长", "daning"),
    ("白建军", "县长", "xixian"),
    ("任秀梅", "副县长", "xixian"),
    ("薛卫东", "县长", "yonghe"),
    ("郭小红", "副县长", "yonghe"),
    ("段国庆", "县长", "fenxi"),
    ("程雅琴", "副县长", "fenxi"),
    ("王建国", "区长", "yaodu"),
    ("李海燕", "副区长", "yaodu"),
    ("张志强", "市长", "houma"),
    ("刘春梅", "市长", "huozhou"),
    ("赵永刚", "县长", "quwo"),
    ("孙丽萍", "县长", "yicheng"),
    ("周宏伟", "副县长", "yicheng"),
    ("吴晓东", "县长", "xiangfen"),
    ("郑红霞", "县长", "hongtong"),
    ("高文杰", "副县长", "hongtong"),
    ("梁建华", "县长", "fushan"),
    ("杜明", "副市长", "huozhou"),
]

# The English of the demo's job titles (Official.title_en).
TITLES_EN = {
    "县长": "County head",
    "副县长": "Deputy county head",
    "区长": "District head",
    "副区长": "Deputy district head",
    "市长": "Mayor",
    "副市长": "Deputy mayor",
}

PRODUCTS = {
    "jixian": "吉县苹果、苹果醋",
    "daning": "大宁葡萄、红枣",
    "xixian": "隰县玉露香梨",
    "yonghe": "永和红枣、核桃",
    "fenxi": "汾西小米、核桃",
    "yaodu": "尧都面食、醋",
    "houma": "侯马蒸饺、晋国古都游",
    "huozhou": "霍州年馍、七里峪旅游",
    "quwo": "曲沃羊汤、晋都文化游",
    "yicheng": "翼城核桃、小米",
    "xiangfen": "襄汾小米、丁村民俗游",
    "hongtong": "洪洞大槐树寻根游、香椿",
    "fushan": "浮山核桃、连翘茶",
}
PLATFORMS = ["douyin"] * 6 + ["kuaishou"] * 3 + ["taobao_live"] * 2 + [
    "wechat_channels", "jd", "pinduoduo"]

CENTS_MIN, CENTS_MAX = 20_000 * 100, 7_500_000 * 100


@dataclass
class DemoSession:
    official_index: int
    platform: str
    title: str
    products: str
    started_at: datetime
    ended_at: datetime
    audience: int
    orders: int
    revenue: Decimal
    refunded_orders: int = 0
    refunds: Decimal = Decimal("0.00")
    # The one session a reviewer rejects, with this reason (it does not count: the holiday's
    # counted totals stay the reported ones).
    rejection_reason: str = ""
    # What the platforms report besides views, a co-host (an index into OFFICIALS) and the
    # item lines: drawn from a generator of their own (_extras_add), so the figures above,
    # and the holiday's totals, are the same as before they were added.
    unique_viewers: int | None = None
    peak_viewers: int | None = None
    new_followers: int | None = None
    cohost_index: int | None = None
    items: list = None


# Every REFUND_GAP-th session had some orders refunded after the show (3% of its orders).
REFUND_GAP = 5
REJECTED_REASON = ("平台导出显示四成订单在直播后取消退款，且观看人数与平台截图不符：请核对后"
                   "重新录入。")


def _split_exactly(rng: random.Random, total_cents: int, n: int, median: float) -> list[int]:
    """n amounts in cents, log-normally spread around `median`, within the revenue bounds,
    summing exactly to `total_cents`."""
    raw = [rng.lognormvariate(math.log(median), 0.7) for _ in range(n)]
    scale = total_cents / sum(raw)
    cents = [min(max(int(r * scale) // 100 * 100, CENTS_MIN), CENTS_MAX) for r in raw]
    # Hand the remainder to the amounts with room, largest first, keeping every bound.
    for i in sorted(range(n), key=lambda i: -cents[i]):
        diff = total_cents - sum(cents)
        if diff == 0:
            break
        cents[i] = min(max(cents[i] + diff, CENTS_MIN), CENTS_MAX)
    assert sum(cents) == total_cents, "demo revenue cannot be split within bounds"
    return cents


def _orders_and_audience_for(rng: random.Random, cents: int) -> tuple[int, int]:
    """Orders and audience that fit a revenue: order value 30-250 yuan, about 2% of viewers
    buying."""
    yuan = cents / 100
    order_value = rng.uniform(70, 160)
    low, high = max(300, math.ceil(yuan / 250)), min(30_000, math.floor(yuan / 30))
    orders = min(max(round(yuan / order_value), low), high)
    audience = round(orders / rng.uniform(0.006, 0.014))
    return orders, min(max(audience, 5_000), 1_000_000)


def _start(rng: random.Random, day: date) -> datetime:
    hour = rng.choice([9, 10, 10, 14, 15, 19, 19, 20])
    return datetime.combine(day, time(hour, rng.choice([0, 0, 30])),
                            tzinfo=timezone.get_default_timezone())


def demo_sessions(poverty_relief_slugs: set[str]) -> list[DemoSession]:
    """The demo sessions: SESSIONS_IN_HOLIDAY inside the holiday, then a few outside."""
    rng = random.Random(2020)
    poor = [i for i, o in enumerate(OFFICIALS) if o[2] in poverty_relief_slugs]
    rest = [i for i, o in enumerate(OFFICIALS) if o[2] not in poverty_relief_slugs]
    plan = [(poor, POVERTY_RELIEF_SESSIONS, REVENUE_POVERTY_RELIEF, 330_000),
            (rest, SESSIONS_IN_HOLIDAY - POVERTY_RELIEF_SESSIONS,
             REVENUE_TOTAL - REVENUE_POVERTY_RELIEF, 135_000)]
    days = [HOLIDAY["start_date"] + timedelta(days=d) for d in range(5)]
    sessions, used = [], []
    for hosts, n, total, median in plan:
        # Every host streams at least once; the rest go to a few busy hosts.
        busy = hosts[: max(3, len(hosts) // 2)]
        order = hosts + [rng.choice(busy) for _ in range(n - len(hosts))]
        for index, cents in zip(order, _split_exactly(rng, int(total * 100), n, median),
                                strict=True):
            sessions.append(_session(rng, index, cents, rng.choice(days), used))
    # Outside the holiday: not counted (the evening before, the day after, a week later).
    tz = timezone.get_default_timezone()
    for index, moment in [(0, datetime(2020, 4, 30, 23, 50, tzinfo=tz)),
                          (10, datetime(2020, 5, 6, 0, 10, tzinfo=tz)),
                          (13, datetime(2020, 5, 12, 19, 0, tzinfo=tz))]:
        sessions.append(_session(rng, index, 15_000_000, moment.date(), used, start=moment))
    # One more inside the holiday, which the reviewer rejects: padded figures, mostly refunded.
    padded = _session(rng, 4, 86_000_000, days[2], used,
                      start=datetime(2020, 5, 3, 16, 0, tzinfo=tz))
    padded.refunded_orders = padded.orders * 2 // 5
    padded.refunds = (padded.revenue * 2 / 5).quantize(Decimal("0.01"))
    padded.rejection_reason = REJECTED_REASON
    sessions.append(padded)
    # Refunds on some of the others (sessions and gross revenue are unchanged by them).
    for i, session in enumerate(sessions[:-1]):
        if i % REFUND_GAP == REFUND_GAP - 1:
            session.refunded_orders = max(1, session.orders * 3 // 100)
            session.refunds = (session.revenue * session.refunded_orders
                               / session.orders).quantize(Decimal("0.01"))
    _extras_add(sessions, poverty_relief_slugs)
    return sessions


# Every COHOST_GAP-th session is co-hosted by another official of the same county.
COHOST_GAP = 6
# A product's unit by a word in its name; the default is a piece.
UNIT_WORDS = [("游", "ticket"), ("苹果醋", "bottle"), ("醋", "bottle"), ("小米", "bag"),
              ("红枣", "box"), ("葡萄", "kg"), ("茶", "box"), ("面食", "bag"), ("年馍", "bag"),
              ("苹果", "jin"), ("梨", "jin"), ("核桃", "jin"), ("香椿", "jin")]
UNIT_PRICE = {"ticket": 60, "bottle": 25, "bag": 30, "box": 80, "kg": 24, "jin": 12,
              "piece": 40}


def _extras_add(sessions: list[DemoSession], poverty_relief_slugs: set[str]) -> None:
    """Viewers, followers, co-hosts and item lines, from their own seeded generator: the
    rules hold (peak <= unique <= audience, the lines' revenues at most the session's)."""
    rng = random.Random(2021)
    for i, session in enumerate(sessions):
        session.unique_viewers = round(session.audience * rng.uniform(0.35, 0.7))
        session.peak_viewers = round(session.unique_viewers * rng.uniform(0.05, 0.2))
        session.new_followers = round(session.unique_viewers * rng.uniform(0.002, 0.02))
        county = OFFICIALS[session.official_index][2]
        mates = [j for j, o in enumerate(OFFICIALS)
                 if o[2] == county and j != session.official_index]
        if i % COHOST_GAP == COHOST_GAP - 1 and mates:
            session.cohost_index = rng.choice(mates)
        names = PRODUCTS[county].split("、")
        shares = [0.55, 0.3][: len(names)] if len(names) > 1 else [0.85]
        session.items = []
        for name, share in zip(names, shares, strict=False):
            unit = next((u for word, u in UNIT_WORDS if word in name), "piece")
            revenue = (session.revenue * Decimal(str(share))).quantize(Decimal("0.01"))
            quantity = max(1, round(float(revenue) / UNIT_PRICE[unit] * rng.uniform(0.8, 1.2)))
            session.items.append({
                "name": name, "quantity": Decimal(quantity), "unit": unit, "revenue": revenue,
                # Produce of a key poverty-relief county is certified; tourism is not produce.
                "poverty_relief_product": county in poverty_relief_slugs and unit != "ticket",
            })


def _session(rng, index, cents, day, used, start=None) -> DemoSession:
    name, _title, county = OFFICIALS[index]
    start = start or _start(rng, day)
    orders, audience = _orders_and_audience_for(rng, cents)
    platform = rng.choice(PLATFORMS)
    length = timedelta(minutes=rng.choice([60, 90, 120, 120, 150, 180, 240, 300]))
    # One session per official per start time, and never two at once on one platform (the
    # rule every entry path applies): else the first half hour of the same day that fits.
    def clashes(moment) -> bool:
        return any(
            i == index and (s == moment or (p == platform and s < moment + length and moment < e))
            for i, p, s, e in used
        )

    if clashes(start):
        morning = start.replace(hour=8, minute=0)
        start = next(m for m in (morning + timedelta(minutes=30 * k) for k in range(30))
                     if not clashes(m))
    used.append((index, platform, start, start + length))
    products = PRODUCTS[county]
    return DemoSession(
        official_index=index,
        platform=platform,
        title=f"{name}直播带货：{products.split('、')[0]}",
        products=products,
        started_at=start,
        ended_at=start + length,
        audience=audience,
        orders=orders,
        revenue=Decimal(cents) / 100,
    )


# --- Evidence files ---------------------------------------------------------------------------

# Every EVIDENCE_GAP-th demo session (in start order) has no evidence, so the demo shows
# sessions still waiting for theirs; every third of the others has the platform's CSV export,
# the rest a screenshot of the platform's dashboard.
EVIDENCE_GAP = 8
PLATFORM_COLOURS = {
    "douyin": (22, 24, 35), "kuaishou": (255, 73, 6), "taobao_live": (255, 80, 0),
    "wechat_channels": (7, 193, 96), "jd": (224, 40, 40), "pinduoduo": (224, 46, 36),
    "other": (80, 90, 110),
}


def demo_evidence_file(*, session, index: int) -> tuple[str, bytes] | None:
    """(file name, content) of the generated evidence of the index-th demo session, or None
    for the sessions the demo leaves without evidence. The same session gives the same
    bytes on every run."""
    if index % EVIDENCE_GAP == EVIDENCE_GAP - 1:
        return None
    start = timezone.localtime(session.started_at)
    stamp = start.strftime("%Y%m%d-%H%M")
    if index % 3 == 0:
        return f"{session.platform}-export-{stamp}.csv", _demo_export_csv(session)
    return f"{session.platform}-dashboard-{stamp}.png", _demo_screenshot_png(session)


def _demo_export_csv(session) -> bytes:
    start = timezone.localtime(session.started_at)
    end = timezone.localtime(session.ended_at)
    rows = [
        ["直播标题", "开始时间", "结束时间", "观看人数", "订单数", "成交金额(元)"],
        [session.title, f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}",
         str(session.audience), str(session.orders), f"{session.revenue:.2f}"],
    ]
    text = "\r\n".join(",".join(cell.replace(",", "，") for cell in row) for row in rows)
    return ("\ufeff" + text + "\r\n").encode("utf-8")


def _demo_screenshot_png(session) -> bytes:
    """A small picture standing for a screenshot of the platform's end-of-show dashboard:
    the platform's colour and the session's figures (Latin text: Pillow's bundled font has
    no Chinese)."""
    from io import BytesIO

    from PIL import Image, ImageDraw, ImageFont

    start = timezone.localtime(session.started_at)
    image = Image.new("RGB", (640, 360), (246, 247, 249))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 640, 64), fill=PLATFORM_COLOURS.get(session.platform, (80, 90, 110)))
    title = ImageFont.load_default(size=28)
    text = ImageFont.load_default(size=22)
    draw.text((20, 16), f"{session.platform.replace('_', ' ').title()} - live report",
              fill="white", font=title)
    lines = [
        f"Started   {start:%Y-%m-%d %H:%M} (Beijing)",
        f"Viewers   {session.audience:,}",
        f"Orders    {session.orders:,}",
        f"GMV       CNY {session.revenue:,.2f}",
        f"Session   #{session.pk}",
    ]
    for i, line in enumerate(lines):
        draw.text((24, 90 + 48 * i), line, fill=(29, 35, 48), font=text)
    out = BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def demo_evidence(*, sessions, uploaded_by) -> int:
    """Give the demo sessions (in start order) their generated evidence through
    `services.evidence_add`, skipping those that already have some; return how many files
    were added."""
    from django.core.files.base import ContentFile

    from .services import evidence_add

    added = 0
    for index, session in enumerate(sessions):
        generated = demo_evidence_file(session=session, index=index)
        if generated is None or session.evidence.exists():
            continue
        name, content = generated
        evidence_add(session=session, uploaded_by=uploaded_by,
                     file=ContentFile(content, name=name))
        added += 1
    return added
