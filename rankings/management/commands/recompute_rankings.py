from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rankings.services import holiday_rankings_recompute
from sessions_app.models import Holiday


class Command(BaseCommand):
    help = (
        "Recompute holiday rankings now, in this process. Without options: the current or "
        "latest holiday."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--holiday", metavar="SLUG", help="the holiday to recompute")
        group.add_argument("--all", action="store_true", help="recompute every holiday")

    def handle(self, *args, holiday=None, all=False, **options):
        if all:
            holidays = list(Holiday.objects.order_by("start_date"))
        elif holiday:
            found = Holiday.objects.filter(slug=holiday).first()
            if found is None:
                raise CommandError(f"No holiday with slug {holiday!r}.")
            holidays = [found]
        else:
            today = timezone.localdate()
            found = (
                Holiday.objects.covering(today).first()
                or Holiday.objects.filter(start_date__lte=today).order_by("-start_date").first()
                or Holiday.objects.order_by("start_date").first()
            )
            holidays = [found] if found else []
        if not holidays:
            self.stdout.write("No holiday to recompute.")
            return
        for h in holidays:
            result = holiday_rankings_recompute(holiday_id=h.pk)
            if result.skipped:
                self.stdout.write(f"{h.slug}: skipped, another recompute is running")
            else:
                self.stdout.write(
                    f"{h.slug}: snapshot {result.snapshot_id}, {result.sessions} sessions, "
                    f"{result.entries} entries, {result.seconds * 1000:.0f} ms"
                )
