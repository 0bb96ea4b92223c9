"""Benchmark: one end of day over a synthetic book, on real Celery workers, then the same date again.

    manage.py bench_eod [--loans 1000000] [--workers 2] [--chunk-size 20000]

In a throwaway database on the configured PostgreSQL server (created here, dropped after),
the book is loaded set-based (INSERT … SELECT generate_series, no ORM save per loan): one
lender, a merchant per 50 loans, 80% pre-sale advances (bullet) and 20% three-month term
loans (equal principal); about 10% of the advances are past due by 1–129 days, the rest
current. An opening journal entry puts the book's principal on the GL. End of day for the
day before is run first (unmeasured) so the measured night starts from a steady state;
then end of day for today runs on a Celery worker with `--workers` processes, and runs
again. Prints one JSON line:

    {"loans": …, "eod_seconds": …, "loans_per_s": …, "rerun_new_rows": 0, "peak_rss_mb": …, …}

peak_rss_mb is the largest resident set of this process and of every worker process.
"""

import datetime
import json
import os
import resource
import subprocess
import sys
import time
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.core.benchmarks import scratch_database
from apps.core.calendar import business_date_today

COUNTED = ("ledger_journalentry", "ledger_journalline", "notifications_notice", "notifications_outboxmessage",
           "collections_dunningevent", "core_auditevent", "repayments_penaltyaccrual")

_BOOK_SQL = """
INSERT INTO merchants_merchant (lender_id, company_name, store_handle, contact_name, contact_email, contact_phone,
    bank_name, bank_account_name, bank_account_number, kyc_state, kyc_decision_reason, risk_grade, credit_limit, created_at)
SELECT %(lender)s, 'Shop ' || g, 'shop-' || g, 'Owner ' || g, 'shop' || g || '@example.com', '+86 130 ' || g, 'Bank',
       'Shop ' || g, lpad(g::text, 12, '0'), 'verified', '', 'B', 100000, now()
FROM generate_series(1, %(merchants)s) g;

INSERT INTO financing_financingapplication (product_id, merchant_id, amount, currency, state, decision_note, created_at)
SELECT (SELECT min(id) FROM financing_loanproduct WHERE lender_id = %(lender)s AND kind = 'presale_advance'),
       first.id + (g %% %(merchants)s), 1000 + (g %% 50) * 100, 'CNY', 'disbursed', '', now()
FROM generate_series(1, %(loans)s) g
CROSS JOIN (SELECT min(id) AS id FROM merchants_merchant WHERE lender_id = %(lender)s) first;

-- g %% 5 = 1: term loan; g %% 10 = 0: an advance past due by (g / 10) %% 130 days; otherwise current.
INSERT INTO repayments_loan (application_id, merchant_id, product, repayment_method, allocation_strategy, currency, principal,
    lender_principal,
    partner_principal,
    annual_rate, day_count, penalty_annual_rate, apr, start_date, maturity_date, state, disbursed_at, created_at, bucket,
    provision)
SELECT a.id, a.merchant_id, CASE WHEN s.term THEN 'term_loan' ELSE 'presale_advance' END,
       CASE WHEN s.term THEN 'equal_principal' ELSE 'bullet' END, 'default', 'CNY', a.amount, a.amount, 0,
       0.1200, 'ACT/360', 0.1000, 0.1268, s.start, s.maturity, 'active', now(), now(), 'current', 0
FROM (SELECT a.*, row_number() OVER (ORDER BY a.id) AS g FROM financing_financingapplication a) a
CROSS JOIN LATERAL (
    SELECT a.g %% 5 = 1 AS term,
           CASE WHEN a.g %% 5 = 1 THEN %(d)s - ((a.g / 5) %% 85)::int - 1
                WHEN a.g %% 10 = 0 THEN %(d)s - 60 - ((a.g / 10) %% 130)::int
                ELSE %(d)s - (a.g %% 40)::int - 1 END AS start
) s0
CROSS JOIN LATERAL (
    SELECT s0.term, s0.start,
           CASE WHEN s0.term THEN (s0.start + interval '3 months')::date ELSE s0.start + 60 END AS maturity
) s
ORDER BY a.id;

INSERT INTO repayments_loaninstallment (loan_id, number, due_date, principal_due, interest_due, fee_due, interest_accrued,
    fee_accrued, penalty_accrued, penalty_paid, principal_paid, interest_paid, fee_paid, status)
SELECT l.id, 1, l.maturity_date, l.principal, round(l.principal * 0.12 * 60 / 360, 2), 0, 0, 0, 0, 0, 0, 0, 0, 'scheduled'
FROM repayments_loan l WHERE l.product = 'presale_advance';

-- Term loans: equal principal over three months (the last absorbs the residue); installments already due are paid.
INSERT INTO repayments_loaninstallment (loan_id, number, due_date, principal_due, interest_due, fee_due, interest_accrued,
    fee_accrued, penalty_accrued, penalty_paid, principal_paid, interest_paid, fee_paid, status)
SELECT l.id, n, due, p, i, 0, CASE WHEN due < %(d)s THEN i ELSE 0 END, 0, 0, 0,
       CASE WHEN due < %(d)s THEN p ELSE 0 END, CASE WHEN due < %(d)s THEN i ELSE 0 END, 0,
       CASE WHEN due < %(d)s THEN 'paid' ELSE 'scheduled' END
FROM repayments_loan l
CROSS JOIN LATERAL generate_series(1, 3) n
CROSS JOIN LATERAL (
    SELECT (l.start_date + make_interval(months => n))::date AS due,
           CASE WHEN n < 3 THEN round(l.principal / 3, 2) ELSE l.principal - 2 * round(l.principal / 3, 2) END AS p,
           round((l.principal - (n - 1) * round(l.principal / 3, 2)) * 0.01, 2) AS i
) x
WHERE l.product = 'term_loan';
"""


