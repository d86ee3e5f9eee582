import functools
import io
from datetime import datetime, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from linfen_tracker.generations import RANKINGS, generation_bump
from sessions_app.models import County, Holiday, LivestreamSession, Official
from sessions_app.totals import holiday_totals_rebuild, totals_add

BEIJING = timezone.get_default_timezone()


def beijing(*args) -> datetime:
    """An aware datetime in Beijing time: beijing(2020, 5, 5, 23, 30)."""
    return datetime(*args, tzinfo=BEIJING)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")

    @factory.post_generation
    def group(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class CountyFactory(factory.django.DjangoModelFactory):
    """Prefer the 17 real counties the migration loads; this makes extra ones."""

    class Meta:
        model = County
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"test-county-{n}")
    name = factory.Sequence(lambda n: f"Test County {n}")
    name_zh = factory.Sequence(lambda n: f"测试县{n}")
    kind = County.Kind.COUNTY


class OfficialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Official

    name = factory.Sequence(lambda n: f"Official {n:03d}")
    title = "County head"
    county = factory.LazyFunction(lambda: County.objects.get(slug="jixian"))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # The pinyin search keys as services.official_save writes them; saved without its
        # full_clean, so tests can still store names the rules refuse (rows from before them).
        from sessions_app.pinyin import name_pinyin_keys

        official = model_class(*args, **kwargs)
        official.name_pinyin = name_pinyin_keys(official.name)
        official.save()
        return official


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday
        django_get_or_create = ("slug",)

    name = "Labor Day 2020"
    slug = "labor-day-2020"
    start_date = datetime(2020, 5, 1).date()
    end_date = datetime(2020, 5, 5).date()

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # What holiday_save does for a new holiday: totals of the sessions already there.
        holiday = super()._create(model_class, *args, **kwargs)
        holiday_totals_rebuild(holiday=holiday)
        return holiday


def session_resave(session: LivestreamSession) -> LivestreamSession:
    """Save a factory session changed in place (straight to the table, as `save()` does)
    and rebuild the totals of the holidays it falls in, as a service write keeps them."""
    session.save()
    for holiday in Holiday.objects.covering(session.local_start_date):
        holiday_totals_rebuild(holiday=holiday)
    generation_bump(RANKINGS)
    return session


class SessionFactory(factory.django.DjangoModelFactory):
    """A saved session, written straight to the table (no service, no recompute), with its
    holidays' totals kept as a session write keeps them."""

    class Meta:
        model = LivestreamSession

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        session = super()._create(model_class, *args, **kwargs)
        totals_add(session_ids=[session.pk],
                   holidays=Holiday.objects.covering(session.local_start_date))
        return session

    official = factory.SubFactory(OfficialFactory)
    county = factory.LazyAttribute(lambda o: o.official.county)
    platform = "douyin"
    title = factory.Sequence(lambda n: f"Walnuts live {n}")
    products = "walnuts"
    # A minute apart and a minute long: factory sessions of one official never overlap on a
    # platform (PostgreSQL's exclusion constraint would refuse them). Tests that need a
    # realistic length give ended_at.
    started_at = factory.Sequence(lambda n: beijing(2020, 5, 2, 10) + timedelta(minutes=n))
    ended_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(minutes=1))
    audience = 200_000
    orders = 2_000
    revenue = Decimal("230000.00")


# --- Evidence file contents --------------------------------------------------------------------


def png_bytes(colour=(200, 30, 30), size=(64, 48)) -> bytes:
    """A real PNG image (a different colour gives a different file)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(colour=(30, 120, 200), size=(64, 48)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def pdf_bytes(text: str = "Douyin live report") -> bytes:
    """A minimal one-page PDF."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n"
        + f"% {text}\n".encode() + b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


@functools.cache
def xlsx_bytes(rows=(("观看人数", "订单数"), (1000, 20))) -> bytes:
    """A workbook; the same bytes on every call (a saved workbook carries its save time)."""
    from openpyxl import Workbook

    workbook = Workbook()
    for row in rows:
        workbook.active.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_bytes(text: str = "直播标题,观看人数,订单数\r\n核桃专场,245000,2100\r\n",
              encoding: str = "utf-8-sig") -> bytes:
    return text.encode(encoding)


# The start of a Windows executable ("MZ" header and DOS stub).
EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + (
    b"This program cannot be run in DOS mode.\r\r\n$" + b"\x00" * 200
)
