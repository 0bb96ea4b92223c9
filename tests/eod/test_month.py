"""A month of nightly end of day over a small book, with outcomes known in advance."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection

from apps.collections.models import CollectionsPolicy, DunningEvent
from apps.core.calendar import business_date_today
from apps.eod.models import EodRun, RunState
from apps.eod.pipeline import catch_up_inline, run_prepare
from apps.financing.disbursement import loan_disburse
from apps.ledger.models import Acct, JournalEntry
from apps.ledger.selectors import balances_by_code_get
from apps.notifications.models import Notice, OutboxMessage
from apps.notifications.tasks import outbox_dispatch
from apps.repayments.models import Loan, LoanState
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post

D = Decimal
TODAY = business_date_today()
DAY = datetime.timedelta(days=1)

COUNTED = ["ledger_journalentry", "ledger_journalline", "notifications_notice", "notifications_outboxmessage",
           "collections_dunningevent", "core_auditevent", "repayments_penaltyaccrual"]


def row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        return {t: cursor.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


@pytest.fixture
def book(accepted, lender):
    """Two advances on the same day: one repaid early, one never repaid."""
    good = loan_disburse(application=accepted("1000.00", take=slice(0, 2)), actor="t")
    bad = loan_disburse(application=accepted("1800.00", take=slice(2, 4)), actor="t")
    CollectionsPolicy.objects.create(lender=lender, version=1, effective_from=TODAY, default_dpd=20)
    return good, bad


def test_a_month_of_end_of_day(book, lender):
    good, bad = book
    maturity = bad.maturity_date
    assert good.maturity_date == maturity
    catch_up_inline(through=TODAY)  # the first run; later ones catch up every missed date
    catch_up_inline(through=maturity - 10 * DAY)
    repayment_post(loan=good, amount=D("2000.00"), source="portal", reference="early", actor="m",
                   received_on=maturity - 10 * DAY)
    runs = catch_up_inline(through=maturity + 31 * DAY)
    assert all(run.state == RunState.COMPLETED for run in runs)
    assert EodRun.objects.count() == (maturity + 31 * DAY - TODAY).days + 1  # every date, in order, once

    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.state == LoanState.PAID_OFF and good.bucket == "current" and good.provision == 0
    # 1,800.00 unpaid since maturity: DPD 31 → bucket 31–60; defaulted at the policy's 20 DPD
    assert bad.overdue_since == maturity + DAY and bad.bucket == "31-60"
    assert bad.state == LoanState.DEFAULTED and bad.defaulted_on == maturity + 20 * DAY
    assert bad.provision == D("450.00")  # 25% of 1,800.00
    installment = bad.installments.get()
    assert installment.status == "overdue"
    assert installment.interest_accrued == installment.interest_due
    # non-accrual once defaulted: penalty 1,800 × 10% ÷ 360 = 0.50 a day for the 20 days through the default date
    assert installment.penalty_accrued == D("10.00")

    # The ladder, once per step: reminder at D−3 and notices up to the demand letter at D+30; none for the good loan
    fired = list(DunningEvent.objects.filter(loan=bad).order_by("step__offset_days")
                 .values_list("step__code", "business_date"))
    assert fired == [("reminder", maturity - 3 * DAY), ("first-notice", maturity + DAY),
                     ("second-notice", maturity + 7 * DAY), ("guarantors", maturity + 15 * DAY),
                     ("demand-letter", maturity + 30 * DAY)]
    assert not DunningEvent.objects.filter(loan=good).exists()
    assert Notice.objects.filter(merchant=bad.merchant, loan=bad).count() == 4  # guarantors' notices go to guarantors
    assert OutboxMessage.objects.filter(channel="sms").count() == 2
    assert outbox_dispatch() == OutboxMessage.objects.count()
    assert len(mail.outbox) == OutboxMessage.objects.filter(channel="email").count()

    balances = balances_by_code_get(lender=lender)
    assert balances[Acct.LOAN_LOSS_ALLOWANCE] == D("-450.00")
    assert balances[Acct.IMPAIRMENT_EXPENSE] == D("450.00")
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    assert JournalEntry.objects.filter(reference__startswith="eod:").exists()


def test_rerunning_a_date_changes_nothing(book):
    _, bad = book
    catch_up_inline(through=bad.maturity_date + 2 * DAY)
    before = row_counts()
    run = EodRun.objects.get(business_date=bad.maturity_date + 2 * DAY)
    assert catch_up_inline(through=bad.maturity_date + 2 * DAY) == []
    # even with its chunks forced to run again, the steps themselves change nothing
    run.chunks.update(done=False)
    run.state = RunState.RUNNING
    run.save()
    from apps.eod.pipeline import run_inline

    run_inline(run)
    assert run.chunks.filter(done=True).exclude(rows=0).count() == 0
    assert row_counts() == before


def test_dates_run_in_order(book):
    catch_up_inline(through=TODAY)
    from apps.core.errors import Conflict

    with pytest.raises(Conflict):
        run_prepare(business_date=TODAY + 3 * DAY)
    assert not Loan.objects.filter(state=LoanState.OVERDUE).exists()


def test_a_failing_chunk_marks_the_run_failed_and_a_rerun_resumes_it(book, monkeypatch):
    from apps.repayments import eod

    real = eod.provisions_post

    def broken(chunk):
        raise RuntimeError("provision table unreachable")

    monkeypatch.setattr(eod, "provisions_post", broken)
    with pytest.raises(RuntimeError):
        catch_up_inline(through=TODAY)
    run = EodRun.objects.get(business_date=TODAY)
    assert run.state == RunState.FAILED and "provision table unreachable" in run.error
    # the chunk's whole phase rolled back with it: nothing half-written
    assert not run.chunks.filter(done=True).exists()
    assert not JournalEntry.objects.filter(reference__startswith=f"eod:{TODAY.isoformat()}").exists()
    monkeypatch.setattr(eod, "provisions_post", real)
    (resumed,) = catch_up_inline(through=TODAY)
    assert resumed.pk == run.pk and resumed.state == RunState.COMPLETED and resumed.error == ""
