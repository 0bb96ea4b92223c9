from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.core.errors import Conflict
from apps.financing.disbursement import loan_disburse
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get
from apps.repayments.selectors import merchant_credit_total, reconciliation_get
from apps.repayments.services import merchant_credit_refund, repayment_post

D = Decimal


@pytest.fixture
def credited(accepted):
    """A paid-off loan whose merchant overpaid by some amount."""
    loan = loan_disburse(application=accepted("1500.00"), actor="treasurer")
    repayment_post(loan=loan, amount=D("2000.00"), source="portal", reference="p1", actor="m", received_on=loan.maturity_date)
    return loan.merchant


def test_treasurer_refunds_credit_from_the_merchant_page(client, staff, credited, lender):
    balance = merchant_credit_total(merchants=[credited])
    client.force_login(staff[Role.TREASURER])
    page = client.get(f"/backoffice/merchants/{credited.pk}/").content.decode()
    assert "Refund credit" in page
    response = client.post(f"/backoffice/merchants/{credited.pk}/refund-credit/",
                           {"amount": str(balance), "reference": "r-1"}, follow=True)
    assert f"Refunded {balance:,.2f} of credit." in response.content.decode()
    again = client.post(f"/backoffice/merchants/{credited.pk}/refund-credit/",
                        {"amount": str(balance), "reference": "r-1"}, follow=True)  # a double submit
    assert "already made; nothing was paid again" in again.content.decode() and credited.credit_refunds.count() == 1
    assert merchant_credit_total(merchants=[credited]) == D("0.00")
    assert balances_by_code_get(lender=lender)[Acct.MERCHANT_CREDIT] == D("0.00")
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


def test_no_more_than_the_balance_is_refunded_and_a_retry_posts_once(credited):
    balance = merchant_credit_total(merchants=[credited])
    with pytest.raises(Conflict, match="cannot be refunded"):
        merchant_credit_refund(merchant=credited, amount=balance + D("0.01"), reference="r-2", actor="t")
    first = merchant_credit_refund(merchant=credited, amount=D("1.00"), reference="r-3", actor="t")
    assert merchant_credit_refund(merchant=credited, amount=D("1.00"), reference="r-3", actor="t").pk == first.pk
    assert merchant_credit_total(merchants=[credited]) == balance - D("1.00")


def test_only_treasurers_refund(client, staff, credited):
    client.force_login(staff[Role.CREDIT_OFFICER])
    response = client.post(f"/backoffice/merchants/{credited.pk}/refund-credit/", {"amount": "1.00", "reference": "x"})
    assert response.status_code == 403


def test_a_refund_reference_belongs_to_its_merchant(credited, other_merchant_user):
    """Another merchant's refund under the same reference is judged on its own (here: it has no credit), not refused as
    a reuse, which would tell that the reference exists elsewhere."""
    merchant_credit_refund(merchant=credited, amount=D("10.00"), reference="shared", actor="t")
    with pytest.raises(Conflict) as refused:
        merchant_credit_refund(merchant=other_merchant_user.merchant, amount=D("20.00"), reference="shared", actor="t")
    assert refused.value.code == "CREDIT_INSUFFICIENT"
