import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.financing.disbursement import loan_disburse
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get, trial_balance_all_currencies_zero
from apps.repayments.accrual import accrued_through, loan_accrue
from apps.repayments.models import LoanInstallment

D = Decimal


@pytest.fixture
def loan(accepted):
    return loan_disburse(application=accepted("1500.00"), actor="treasurer")


def test_daily_accruals_sum_exactly_to_the_scheduled_interest_and_fee(loan, lender):
    installment = loan.installments.get()
    day = loan.start_date
    while day <= loan.maturity_date:
        loan_accrue(loan=loan, through=day, actor="eod")
        day += datetime.timedelta(days=1)
    installment = LoanInstallment.objects.get(pk=installment.pk)
    assert (installment.interest_accrued, installment.fee_accrued) == (installment.interest_due, installment.fee_due)
    balances = balances_by_code_get(lender=lender)
    assert balances[Acct.LOANS_INTEREST] == installment.interest_due  # the GL reconciles to the sub-ledger
    assert balances[Acct.LOANS_FEES] == installment.fee_due
    assert trial_balance_all_currencies_zero(lender=lender)


def test_accruing_a_date_twice_or_going_back_posts_nothing(loan):
    middle = loan.start_date + datetime.timedelta(days=10)
    assert loan_accrue(loan=loan, through=middle, actor="eod") is not None
    assert loan_accrue(loan=loan, through=middle, actor="eod") is None
    assert loan_accrue(loan=loan, through=middle - datetime.timedelta(days=3), actor="eod") is None


def test_a_late_catch_up_posts_the_whole_gap_in_one_entry(loan):
    entry = loan_accrue(loan=loan, through=loan.maturity_date + datetime.timedelta(days=5), actor="eod")
    installment = loan.installments.get()
    # Interest and fee in full, and five days of penalty on the overdue 1,500.00 (a day: 10% ÷ 360 → 0.42).
    assert installment.penalty_accrued == D("2.10")
    assert sum(line.debit for line in entry.lines.all()) == installment.interest_due + installment.fee_due + D("2.10")


@given(due=st.decimals(min_value=0, max_value=10**9, places=2), days=st.integers(1, 400),
       cuts=st.lists(st.integers(0, 420), max_size=30))
@settings(max_examples=200)
def test_accrual_is_monotone_and_ends_at_the_amount_due(due, days, cuts):
    start = datetime.date(2026, 1, 1)
    end = start + datetime.timedelta(days=days)
    previous = D("0")
    for cut in sorted(cuts) + [days]:
        value = accrued_through(due=due, period_start=start, period_end=end, through=start + datetime.timedelta(days=cut))
        assert previous <= value <= due
        previous = value
    assert previous == due
