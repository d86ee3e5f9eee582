"""The dashboard's board comes a page at a time (rankings/views.py DASHBOARD_BOARD_LENGTH):
a province's 10,000 officials are not one 5 MB page."""

import re
from decimal import Decimal

import pytest

from rankings import views
from rankings.services import holiday_rankings_recompute
from tests.factories import OfficialFactory, SessionFactory, UserFactory, beijing

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_ranked(holiday, monkeypatch):
    """Five officials ranked 1 to 5 by revenue; the board two rows a page."""
    monkeypatch.setattr(views, "DASHBOARD_BOARD_LENGTH", 2)
    officials = [OfficialFactory(name=f"Official {n}") for n in range(1, 6)]
    for n, official in enumerate(officials):
        SessionFactory(official=official, started_at=beijing(2020, 5, 2, 10),
                       revenue=Decimal(1000 - 100 * n))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    return officials


def ranks(html: str) -> list[int]:
    return [int(r) for r in re.findall(r'<tr data-rank="(\d+)"', html)]


def page(client, holiday, query=""):
    response = client.get(f"/holidays/{holiday.slug}/{query}", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return response.content.decode()


def test_the_board_shows_one_page_with_links_to_the_others(client, official_user, holiday,
                                                            five_ranked):
    client.force_login(official_user)

    first, second, last = (page(client, holiday, q) for q in ("", "?page=2", "?page=9"))

    assert ranks(first) == [1, 2] and ranks(second) == [3, 4] and ranks(last) == [5]
    assert "Page 1 of 3" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert "page=3#leaderboard" in second and "page=1#leaderboard" in second
    assert "Page 3 of 3" in last and 'rel="next"' not in last


def test_my_position_shows_under_the_top_of_the_first_page_only(client, holiday, five_ranked,
                                                                monkeypatch):
    monkeypatch.setattr(views, "TOP_N", 1)
    me = UserFactory(username="me", group="officials")
    five_ranked[4].user = me
    five_ranked[4].save()
    client.force_login(me)

    assert "data-my-position" in page(client, holiday)
    assert "data-my-position" not in page(client, holiday, "?page=2")
    assert 'class="mine"' in page(client, holiday, "?page=3")
