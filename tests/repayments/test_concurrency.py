import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.financing.disbursement import loan_disburse
from apps.ledger.selectors import trial_balance_all_currencies_zero
from apps.repayments.models import Loan, LoanState, Repayment
from apps.repayments.selectors import merchant_credit_total, reconciliation_get
from apps.repayments.services import repayment_post

D = Decimal


@pytest.mark.django_db(transaction=True)
def test_racing_repayments_are_all_applied_once_and_the_books_reconcile(lender_funded, accepted, lender):
    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    barrier, errors = threading.Barrier(8), []

    def pay(n):
        barrier.wait()
        try:
            # Each client sends its payment twice (a retry): only one of each may post.
            for _ in range(2):
                repayment_post(loan=loan, amount=D("250.00"), source="partner", reference=f"race-{n}", actor="racer",
                               received_on=loan.maturity_date)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join(timeout=60) for t in threads]
    # 8 × 250 = 2,000 received; after the loan closes, later payments are refused, never misapplied.
    posted = Repayment.objects.filter(loan=loan)
    assert posted.count() + len(errors) >= 8 and len({r.reference for r in posted}) == posted.count()
    assert all("takes no repayments" in str(e) for e in errors)
    assert Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF
    assert merchant_credit_total(merchants=[loan.merchant]) == sum(r.amount for r in posted) - (
        D("1500.00") + loan.installments.get().interest_due + loan.installments.get().fee_due)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    assert trial_balance_all_currencies_zero(lender=lender)
