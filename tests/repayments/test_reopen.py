"""Reversing a payment on a paid-off loan: the loan reopens and ends exactly as if the payment never came."""

import datetime
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.core.audit import audit_trail_for
from apps.core.errors import Conflict
from apps.financing.disbursement import loan_disburse
from apps.financing.models import Pledge
from apps.ledger.models import JournalEntry
from apps.ledger.selectors import trial_balance_all_currencies_zero
from apps.repayments.accrual import loan_accrue
from apps.repayments.models import LoanState, Repayment, RevisionReason, ScheduleRevision
from apps.repayments.selectors import merchant_credit_total, reconciliation_get
from apps.repayments.services import repayment_post, repayment_reverse
from tests.conftest import TODAY
from tests.term_loans import schedule_state

D = Decimal


def _pay(loan, amount, reference, on):
    return repayment_post(loan=loan, amount=D(amount), source="portal", reference=reference, actor="m", received_on=on)


def _books_reconcile(lender):
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    assert trial_balance_all_currencies_zero(lender=lender)


def test_reversing_the_payoff_of_an_advance_reopens_it_with_its_pledges(accepted, lender):
    loan = loan_disburse(application=accepted("1500.00", slice(0, 2)), actor="t")
    untouched = loan_disburse(application=accepted("1500.00", slice(2, 4)), actor="t")
    due = loan.installments.get().due_date
    payoff = _pay(loan, "5000.00", "all", due)  # pays it off; the rest becomes credit
    loan.refresh_from_db()
    assert loan.state == LoanState.PAID_OFF and not Pledge.objects.filter(application=loan.application,
                                                                          released_at__isnull=True).exists()

    repayment_reverse(repayment=payoff, actor="treasurer", reason="Bank returned the transfer")

    loan_accrue(loan=untouched, through=due, actor="eod")
    assert schedule_state(loan) == schedule_state(untouched)
    assert loan.state == LoanState.ACTIVE
    event = audit_trail_for(loan).get(action="reopen")
    assert (event.from_state, event.to_state, event.actor_label) == ("paid_off", "active", "treasurer")
    assert "Bank returned the transfer" in event.reason
    assert Pledge.objects.filter(application=loan.application, released_at__isnull=True).count() == 2
    assert merchant_credit_total(merchants=[loan.merchant]) == 0
    assert Repayment.objects.get(pk=payoff.pk).reversed_at is not None
    _books_reconcile(lender)
    _pay(loan, "5000.00", "again", due)  # the loan takes payments again, and closes again
    loan.refresh_from_db()
    assert loan.state == LoanState.PAID_OFF
    _books_reconcile(lender)


def test_a_reopened_loan_with_an_installment_past_due_is_overdue(accepted, monkeypatch):
    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    due = loan.installments.get().due_date
    payoff = _pay(loan, "5000.00", "all", due)
    monkeypatch.setattr("django.utils.timezone.localdate", lambda **_: due + datetime.timedelta(days=3))
    repayment_reverse(repayment=payoff, actor="treasurer", reason="Bounced")
    loan.refresh_from_db()
    assert loan.state == LoanState.OVERDUE
    event = audit_trail_for(loan).get(action="reopen")
    assert (event.from_state, event.to_state) == ("paid_off", "overdue")


def test_reversing_an_earlier_payment_of_a_paid_off_term_loan(term_loan, lender):
    bounced_loan, clean_loan = term_loan(), term_loan()
    rows = list(bounced_loan.installments.all())
    bounced = _pay(bounced_loan, "1032.80", "m1", rows[0].due_date)
    for loan in (bounced_loan, clean_loan):
        _pay(loan, "12000.00", "payoff", rows[1].due_date)  # with m1 this closes the loan; without, it falls short
    bounced_loan.refresh_from_db()
    clean_loan.refresh_from_db()
    assert (bounced_loan.state, clean_loan.state) == (LoanState.PAID_OFF, LoanState.ACTIVE)

    repayment_reverse(repayment=bounced, actor="treasurer", reason="Bounced")

    assert schedule_state(bounced_loan) == schedule_state(clean_loan)
    replayed = Repayment.objects.get(loan=bounced_loan, reference="payoff")
    original = Repayment.objects.get(loan=clean_loan, reference="payoff")
    assert [(a.component, a.amount) for a in replayed.allocations.all()] == \
           [(a.component, a.amount) for a in original.allocations.all()]
    _books_reconcile(lender)


def test_a_replayed_payment_can_pay_the_loan_off_again(term_loan, lender):
    loan = term_loan()
    rows = list(loan.installments.all())
    small = _pay(loan, "100.00", "small", rows[0].due_date - datetime.timedelta(days=10))
    _pay(loan, "20000.00", "payoff", rows[1].due_date)
    repayment_reverse(repayment=small, actor="treasurer", reason="Bounced")
    loan.refresh_from_db()
    assert loan.state == LoanState.PAID_OFF
    assert [e.action for e in audit_trail_for(loan).filter(action__in=("pay_off", "reopen")).order_by("id")] == [
        "pay_off", "reopen", "pay_off"]
    payoffs = ScheduleRevision.objects.filter(loan=loan, reason=RevisionReason.PAYOFF).order_by("id")
    assert [p.reverted_at is not None for p in payoffs] == [True, False]
    _books_reconcile(lender)


def test_a_loan_paid_off_without_a_record_is_not_reopened(accepted):
    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    payoff = _pay(loan, "5000.00", "all", loan.installments.get().due_date)
    ScheduleRevision.objects.filter(loan=loan).delete()  # as if paid off before payoffs were recorded
    entries = JournalEntry.objects.count()
    with pytest.raises(Conflict) as exc:
        repayment_reverse(repayment=payoff, actor="t", reason="bounced")
    assert exc.value.code == "LOAN_CLOSED" and JournalEntry.objects.count() == entries
    loan.refresh_from_db()
    assert loan.state == LoanState.PAID_OFF and Repayment.objects.get(pk=payoff.pk).reversed_at is None


def test_the_treasurer_reverses_a_payoff_from_the_loan_page(client, staff, accepted):
    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    payoff = _pay(loan, "5000.00", "all", loan.installments.get().due_date)
    client.force_login(staff[Role.TREASURER])
    page = client.get(f"/backoffice/loans/{loan.pk}/").content.decode()
    assert "Paid off" in page and "Reverse" in page
    response = client.post(f"/backoffice/loans/{loan.pk}/repayments/{payoff.pk}/reverse/", {"reason": "Bounced"},
                           follow=True)
    body = response.content.decode()
    assert "Repayment reversed" in body and "Reopen" in body
    loan.refresh_from_db()
    assert loan.state == LoanState.ACTIVE
    assert TODAY <= loan.maturity_date
