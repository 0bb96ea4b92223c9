"""Kill the worker in the middle of a chunk; the next run completes the date exactly once."""

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from apps.accounts.models import Lender
from apps.core.calendar import business_date_today
from apps.eod.management.commands.bench_eod import Command as BenchEod
from apps.eod.models import EodChunk, EodRun, RunState
from apps.eod.pipeline import catch_up_inline
from apps.eod.tasks import eod_catch_up
from apps.ledger.models import Acct, JournalEntry
from apps.repayments.selectors import reconciliation_get

ROOT = Path(__file__).resolve().parents[2]
TODAY = business_date_today()
pytestmark = pytest.mark.django_db(transaction=True)


def _dsn() -> str:
    db = settings.DATABASES["default"]
    return (f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} dbname={db['NAME']} user={db['USER']}"
            + (f" password={db['PASSWORD']}" if db.get("PASSWORD") else ""))


@pytest.fixture
def queue(settings):
    from orderfin.celery import app

    name = f"eod-test-{os.getpid()}"
    settings.CELERY_TASK_DEFAULT_QUEUE = name
    previous, app.conf.task_default_queue = app.conf.task_default_queue, name
    yield name
    app.conf.task_default_queue = previous


def _worker(queue: str) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "orderfin.settings.test", "CELERY_QUEUE": queue,
           "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "orderfin", "worker", "--pool", "solo", "-Q", queue, "-n",
         f"{queue}-{time.monotonic_ns()}@%h", "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _until(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _blocked_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0]


def test_a_killed_worker_leaves_the_date_to_complete_exactly_once(queue):
    BenchEod()._book_load(40, TODAY)  # 40 synthetic loans, some overdue, loaded set-based
    catch_up_inline(through=TODAY - datetime.timedelta(days=1), chunk_size=10)
    lender = Lender.objects.get(slug="bench")
    interest_account = lender.ledger_accounts.get(code=Acct.LOANS_INTEREST).pk

    # Hold the interest-receivable balance row: the first accrual chunk updates its installments,
    # then waits here to post — and the worker is killed in the middle of that transaction.
    blocker = psycopg.connect(_dsn())
    blocker.execute("SELECT 1 FROM ledger_accountbalance WHERE account_id = %s FOR UPDATE", [interest_account])
    worker = _worker(queue)
    try:
        eod_catch_up.delay(TODAY.isoformat())
        _until(_blocked_backends, what="the chunk to block on the balance row")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
    run = EodRun.objects.get(business_date=TODAY)
    assert run.state == RunState.RUNNING
    assert not EodChunk.objects.filter(run=run, step="accrue_interest", done=True).exists()
    _until(lambda: _blocked_backends() == 0 and not _chunk_backends(), what="the killed chunk's transaction to roll back")
    assert not JournalEntry.objects.filter(reference__startswith=f"eod:{TODAY.isoformat()}").exists()

    worker = _worker(queue)  # a new worker; running the date again resumes it
    try:
        eod_catch_up.delay(TODAY.isoformat())
        _until(lambda: EodRun.objects.filter(pk=run.pk, state=RunState.COMPLETED).exists(), what="the run to complete")
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert not EodChunk.objects.filter(run=run, done=False).exists()
    with connection.cursor() as cursor:  # every installment accrued exactly to the date: not twice, not missed
        cursor.execute("""
            SELECT count(*) FROM repayments_loaninstallment i JOIN repayments_loan l ON l.id = i.loan_id
            WHERE l.state IN ('active', 'overdue') AND i.interest_accrued <> repayments_accrued_through(
                i.interest_due, coalesce((SELECT max(p.due_date) FROM repayments_loaninstallment p
                                          WHERE p.loan_id = i.loan_id AND p.number < i.number), l.start_date),
                i.due_date, %s)""", [TODAY])
        assert cursor.fetchone()[0] == 0
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    assert JournalEntry.objects.filter(reference__startswith=f"eod:{TODAY.isoformat()}:interest:").count() == \
        EodChunk.objects.filter(run=run, step="accrue_interest").exclude(rows=0).count()


def _chunk_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                       " AND state <> 'idle' AND backend_type = 'client backend'")
        return cursor.fetchone()[0]
