"""A repayment that cannot lower net capital takes no lender position lock; one that does, waits for it."""

from decimal import Decimal

import pytest

from apps.financing.disbursement import loan_disburse
from apps.repayments.models import Repayment
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post
from tests.locking import Attempt, held

pytestmark = pytest.mark.django_db(transaction=True)
EXCLUSIVE = "SELECT 1 FROM ledger_lenderposition WHERE lender_id = %s FOR UPDATE"


def pay(loan, reference, amount="100.00"):
    return lambda: repayment_post(loan=loan, amount=Decimal(amount), source="portal", reference=reference, actor="m")


def test_a_current_repayment_of_a_solely_funded_advance_passes_a_drawdown_in_flight(accepted, lender):
    loan = loan_disburse(application=accepted("1000.00"), actor="t")
    with held(EXCLUSIVE, [lender.pk]):  # e.g. a drawdown checking the cap
        repayment = Attempt(pay(loan, "during-drawdown"))
        assert repayment.finished_within(10)
    repayment.join()
    assert Repayment.objects.filter(loan=loan, reference="during-drawdown").exists()
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


def test_a_term_loan_payment_within_what_is_due_passes_a_drawdown_in_flight(term_loan, lender):
    loan = term_loan("12000.00", 12)
    with held(EXCLUSIVE, [lender.pk]):
        repayment = Attempt(pay(loan, "within-due"))
        assert repayment.finished_within(10)
    repayment.join()
    assert Repayment.objects.filter(loan=loan, reference="within-due").exists()


def test_a_repayment_that_reshapes_a_schedule_waits_for_the_position(term_loan, lender):
    loan = term_loan("12000.00", 12)  # prepaying later installments takes accrued interest back out of income
    with held(EXCLUSIVE, [lender.pk]):
        repayment = Attempt(pay(loan, "waits", amount="3000.00"))
        assert not repayment.finished_within(1)
    repayment.join()
    assert Repayment.objects.filter(loan=loan, reference="waits").exists()
    assert loan.schedule_revisions.exists()
