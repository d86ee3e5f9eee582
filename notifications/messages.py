"""The words of each notification and webhook message, in the active language.

Texts are made when shown (list page, API, email, robot message), not stored, so each reader
gets them in their own language; what they are made from is stored (the change's ranks and
values, the event's details).
"""

from decimal import Decimal

from django.utils.translation import gettext as _

from rankings.targets import metric_is_money, metric_label
from rankings.templatetags.figures import count, yuan

from .models import ChangeKind, Kind, Notification


def figure(metric: str, value) -> str:
    """A metric's value as the pages print it: yuan for money, a whole count otherwise."""
    if value is None:
        return "–"
    if metric_is_money(metric):
        return _("%(amount)s yuan") % {"amount": yuan(Decimal(value))}
    return count(Decimal(value))


def _subject(change) -> str:
    return change.official.name if change.official_id else change.county.display_name


def change_text(change, *, personal: bool) -> str:
    """One ranking change (a Notification, or a webhook item read back) as a sentence;
    `personal` addresses the official concerned ("you"), otherwise names them (group
    chats)."""
    metric = metric_label(change.metric)
    values = {"metric": metric, "name": _subject(change), "rank": change.rank,
              "previous": change.previous_rank, "value": figure(change.metric, change.value)}
    if change.event == ChangeKind.OVERTAKEN:
        values.update(by=change.other_official.name if change.other_official_id else "?",
                      gap=figure(change.metric, (change.other_value or 0) - (change.value or 0)))
        if personal:
            return _("%(metric)s: %(by)s overtook you and is %(gap)s ahead; you are now No. "
                     "%(rank)s (was No. %(previous)s).") % values
        return _("%(metric)s: %(by)s overtook %(name)s and is %(gap)s ahead; %(name)s is now "
                 "No. %(rank)s (was No. %(previous)s).") % values
    if change.event == ChangeKind.TOP10_ENTERED:
        if personal:
            return _("%(metric)s: you entered the top 10, now No. %(rank)s (%(value)s).") % values
        return _("%(metric)s: %(name)s entered the top 10, now No. %(rank)s (%(value)s).") % values
    if change.event == ChangeKind.TOP10_LEFT:
        if change.rank is None:
            if personal:
                return _("%(metric)s: you left the top 10 (was No. %(previous)s) and are no "
                         "longer ranked.") % values
            return _("%(metric)s: %(name)s left the top 10 (was No. %(previous)s) and is no "
                     "longer ranked.") % values
        if personal:
            return _("%(metric)s: you left the top 10, now No. %(rank)s (was No. "
                     "%(previous)s).") % values
        return _("%(metric)s: %(name)s left the top 10, now No. %(rank)s (was No. "
                 "%(previous)s).") % values
    if change.event == ChangeKind.TARGET_REACHED:
        values["target"] = figure(change.metric, change.other_value)
        if personal and change.official_id:
            return _("%(metric)s: you reached your target of %(target)s (now %(value)s).") % values
        return _("%(metric)s: %(name)s reached its target of %(target)s (now %(value)s).") % values
    return str(change.event)


def notification_text(notification: Notification) -> str:
    """What the notification says to its user."""
    data = notification.data or {}
    if notification.event in ChangeKind.values:
        return change_text(notification, personal=True)
    values = {"title": data.get("title", ""), "detail": data.get("detail", ""),
              "revision": data.get("revision", ""),
              "holiday": notification.holiday.name if notification.holiday_id else ""}
    if notification.kind == Kind.SESSION_VERIFIED:
        return _("Your session “%(title)s” was verified.") % values
    if notification.kind == Kind.SESSION_REJECTED:
        return _("Your session “%(title)s” was rejected: %(detail)s") % values
    if notification.kind == Kind.SESSION_FLAGGED:
        return _("Your session “%(title)s” was flagged: %(detail)s") % values
    if notification.kind == Kind.PUBLISHED:
        return _("The rankings of %(holiday)s were published (revision %(revision)s).") % values
    return notification.get_kind_display()


def notification_link(notification: Notification) -> str:
    """The page a notification is about (site-relative)."""
    if notification.session_id:
        return f"/sessions/{notification.session_id}/edit/"
    if notification.holiday_id:
        query = f"?metric={notification.metric}" if notification.metric else ""
        return f"/holidays/{notification.holiday.slug}/{query}"
    return "/notifications/"


# --- Robot messages (DingTalk, WeCom) ---------------------------------------------------------


class _ItemChange:
    """A webhook payload item read back as a change, so robots and users share the wording."""

    class _Named:
        def __init__(self, data: dict | None):
            data = data or {}
            self.name = data.get("name", "")
            self.display_name = data.get("name_zh") or data.get("name", "")

    def __init__(self, item: dict):
        self.event = item.get("kind", "")
        self.metric = item.get("metric", "")
        self.rank = item.get("rank")
        self.previous_rank = item.get("previous_rank")
        self.value = item.get("value")
        self.official_id = (item.get("official") or {}).get("id")
        self.official = self._Named(item.get("official"))
        self.county = self._Named(item.get("county"))
        self.other_official_id = (item.get("by") or {}).get("id")
        self.other_official = self._Named(item.get("by"))
        self.other_value = item.get("by_value") or item.get("target")
        if self.value is not None:
            self.value = Decimal(self.value)
        if self.other_value is not None:
            self.other_value = Decimal(self.other_value)


def robot_markdown(payload: dict) -> tuple[str, str]:
    """(title, markdown) of a delivery's payload for a group chat robot."""
    event = payload.get("event", "")
    holiday = (payload.get("holiday") or {}).get("name", "")
    data = payload.get("data") or {}
    titles = {
        "overtaken": _("Overtakes"), "top10": _("Top 10 changes"),
        "target_reached": _("Targets reached"), "snapshot_ready": _("New rankings"),
        "session_verified": _("Session verified"), "session_rejected": _("Session rejected"),
        "session_flagged": _("Session flagged"), "published": _("Rankings published"),
        "test": _("Test message"),
    }
    title = str(titles.get(event, event))
    if holiday:
        title = f"{holiday} · {title}"
    lines = [f"### {title}", ""]
    if "items" in data:
        for item in data["items"]:
            lines.append("- " + change_text(_ItemChange(item), personal=False))
        if data.get("total", 0) > len(data["items"]):
            lines.append(_("- … and %(more)s more") % {"more": data["total"] - len(data["items"])})
    elif event == "snapshot_ready":
        snapshot = data.get("snapshot") or {}
        lines.append(_("New rankings computed over %(sessions)s sessions.")
                     % {"sessions": count(snapshot.get("sessions", 0))})
    elif event.startswith("session_"):
        session = data.get("session") or {}
        lines.append(_("%(official)s: “%(title)s” %(detail)s") % {
            "official": (session.get("official") or {}).get("name", ""),
            "title": session.get("title", ""), "detail": data.get("detail", "")})
    elif event == "published":
        lines.append(_("Revision %(revision)s. %(note)s") % {
            "revision": data.get("revision", ""), "note": data.get("note", "")})
    else:
        lines.append(_("The webhook works: this is a test message from the Linfen livestream "
                       "tracker."))
    return title, "\n".join(lines).strip()
