"""The review queue in a real browser, by keyboard only: one reviewer clears a holiday's
backlog (verify, dismiss a flag with a note, reject with a reason); and the official report
printed to PDF by headless Chromium (A4 portrait, page numbers, the revision)."""

import io
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from rankings.services import holiday_publish, holiday_rankings_recompute
from sessions_app import services
from sessions_app.flags import session_flags_refresh
from sessions_app.models import LivestreamSession, SessionFlag, SessionStatus

from ..factories import (
    HolidayFactory,
    OfficialFactory,
    SessionFactory,
    UserFactory,
    beijing,
    png_bytes,
)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def test_a_reviewer_clears_the_queue_with_the_keyboard(page, server, login, media,
                                                       foreign_requests):
    holiday = HolidayFactory()
    staff = UserFactory(username="queue-staff", group="city_staff")
    reviewer = UserFactory(username="queue-reviewer", group="city_staff")
    big = SessionFactory(title="核桃大场", revenue=Decimal("90000.00"), entered_by=staff)
    padded = SessionFactory(title="小米专场", revenue=Decimal("5000.00"), audience=100,
                            orders=150, entered_by=staff)
    doubtful = SessionFactory(title="苹果专场", revenue=Decimal("1000.00"), entered_by=staff)
    SessionFactory(title="已核实", revenue=Decimal("99999.00"), entered_by=staff)
    LivestreamSession.objects.filter(title="已核实").update(status=SessionStatus.REJECTED,
                                                         rejection_reason="x")
    services.evidence_add(session=big, uploaded_by=staff,
                          file=ContentFile(png_bytes(), name="douyin.png"))
    # Entered during the holiday (else every 2020 session is also a late entry).
    LivestreamSession.objects.update(created_at=beijing(2020, 5, 3, 12))
    session_flags_refresh(holiday_id=holiday.pk, notify=False)
    login(page, reviewer)

    page.goto(f"{server.url}/sessions/queue/")

    items = page.locator(".queue-item")
    assert [items.nth(i).get_attribute("data-session") for i in range(items.count())] == [
        str(big.pk), str(padded.pk), str(doubtful.pk)]  # largest revenue first, none rejected
    assert page.locator(f'.queue-item[data-session="{padded.pk}"] [data-flag]').count() >= 1
    # The first session has the focus: "v" verifies it.
    page.wait_for_function("document.activeElement.classList.contains('queue-item')")
    with page.expect_navigation():
        page.keyboard.press("v")
    assert LivestreamSession.objects.get(pk=big.pk).status == SessionStatus.VERIFIED

    # Back on the queue, now led by the flagged one: "d", a note, Enter dismisses its flag.
    page.wait_for_function("document.activeElement.classList.contains('queue-item')")
    assert page.evaluate("document.activeElement.dataset.session") == str(padded.pk)
    page.keyboard.press("d")
    page.keyboard.type("电话订单也计入")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    dismissed = SessionFlag.objects.get(session=padded, code="orders_exceed_audience")
    assert dismissed.dismissed and dismissed.dismissal_note == "电话订单也计入"
    assert dismissed.dismissed_by == reviewer

    # "j" moves to the next session; "r", a reason, Enter rejects it.
    page.wait_for_function("document.activeElement.classList.contains('queue-item')")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.session") == str(doubtful.pk)
    page.keyboard.press("r")
    page.keyboard.type("截图与后台不符")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    rejected = LivestreamSession.objects.get(pk=doubtful.pk)
    assert (rejected.status, rejected.rejection_reason) == (SessionStatus.REJECTED,
                                                            "截图与后台不符")
    assert page.locator(f'.queue-item[data-session="{doubtful.pk}"]').count() == 0
    assert foreign_requests() == []


def test_the_report_prints_to_a4_pdf_with_page_numbers_and_the_revision(page, server, login):
    from pypdf import PdfReader

    holiday = HolidayFactory()
    lead = UserFactory(username="report-lead", group="city_leads")
    for n in range(60):  # enough rows for more than one page
        SessionFactory(official=OfficialFactory(name=f"干部{n:02d}"),
                       revenue=Decimal(1000 + n))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    holiday_publish(holiday=holiday, user=lead, note="正式发布")
    login(page, lead)

    page.goto(f"{server.url}/holidays/{holiday.slug}/report/?revision=1")
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)

    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 2
    for pdf_page in reader.pages:
        width, height = float(pdf_page.mediabox.width), float(pdf_page.mediabox.height)
        assert (round(width), round(height)) == (595, 842)  # A4 portrait, in points
    first = reader.pages[0].extract_text()
    last = reader.pages[-1].extract_text()
    assert "临汾市" in first and "第 1 版" in first
    assert f"1 / {len(reader.pages)}" in first.replace("\n", " ")
    assert f"{len(reader.pages)} / {len(reader.pages)}" in last.replace("\n", " ")
    assert "下载" not in first  # the screen-only links are not printed
