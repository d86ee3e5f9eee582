from django.core.management.base import BaseCommand, CommandError

from rankings.services import totals_reconcile
from sessions_app.models import Holiday


class Command(BaseCommand):
    help = (
        "Check the incremental ranking totals against a from-scratch aggregation of the "
        "sessions, list every difference and repair it (--check-only: list, repair nothing). "
        "Without --holiday: every holiday. Exit status 1 when a difference was found."
    )

    def add_arguments(self, parser):
        parser.add_argument("--holiday", metavar="SLUG", help="only this holiday")
        parser.add_argument("--check-only", action="store_true", help="repair nothing")

    def handle(self, *args, holiday=None, check_only=False, **options):
        ids = None
        if holiday:
            found = Holiday.objects.filter(slug=holiday).first()
            if found is None:
                raise CommandError(f"No holiday with slug {holiday!r}.")
            ids = [found.pk]
        reports = totals_reconcile(holiday_ids=ids, repair=not check_only)
        slugs = dict(Holiday.objects.values_list("id", "slug"))
        for report in reports:
            slug = slugs.get(report.holiday_id, report.holiday_id)
            if report.ok:
                self.stdout.write(f"{slug}: totals equal to a from-scratch aggregation")
                continue
            self.stdout.write(f"{slug}: {len(report.differences)} differences"
                              f"{', repaired' if report.repaired else ''}")
            for d in report.differences:
                self.stdout.write(
                    f"  {d.scope} {d.subject_id} {d.metric}: kept {d.kept_value} "
                    f"({d.kept_sessions} sessions), from scratch {d.scratch_value} "
                    f"({d.scratch_sessions} sessions)")
        if any(not report.ok for report in reports):
            raise SystemExit(1)