class Command(BaseCommand):
    help = "End of day over a synthetic book (default 1,000,000 loans) on Celery workers, then again; one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("--loans", type=int, default=1_000_000)
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
        parser.add_argument("--chunk-size", type=int, default=20_000)
        parser.add_argument("--timeout", type=float, default=1800.0)

    def handle(self, *args, loans, workers, chunk_size, timeout, **options):
        if loans < 10:
            raise CommandError("--loans must be at least 10.")
        worker = None
        with scratch_database("bench_eod", self._log) as (base, scratch):
            try:
                today = business_date_today()
                self._book_load(loans, today)
                worker = self._worker_start(base, scratch, workers)
                self._log("end of day for the day before (unmeasured) …")
                self._eod(today - datetime.timedelta(days=1), chunk_size, timeout)
                with connection.cursor() as cursor:  # what autovacuum's analyze would know by the next night
                    cursor.execute("ANALYZE")
                self._log("end of day (measured) …")
                started = time.monotonic()
                self._eod(today, chunk_size, timeout)
                seconds = time.monotonic() - started
                before = self._row_counts()
                from apps.eod.models import EodRun
                from apps.eod.pipeline import run_progress

                for step in run_progress(EodRun.objects.get(business_date=today)):
                    self._log(f"  {step['step']:<22} {step['seconds']:7.2f} s in chunks  {step['rows']:>9} rows")
                EodRun.objects.filter(business_date=today).delete()  # run the date again from scratch: every chunk
                self._log("the same date again …")
                self._eod(today, chunk_size, timeout)
                new_rows = sum(self._row_counts().values()) - sum(before.values())
                difference = self._reconciliation_difference()
            finally:
                if worker is not None:
                    worker.terminate()
                    worker.wait(timeout=60)
        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        self.stdout.write(json.dumps({
            "loans": loans, "eod_seconds": round(seconds, 2), "loans_per_s": round(loans / seconds),
            "rerun_new_rows": new_rows, "peak_rss_mb": round(peak / 1024, 1), "workers": workers, "chunk_size": chunk_size,
            "reconciliation_difference": str(difference),
        }))

    def _log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def _book_load(self, loans: int, today: datetime.date) -> None:
        from apps.accounts.models import Lender
        from apps.financing.products import loan_products_default_ensure
        from apps.ledger.models import Acct
        from apps.ledger.posting import cr, dr, journal_post
        from apps.ledger.services import ledger_setup_ensure

        started = time.monotonic()
        lender = Lender.objects.create(slug="bench", name="Bench Small Loan Co")
        ledger_setup_ensure(lender=lender)
        loan_products_default_ensure(lender=lender)
        with connection.cursor() as cursor:
            cursor.execute(_BOOK_SQL, {"lender": lender.pk, "loans": loans, "merchants": max(1, loans // 50), "d": today})
            cursor.execute("SELECT sum(principal_due - principal_paid) FROM repayments_loaninstallment")
            principal = cursor.fetchone()[0]
            cursor.execute("ANALYZE")
        # The book's principal on the GL, as the disbursements would have put it (funded by capital).
        journal_post(lender=lender, reference="bench-opening", actor="bench", description="Synthetic book",
                     lines=[dr(Acct.LOANS_PRINCIPAL, principal), cr(Acct.PAID_IN_CAPITAL, principal)])
        self._log(f"book of {loans} loans loaded in {time.monotonic() - started:.1f} s")

    def _worker_start(self, base: dict, scratch: str, workers: int) -> subprocess.Popen:
        queue = f"bench-eod-{os.getpid()}"
        os.environ["CELERY_QUEUE"] = queue
        settings.CELERY_TASK_DEFAULT_QUEUE = queue
        from orderfin.celery import app

        app.conf.task_default_queue = queue
        auth = base["USER"] + (f":{base['PASSWORD']}" if base.get("PASSWORD") else "")
        env = {**os.environ, "DATABASE_URL": f"postgres://{auth}@{base['HOST'] or '127.0.0.1'}:{base['PORT'] or 5432}/{scratch}",
               "CELERY_QUEUE": queue}
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orderfin", "worker", "-c", str(workers), "-Q", queue, "-l", "warning",
             "--without-gossip", "--without-mingle", "--without-heartbeat"], env=env, stdout=sys.stderr)  # stdout: the JSON only
        return worker

    def _eod(self, business_date: datetime.date, chunk_size: int, timeout: float) -> None:
        from apps.eod.models import EodRun, RunState
        from apps.eod.pipeline import run_prepare
        from apps.eod.tasks import eod_advance

        run = run_prepare(business_date=business_date, chunk_size=chunk_size)
        eod_advance.delay(run.pk, business_date.isoformat(), resume=True)
        deadline = time.monotonic() + timeout
        while EodRun.objects.filter(pk=run.pk, state=RunState.COMPLETED).count() == 0:
            if time.monotonic() > deadline:
                raise CommandError(f"End of day for {business_date} did not complete within {timeout:.0f} s.")
            time.sleep(0.05)

    def _row_counts(self) -> dict[str, int]:
        with connection.cursor() as cursor:
            return {t: cursor.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}

    def _reconciliation_difference(self) -> Decimal:
        from apps.accounts.models import Lender
        from apps.repayments.selectors import reconciliation_get

        lender = Lender.objects.get(slug="bench")
        return sum((abs(row.difference) for row in reconciliation_get(lender=lender)), Decimal("0.00"))
