import datetime
from decimal import Decimal
from unittest import mock

import pytest

from apps.financing.disbursement import loan_disburse
from apps.financing.models import Pledge, PresaleOrder
from apps.financing.services import order_event_apply
from apps.repayments.collateral import margin_calls_enforce, pledges_add
from apps.repayments.models import Loan, MarginCall, MarginCallState
from apps.repayments.services import repayment_post, repayment_reverse
from tests.conftest import TODAY

D = Decimal


@pytest.fixture
def loan(accepted):
    # Two pledged orders of 1,000.00 at grade A (90%) support 1,800.00; the loan is 1,700.00.
    return loan_disburse(application=accepted("1700.00"), actor="t")


def _refund_one(loan):
    order = loan.application.orders.order_by("pk").first()
    order_event_apply(order=order, event="refunded", actor="api:marketplace")
    return order


def test_a_refunded_pledged_order_opens_a_margin_call_with_a_deadline(loan):
    _refund_one(loan)
    call = MarginCall.objects.get(loan=loan)
    assert (call.state, call.shortfall) == (MarginCallState.OPEN, D("800.00"))  # 1,700 − 900 still supported
    assert call.deadline == TODAY + datetime.timedelta(days=7) and "was refunded" in call.reason


def test_repaying_the_shortfall_cures_it(loan):
    _refund_one(loan)
    repayment_post(loan=loan, amount=D("900.00"), source="portal", reference="cure", actor="m")
    assert MarginCall.objects.get(loan=loan).state == MarginCallState.CURED


def test_pledging_replacement_orders_cures_it(loan, open_orders):
    _refund_one(loan)
    pledged = set(Pledge.objects.values_list("order_id", flat=True))
    replacement = PresaleOrder.objects.filter(merchant=loan.merchant, state="paid").exclude(pk__in=pledged).first()
    pledges_add(loan=loan, order_ids=[replacement.pk], actor="m", as_of=TODAY)
    assert MarginCall.objects.get(loan=loan).state == MarginCallState.CURED


def test_an_uncured_call_accelerates_the_loan_after_the_deadline(loan):
    _refund_one(loan)
    deadline = MarginCall.objects.get(loan=loan).deadline
    assert margin_calls_enforce(as_of=deadline) == 0  # not yet past it
    assert margin_calls_enforce(as_of=deadline + datetime.timedelta(days=1)) == 1
    loan = Loan.objects.get(pk=loan.pk)
    installment = loan.installments.get()
    assert installment.due_date == deadline + datetime.timedelta(days=1) == loan.maturity_date
    assert installment.interest_due < loan.application.offer.interest  # only interest accrued to that day
    assert MarginCall.objects.get(loan=loan).state == MarginCallState.ACCELERATED


def test_the_merchant_sees_the_call_and_can_pledge_from_the_portal(client, merchant_user, loan):
    _refund_one(loan)
    client.force_login(merchant_user)
    page = client.get(f"/portal/loans/{loan.pk}/").content.decode()
    assert "Margin call: 800.00 short" in page and "Pledge selected orders" in page


def test_a_term_loan_has_no_orders_to_cover_it_and_gets_no_margin_call(term_loan):
    """A term loan is lent without pledges: a bounced or late-posted payment must not call (and later accelerate) it."""
    loan = term_loan("12000.00", 12)
    due = loan.installments.get(number=1).due_date
    with mock.patch("django.utils.timezone.localdate", return_value=due):
        paid = repayment_post(loan=loan, amount=D("1000.00"), source="portal", reference="first", actor="m")
        repayment_reverse(repayment=paid, actor="t", reason="bounced")
        repayment_post(loan=loan, amount=D("500.00"), source="portal", reference="later", actor="m")
        repayment_post(loan=loan, amount=D("500.00"), source="partner", reference="earlier", actor="bank",
                       received_on=due - datetime.timedelta(days=3))
    assert not MarginCall.objects.filter(loan=loan).exists()
    assert margin_calls_enforce(as_of=due + datetime.timedelta(days=30)) == 0
    assert Loan.objects.get(pk=loan.pk).maturity_date == loan.maturity_date


def test_a_resolved_dispute_cures_the_margin_call_it_opened(loan):
    order = loan.application.orders.order_by("pk").first()
    order_event_apply(order=order, event="disputed", actor="api:marketplace")
    call = MarginCall.objects.get(loan=loan, state=MarginCallState.OPEN)
    order_event_apply(order=PresaleOrder.objects.get(pk=order.pk), event="dispute_resolved", actor="api:marketplace")
    assert MarginCall.objects.get(pk=call.pk).state == MarginCallState.CURED
    assert margin_calls_enforce(as_of=call.deadline + datetime.timedelta(days=1)) == 0
    assert Loan.objects.get(pk=loan.pk).maturity_date == loan.maturity_date  # not accelerated


def test_a_call_whose_cover_came_back_unnoticed_is_cured_at_the_deadline_not_enforced(loan):
    order = _refund_one(loan)
    call = MarginCall.objects.get(loan=loan)
    PresaleOrder.objects.filter(pk=order.pk).update(state="paid")  # cover back without an event that reviews it
    assert margin_calls_enforce(as_of=call.deadline + datetime.timedelta(days=1)) == 0
    assert MarginCall.objects.get(pk=call.pk).state == MarginCallState.CURED
    assert Loan.objects.get(pk=loan.pk).maturity_date == loan.maturity_date


def test_orders_cannot_be_pledged_to_a_term_loan(term_loan, open_orders):
    from apps.core.errors import Conflict

    loan = term_loan("12000.00", 12)
    (order,) = open_orders(loan.merchant, 1)
    with pytest.raises(Conflict) as refused:
        pledges_add(loan=loan, order_ids=[order.pk], actor="m", as_of=TODAY)
    assert refused.value.code == "LOAN_NOT_SECURED" and not Pledge.objects.filter(order=order).exists()
