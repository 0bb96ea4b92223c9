"""python manage.py run_eod --date YYYY-MM-DD [--inline] [--chunk-size N]

Runs (or resumes) end of day for the date, catching up every missed date before it in
order. By default the chunks go to the Celery workers and the command waits, printing
progress; --inline runs them in this process (no worker needed).
"""

import datetime
import time

from django.core.management.base import BaseCommand, CommandError

from apps.core.calendar import business_date_today
from apps.core.errors import DomainError
from apps.eod.models import EodRun, RunState
from apps.eod.pipeline import catch_up_inline, dates_due, run_progress
from apps.eod.tasks import eod_catch_up


class Command(BaseCommand):
    help = "Run end of day for a business date (catching up missed dates first)."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=datetime.date.fromisoformat, default=None,
                            help="Business date, YYYY-MM-DD (default: today's)")
        parser.add_argument("--inline", action="store_true", help="Run the chunks in this process, not on Celery")
        parser.add_argument("--chunk-size", type=int, default=None, help="Loans per chunk (default: EOD_CHUNK_SIZE)")
        parser.add_argument("--timeout", type=float, default=3600.0, help="Seconds to wait for the workers")

    def handle(self, *args, date, inline, chunk_size, timeout, **options):
        today = business_date_today()
        through = date or today
        if through > today:  # as the back-office form: the day's postings are not in yet
            raise CommandError(f"End of day cannot run for {through}: that date has not happened yet (today is {today}).")
        if not dates_due(through=through):
            self.stdout.write(f"End of day is complete through {through}; nothing to do.")
            return
        try:
            if inline:
                for run in catch_up_inline(through=through, chunk_size=chunk_size):
                    self.stdout.write(f"{run.business_date}: {run.state}")
                return
            eod_catch_up.delay(through.isoformat())
            self._wait(through, timeout)
        except DomainError as exc:
            raise CommandError(exc.message) from exc

    def _wait(self, through: datetime.date, timeout: float) -> None:
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            run = EodRun.objects.filter(business_date__lte=through).order_by("-business_date").first()
            if run is not None:
                done = sum(s["done"] for s in run_progress(run))
                total = sum(s["total"] for s in run_progress(run))
                line = f"{run.business_date}: {run.state} {run.step} {done}/{total} chunks"
                if line != last:
                    self.stdout.write(line)
                    last = line
                if run.business_date == through and run.state == RunState.COMPLETED:
                    return
            time.sleep(0.5)
        raise CommandError(f"End of day for {through} did not complete within {timeout:.0f} s; run the command again "
                           "to resume it (is a Celery worker running?).")
