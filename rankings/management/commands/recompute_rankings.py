import logging

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rankings.services import holiday_rankings_recompute
from sessions_app.flags import session_flags_refresh
from sessions_app.models import Holiday

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Recompute holiday rankings now, in this process. Without options: the current or "
        "latest holiday. A holiday that fails is reported and the others still run; the exit "
        "status is then 1."
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
        failed = []
        for h in holidays:
            try:
                result = holiday_rankings_recompute(holiday_id=h.pk)
            except Exception as error:  # noqa: BLE001 - one bad holiday must not stop the rest
                # Its transaction is rolled back: the holiday keeps its previous snapshot.
                logger.exception("Recompute of holiday %s (id %s) failed", h.slug, h.pk)
                self.stderr.write(f"{h.slug}: failed: {type(error).__name__}: {error}")
                failed.append(h.slug)
                continue
            if result.skipped:
                self.stdout.write(f"{h.slug}: skipped, another recompute is running")
            else:
                self.stdout.write(
                    f"{h.slug}: snapshot {result.snapshot_id}, {result.sessions} sessions, "
                    f"{result.entries} entries, {result.seconds * 1000:.0f} ms"
                )
            # Every flag rule over the whole holiday: the check behind the upkeep that
            # writes and recomputes do (after a repair in the database, say).
            flags = session_flags_refresh(holiday_id=h.pk)
            if not flags.skipped:
                self.stdout.write(f"{h.slug}: anomaly flags: {flags.changed} changed, "
                                  f"{len(flags.raised)} raised, {flags.seconds * 1000:.0f} ms")
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(holidays)} holidays failed: {', '.join(failed)}"
            )
