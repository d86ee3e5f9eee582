"""The bell in a real browser: an official overtaken after a recompute sees the unread count
in the header, opens the list, reads what happened and marks everything read."""

import pytest

from notifications.models import Notification
from notifications.services import preferences_save
from tests.factories import HolidayFactory, OfficialFactory, UserFactory, beijing

from .test_pages_browser import enter_session

pytestmark = pytest.mark.browser


def test_an_overtaken_official_sees_the_bell_and_reads_the_list(page, server, login,
                                                                 foreign_requests):
    HolidayFactory()
    user = UserFactory(username="browser-me", group="officials")
    me = OfficialFactory(name="Li Ming", user=user)
    rival = OfficialFactory(name="Wang Fang")
    # Sessions of 2020 entered today are late entries, and their flags notify too: this
    # official reads only the rankings' news in the site.
    preferences_save(user=user, choices={("session_flagged", "site"): False})
    enter_session(official=me, start=beijing(2020, 5, 1, 9), revenue="5000")
    login(page, user)
    assert page.locator("[data-bell] [data-unread]").count() == 0

    # The rival's session commits; the recompute and its notifications run after commit.
    enter_session(official=rival, start=beijing(2020, 5, 2, 9), revenue="9000")
    assert Notification.objects.filter(user=user, kind="overtaken").exists()
    page.reload()
    bell = page.locator("[data-bell]")
    assert bell.locator("[data-unread]").inner_text() == "1"

    with page.expect_navigation():
        bell.click()
    assert page.url.endswith("/notifications/")
    item = page.locator("li.notification.unread")
    assert item.count() == 1
    assert "Wang Fang" in item.inner_text()

    with page.expect_navigation():
        page.click("[data-action=read-all]")
    assert page.locator("[data-bell] [data-unread]").count() == 0
    assert page.locator("li.notification.unread").count() == 0
    assert foreign_requests() == []
