import datetime
from decimal import Decimal

from apps.financing.disbursement import loan_disburse
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get
from apps.repayments.accrual import loan_accrue
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post

D = Decimal


def test_overdue_principal_accrues_penalty_which_a_payment_settles_first(accepted, lender):
    loan = loan_disburse(application=accepted("1800.00"), actor="t")
    late = loan.maturity_date + datetime.timedelta(days=10)
    for offset in range(0, 11):  # EOD each day after maturity
        loan_accrue(loan=loan, through=loan.maturity_date + datetime.timedelta(days=offset), actor="eod")
    loan_accrue(loan=loan, through=late, actor="eod")  # a rerun adds nothing
    installment = loan.installments.get()
    # 1,800.00 overdue × 10% ÷ 360 = 0.50 a day, ten days
    assert installment.penalty_accrued == D("5.00")
    assert balances_by_code_get(lender=lender)[Acct.LOANS_PENALTIES] == D("5.00")
    repayment = repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="late", actor="m", received_on=late)
    assert [(a.component, a.amount) for a in repayment.allocations.all()][0] == ("penalty", D("5.00"))
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
