from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F

from sessions_app import demo
from sessions_app.models import County, Holiday, LivestreamSession, Official, SessionStatus
from sessions_app.services import (
    holiday_save,
    official_save,
    session_create,
    session_reject,
    session_verify,
)

DEMO_USERS = [
    # username, password, group, superuser
    ("admin", "linfen-admin-2020", None, True),
    ("staff", "linfen-staff-2020", "city_staff", False),
    # A second member of city staff: the checks are four-eyes, never one's own entry.
    ("reviewer", "linfen-reviewer-2020", "city_staff", False),
    ("official", "linfen-official-2020", "officials", False),
]


class Command(BaseCommand):
    help = (
        "Load the demo: Labor Day 2020 with 61 sessions (14.2 million yuan, 10 million from key "
        "poverty-relief counties), a few sessions outside it, and a user per role. "
        "Running it again changes nothing."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        users = {}
        for username, password, group, superuser in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_superuser = superuser
            # City staff use the admin too (design.md), without being superusers.
            user.is_staff = superuser or group == "city_staff"
            user.save()
            if group:
                user.groups.add(Group.objects.get(name=group))
            users[username] = user

        holiday = Holiday.objects.filter(slug=demo.HOLIDAY["slug"]).first()
        if holiday is None:
            holiday = holiday_save(holiday=Holiday(**demo.HOLIDAY), user=users["admin"])

        counties = {c.slug: c for c in County.objects.all()}
        officials = []
        for name, title, slug in demo.OFFICIALS:
            official = Official.objects.filter(name=name, county=counties[slug]).first()
            if official is None:
                official = official_save(
                    official=Official(name=name, county=counties[slug], title=title,
                                      title_en=demo.TITLES_EN.get(title, "")),
                    user=users["admin"],
                )
            officials.append(official)
        official_user = users["official"]
        if not Official.objects.filter(user=official_user).exists():
            Official.objects.filter(pk=officials[0].pk).update(user=official_user)

        key_slugs = {slug for slug, c in counties.items() if c.poverty_relief_key}
        stored = set(LivestreamSession.objects.values_list("official_id", "started_at"))
        created, rejected, created_ids = 0, {}, []
        for row in demo.demo_sessions(key_slugs):
            official = officials[row.official_index]
            if (official.pk, row.started_at) in stored:
                continue
            # Through the service, as every entry path: the demo keeps every rule.
            session = session_create(
                entered_by=users["staff"], official=official, county=official.county,
                platform=row.platform, title=row.title, products=row.products,
                started_at=row.started_at, ended_at=row.ended_at, audience=row.audience,
                orders=row.orders, revenue=row.revenue, refunded_orders=row.refunded_orders,
                refunds=row.refunds, unique_viewers=row.unique_viewers,
                peak_viewers=row.peak_viewers, new_followers=row.new_followers,
                hosts=[officials[row.cohost_index]] if row.cohost_index is not None else [],
                items=row.items or [],
            )
            if row.rejection_reason:
                rejected[session.pk] = row.rejection_reason
            created_ids.append(session.pk)
            created += 1
        # Staff enter a show as it ends, not years later: else every demo session is a late
        # entry. (The flags are refreshed after this command's transaction commits.)
        LivestreamSession.objects.filter(pk__in=created_ids).update(
            created_at=F("ended_at") + timedelta(minutes=30))

        evidence = demo.demo_evidence(
            sessions=LivestreamSession.objects.order_by("started_at", "id"),
            uploaded_by=users["staff"],
        )
        # The reviewer checks what staff entered: sessions with evidence are verified, the
        # padded one rejected, those without evidence stay to be checked.
        for session in LivestreamSession.objects.filter(status=SessionStatus.ENTERED,
                                                        pk__in=rejected):
            session_reject(session=session, reviewer=users["reviewer"],
                           reason=rejected[session.pk])
        for session in LivestreamSession.objects.filter(status=SessionStatus.ENTERED,
                                                        evidence__isnull=False).distinct():
            session_verify(session=session, reviewer=users["reviewer"])

        counted = LivestreamSession.objects.counted_in(holiday).count()
        in_days = LivestreamSession.objects.in_holiday(holiday).count()
        self.stdout.write(
            f"Demo holiday {holiday.name} / {holiday.name_zh}: {counted} sessions counted "
            f"({in_days} in its days, the others rejected; {created} created now, "
            f"{evidence} evidence files added)."
        )
        self.stdout.write("Demo logins (change these outside a demo):")
        for username, password, group, _ in DEMO_USERS:
            self.stdout.write(f"  {username:<9} {password:<22} {group or 'superuser'}")
