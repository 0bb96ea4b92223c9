"""Payoff quotes of overdue loans, and what a reversal must put back besides the payments: accrued interest, an open
margin call, a defaulted state; what it must refuse (a refunded credit); and a defaulted loan's sweep."""

import datetime
from decimal import Decimal as D
from unittest import mock

import pytest

from apps.core.errors import Conflict
from apps.financing.disbursement import loan_disburse
from apps.financing.models import PresaleOrder
from apps.financing.services import order_event_apply
from apps.repayments.accrual import loan_accrue
from apps.repayments.collateral import margin_calls_enforce
from apps.repayments.models import Loan, LoanState, MarginCall, MarginCallState, Repayment
from apps.repayments.selectors import merchant_credit_total, payoff_quote, reconciliation_get
from apps.repayments.services import merchant_credit_refund, repayment_post, repayment_reverse
from tests.conftest import TODAY
from tests.term_loans import schedule_state


def at(day):
    """Make `day` the business date."""
    return mock.patch("django.utils.timezone.localdate", return_value=day)


def _reconciled(loan):
    assert all(row.difference == 0 for row in reconciliation_get(lender=loan.merchant.lender))


@pytest.mark.parametrize("days_ahead", [0, 5])  # today's quote; one for a later date
def test_paying_the_payoff_quote_of_an_overdue_loan_closes_it(accepted, days_ahead):
    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    today = loan.installments.get().due_date + datetime.timedelta(days=10)
    loan_accrue(loan=loan, through=today - datetime.timedelta(days=1), actor="eod")  # end of day ran last night
    on = today + datetime.timedelta(days=days_ahead)
    with at(today):
        quote = payoff_quote(loan=loan, on=on)
    assert quote["penalty"] > 0
    with at(on):
        repayment_post(loan=loan, amount=quote["total"], source="portal", reference="payoff", actor="m")
    assert Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF
    assert merchant_credit_total(merchants=[loan.merchant]) == 0
    _reconciled(loan)


def _called_and_cured(accepted):
    loan = loan_disburse(application=accepted("1700.00"), actor="t")
    order_event_apply(order=loan.application.orders.order_by("pk").first(), event="refunded", actor="api:marketplace")
    call = MarginCall.objects.get(loan=loan)
    cure = repayment_post(loan=loan, amount=D("900.00"), source="portal", reference="cure", actor="m")
    assert MarginCall.objects.get(pk=call.pk).state == MarginCallState.CURED
    return loan, call, cure


def test_reversing_the_payment_that_cured_a_margin_call_opens_it_again(accepted):
    loan, call, cure = _called_and_cured(accepted)
    repayment_reverse(repayment=cure, actor="t", reason="bounced")
    reopened = MarginCall.objects.get(loan=loan, state=MarginCallState.OPEN)
    assert (reopened.pk, reopened.shortfall, reopened.deadline, reopened.closed_at) == (call.pk, D("800.00"),
                                                                                        call.deadline, None)
    assert margin_calls_enforce(as_of=reopened.deadline + datetime.timedelta(days=1)) == 1


def test_a_bounce_found_after_the_deadline_earns_no_new_one(accepted):
    """The merchant had until the call's deadline; the payment that met it bounced: the loan accelerates at the next
    end of day, as if it had never been paid, not a week after the bounce."""
    loan, call, cure = _called_and_cured(accepted)
    later = call.deadline + datetime.timedelta(days=3)
    with at(later):
        repayment_reverse(repayment=cure, actor="t", reason="bounced")
    assert MarginCall.objects.get(loan=loan, state=MarginCallState.OPEN).deadline == call.deadline
    assert margin_calls_enforce(as_of=later + datetime.timedelta(days=1)) == 1
    assert Loan.objects.get(pk=loan.pk).installments.get().due_date == later + datetime.timedelta(days=1)
    _reconciled(loan)


