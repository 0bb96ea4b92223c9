"""A real-time repayment during end of day: the loan ends consistent either way round."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from apps.eod.chunks import Chunk
from apps.eod.pipeline import catch_up_inline
from apps.eod.posting import eod_entries_post
from apps.financing.disbursement import loan_disburse
from apps.ledger.models import JournalEntry
from apps.repayments import eod
from apps.repayments.models import LoanState
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post
from tests.locking import Attempt

DAY = datetime.timedelta(days=1)


@pytest.mark.django_db(transaction=True)
def test_a_repayment_waits_for_the_chunk_holding_its_loan_and_then_sees_its_result(accepted, lender):
    loan = loan_disburse(application=accepted("1800.00"), actor="t")
    late = loan.maturity_date + 5 * DAY
    catch_up_inline(through=late - DAY)
    chunk = Chunk(run_id=0, business_date=late, lo=loan.pk, hi=loan.pk + 1)
    paid = threading.Event()

    def pay():
        try:
            repayment_post(loan=loan, amount=Decimal("5000.00"), source="portal", reference="during-eod", actor="m",
                           received_on=late)
            paid.set()
        finally:
            connections.close_all()

    with transaction.atomic():  # the chunk's transaction: accrual has locked the loan's installments
        eod.interest_accrue(chunk)
        eod.penalties_accrue(chunk)
        payer = threading.Thread(target=pay)
        payer.start()
        payer.join(timeout=2)
        assert not paid.is_set()  # it queues behind the chunk instead of interleaving with it
    payer.join(timeout=30)
    assert paid.is_set()
    catch_up_inline(through=late)  # the rest of the night sees the payment: current again, nothing provisioned
    loan.refresh_from_db()
    assert loan.state == LoanState.PAID_OFF and loan.provision == 0
    installment = loan.installments.get()
    # penalty for the 5 days overdue, accrued once (by the chunk), then paid
    assert installment.penalty_accrued == installment.penalty_paid == Decimal("2.50")
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM repayments_penaltyaccrual WHERE loan_id = %s", [loan.pk])
        assert cursor.fetchone()[0] >= 1


@pytest.mark.django_db(transaction=True)
def test_accrual_skips_a_row_a_repayment_changed_under_it_and_finishes_it_under_lock(accepted, lender):
    """The optimistic update meets a row changed after it was read: the locking pass accrues it, once."""
    loan = loan_disburse(application=accepted("1800.00"), actor="t")
    day = loan.start_date + 10 * DAY
    holding, release = threading.Event(), threading.Event()

    def accrue_in_real_time():
        try:
            from apps.repayments.accrual import loan_accrue

            with transaction.atomic():
                loan_accrue(loan=loan, through=day - 3 * DAY, actor="repayment")  # writes the row, holds its lock
                holding.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=accrue_in_real_time)
    thread.start()
    assert holding.wait(timeout=30)
    threading.Timer(1.0, release.set).start()  # commit while the chunk's update waits on the row
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        eod.interest_accrue(Chunk(run_id=0, business_date=day, lo=loan.pk, hi=loan.pk + 1))
    thread.join(timeout=30)
    assert any("FOR UPDATE OF i" in q["sql"] for q in queries.captured_queries)  # the locking pass ran
    installment = loan.installments.get()
    from apps.repayments.accrual import accrued_through

    assert installment.interest_accrued == accrued_through(due=installment.interest_due, period_start=loan.start_date,
                                                           period_end=installment.due_date, through=day)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


@pytest.mark.django_db(transaction=True)
def test_a_chunk_holds_no_ledger_rows_until_it_posts_last(accepted, lender):
    """A chunk's entries post at its end: until then a repayment of a loan outside it goes straight through."""
    inside = loan_disburse(application=accepted("1800.00"), actor="t")
    outside = loan_disburse(application=accepted("1000.00", take=slice(2, 4)), actor="t")
    chunk = Chunk(run_id=0, business_date=inside.start_date + 10 * DAY, lo=inside.pk, hi=inside.pk + 1, entries=[])
    with transaction.atomic():
        assert eod.interest_accrue(chunk) == 1 and len(chunk.entries) == 1
        repayment = Attempt(lambda: repayment_post(loan=outside, amount=Decimal("100.00"), source="portal",
                                                   reference="meanwhile", actor="m"))
        assert repayment.finished_within(10)
        eod_entries_post(chunk)
    repayment.join()
    assert JournalEntry.objects.filter(reference__startswith=f"eod:{chunk.business_date}:interest:").count() == 1
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
