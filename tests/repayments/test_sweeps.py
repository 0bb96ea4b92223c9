from decimal import Decimal

from apps.financing.disbursement import loan_disburse
from apps.financing.models import Pledge, PresaleOrder
from apps.financing.services import order_event_apply
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get, trial_balance_all_currencies_zero
from apps.repayments.models import Loan, LoanState, Repayment

D = Decimal


def _settle(order, amount):
    for event in ("shipped", "delivered"):
        order_event_apply(order=order, event=event, actor="api:marketplace")
    return order_event_apply(order=PresaleOrder.objects.get(pk=order.pk), event="settled", actor="api:marketplace",
                             settled_amount=amount)


def test_a_pledged_orders_settlement_repays_the_loan_and_releases_the_pledge(accepted, lender):
    application = accepted("1500.00")
    loan = loan_disburse(application=application, actor="treasurer")
    first, second = application.orders.order_by("pk")
    _settle(first, "1000.00")
    sweep = Repayment.objects.get(source="sweep", reference=f"order:{first.external_id}")
    assert sweep.amount == D("1000.00")
    assert not Pledge.objects.filter(order=first, released_at__isnull=True).exists()
    assert Pledge.objects.filter(order=second, released_at__isnull=True).exists()
    assert Loan.objects.get(pk=loan.pk).state == LoanState.ACTIVE

    _settle(second, "1000.00")  # pays the rest (interest to date, then principal); the remainder is the merchant's
    loan = Loan.objects.get(pk=loan.pk)
    assert loan.state == LoanState.PAID_OFF
    credit = Repayment.objects.get(reference=f"order:{second.external_id}").allocations.get(component="credit").amount
    assert credit > D("0") and balances_by_code_get(lender=lender)[Acct.MERCHANT_CREDIT] == -credit
    assert trial_balance_all_currencies_zero(lender=lender)


def test_an_unpledged_orders_settlement_moves_no_money(verified, graded, open_orders):
    merchant = graded(verified, "A")
    order = open_orders(merchant, 1)[0]
    _settle(order, "1000.00")
    assert PresaleOrder.objects.get(pk=order.pk).state == "settled"
    assert not Repayment.objects.exists()