def test_reversing_the_payoff_of_a_defaulted_loan_leaves_it_defaulted(accepted):
    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    due = loan.installments.get().due_date
    loan_accrue(loan=loan, through=due + datetime.timedelta(days=95), actor="eod")
    defaulted_on = due + datetime.timedelta(days=91)
    Loan.objects.filter(pk=loan.pk).update(state=LoanState.DEFAULTED, defaulted_on=defaulted_on)  # as end of day does
    loan.refresh_from_db()
    on = due + datetime.timedelta(days=100)
    with at(on):
        payoff = repayment_post(loan=loan, amount=payoff_quote(loan=loan, on=on)["total"], source="guarantor",
                                reference="g1", actor="g")
        assert Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF
        repayment_reverse(repayment=payoff, actor="t", reason="bounced")
    loan.refresh_from_db()
    assert (loan.state, loan.defaulted_on) == (LoanState.DEFAULTED, defaulted_on)
    _reconciled(loan)


def test_an_overpayment_whose_credit_was_refunded_is_not_reversed(accepted):
    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    pay = repayment_post(loan=loan, amount=D("2000.00"), source="portal", reference="a", actor="m")
    credit = merchant_credit_total(merchants=[loan.merchant])
    merchant_credit_refund(merchant=loan.merchant, amount=credit, reference="r1", actor="t")
    with pytest.raises(Conflict, match="refunded") as refused:
        repayment_reverse(repayment=pay, actor="t", reason="bounced")
    assert refused.value.code == "CREDIT_REFUNDED"
    assert Repayment.objects.get(pk=pay.pk).reversed_at is None and Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF
    _reconciled(loan)


def test_reversing_a_prepayment_keeps_the_interest_end_of_day_had_accrued(term_loan):
    level = D("1032.80")
    bounced_loan, clean_loan = term_loan(), term_loan()
    rows = list(bounced_loan.installments.order_by("number"))

    def pay(loan, amount, reference, on, choice="reduce_installment"):
        with at(on):
            return repayment_post(loan=loan, amount=D(amount), source="portal", reference=reference, actor="m",
                                  received_on=on, prepayment=choice)

    for loan in (bounced_loan, clean_loan):
        pay(loan, level, "m1", rows[0].due_date)
    bounced = pay(bounced_loan, "4000.00", "big", rows[0].due_date + datetime.timedelta(days=3), "reduce_term")
    for loan in (bounced_loan, clean_loan):
        pay(loan, level, "m2", rows[1].due_date)
    books = rows[1].due_date + datetime.timedelta(days=10)
    for loan in (bounced_loan, clean_loan):  # the books accrued to here in both worlds
        loan_accrue(loan=loan, through=books, actor="eod")
    with at(books + datetime.timedelta(days=1)):
        repayment_reverse(repayment=bounced, actor="treasurer", reason="Bounced")
    assert schedule_state(bounced_loan) == schedule_state(clean_loan)
    _reconciled(bounced_loan)


def test_a_defaulted_loans_pledged_settlement_is_swept(accepted):
    loan = loan_disburse(application=accepted("1500.00"), actor="treasurer")
    Loan.objects.filter(pk=loan.pk).update(state=LoanState.DEFAULTED, defaulted_on=TODAY)
    order = loan.application.orders.order_by("pk").first()
    for event in ("shipped", "delivered"):
        order_event_apply(order=order, event=event, actor="api:marketplace")
    order_event_apply(order=PresaleOrder.objects.get(pk=order.pk), event="settled", actor="api:marketplace",
                      settled_amount="1000.00")
    assert Repayment.objects.filter(loan=loan, source="sweep", amount=D("1000.00")).exists()
    assert not order.pledges.filter(released_at__isnull=True).exists()
    _reconciled(loan)


def test_a_reference_reused_with_another_amount_is_a_422(bank_api, colent_loan):
    loan = colent_loan
    body = {"amount": "200.00", "currency": "CNY", "reference": "HB-77", "received_on": str(TODAY)}
    assert bank_api.post(f"/api/v1/loans/{loan.pk}/repayments/", body, format="json").status_code == 201
    again = bank_api.post(f"/api/v1/loans/{loan.pk}/repayments/", {**body, "amount": "201.00"}, format="json")
    assert again.status_code == 422 and again.json()["code"] == "DUPLICATE_REFERENCE"
    assert Repayment.objects.filter(loan=loan).count() == 1
