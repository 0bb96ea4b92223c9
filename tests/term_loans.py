"""Term-loan fixtures shared by tests/financing and tests/repayments (imported by their conftest.py)."""

import datetime

import pytest

from apps.financing.application_services import offer_accept, term_loan_apply
from apps.financing.disbursement import loan_disburse
from apps.financing.models import DEFAULT_ADVANCE_RATES, FinancingPolicy
from tests.conftest import TODAY


@pytest.fixture
def six_percent(lender):
    """Grade A priced at 6% a year, 0.5% a month: figures the tests work out on their own."""
    return FinancingPolicy.objects.create(lender=lender, version=2, effective_from=TODAY - datetime.timedelta(days=1),
                                          advance_rates=DEFAULT_ADVANCE_RATES, annual_rates={"A": "0.0600"})


@pytest.fixture
def term_merchant(verified, graded, six_percent):
    return graded(verified, "A", limit="100000000.00")


@pytest.fixture
def term_loan(term_merchant):
    """term_loan(amount, months, product code) → a disbursed term loan starting today."""

    def make(amount="12000.00", months=12, product="term_equal_installment"):
        application = term_loan_apply(merchant=term_merchant, product=product, amount=amount, term_months=months,
                                      actor="m", as_of=TODAY)
        offer_accept(application=application, actor="m")
        return loan_disburse(application=application, actor="treasurer")

    return make


def schedule_state(loan) -> tuple:
    """Everything a reversal must put back: the loan's state and dates, and every installment row."""
    loan.refresh_from_db()
    return loan.state, loan.maturity_date, [
        (i.number, i.due_date, i.principal_due, i.interest_due, i.fee_due, i.principal_paid, i.interest_paid, i.fee_paid,
         i.penalty_accrued, i.penalty_paid, i.interest_accrued) for i in loan.installments.order_by("number")]
