"""A payment that arrives late — posted after payments received after it, or after end of day ran penalty past its date —
goes into the books where its date puts it: the loan ends exactly as if the payments had arrived in date order."""

import datetime
from decimal import Decimal as D
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.errors import Conflict
from apps.financing.disbursement import loan_disburse
from apps.financing.services import order_event_apply
from apps.ledger.models import Acct, EntryKind, JournalEntry
from apps.ledger.posting import cr, dr, journal_post
from apps.ledger.selectors import balances_by_code_get
from apps.repayments.accrual import loan_accrue, penalties_unwind
from apps.repayments.collateral import margin_calls_enforce
from apps.repayments.models import Loan, LoanState, MarginCall, MarginCallState, PenaltyAccrual, Repayment
from apps.repayments.selectors import merchant_credit_total, payoff_quote, reconciliation_get
from apps.repayments.services import repayment_post, repayment_reverse
from tests.repayments.test_reversal_property import _fresh_loan
from tests.term_loans import schedule_state


def at(day):
    """Make `day` the business date."""
    return mock.patch("django.utils.timezone.localdate", return_value=day)


def _days(loan, n):
    return loan.start_date + datetime.timedelta(days=n)


def _reconciled(loan):
    assert all(row.difference == 0 for row in reconciliation_get(lender=loan.merchant.lender))


def _penalty_rows(loan):
    return sorted((r.period_start, r.period_end, r.amount) for r in PenaltyAccrual.objects.filter(loan=loan))


def _twins(verified, graded):
    """Two identical pre-sale advances of one merchant."""
    merchant = graded(verified, "A", limit="100000000.00")
    return _fresh_loan(merchant), _fresh_loan(merchant)


def _same_books(loan, twin):
    """The loan's schedule and penalty accruals are its twin's, and the books reconcile."""
    assert schedule_state(loan) == schedule_state(twin)
    assert _penalty_rows(loan) == _penalty_rows(twin)
    _reconciled(loan)


def test_a_late_payment_is_charged_no_penalty_for_the_days_after_it_arrived(verified, graded):
    on_time, late = _twins(verified, graded)
    due = on_time.installments.get().due_date
    paid_on, tonight = due + datetime.timedelta(days=5), due + datetime.timedelta(days=12)
    with at(paid_on):
        repayment_post(loan=on_time, amount=D("800.00"), source="portal", reference="p", actor="m")
    for loan in (on_time, late):
        loan_accrue(loan=loan, through=tonight, actor="eod")  # end of day: penalty on what was overdue each night
    # The bank collected it on `paid_on` and posts it a week later: the penalty after that date was charged on 800.00
    # that was no longer overdue.
    charged = late.installments.get().penalty_accrued
    with at(tonight + datetime.timedelta(days=1)):
        repayment_post(loan=late, amount=D("800.00"), source="partner", reference="p", actor="bank", received_on=paid_on)
    assert late.installments.get().penalty_accrued < charged
    _same_books(late, on_time)


def test_a_payment_posted_after_later_ones_is_allocated_first_and_they_are_re_applied(verified, graded):
    in_order, late = _twins(verified, graded)
    due = in_order.installments.get().due_date
    first, second = due + datetime.timedelta(days=3), due + datetime.timedelta(days=9)
    for loan, arrivals in ((in_order, [(first, "a"), (second, "b")]), (late, [(second, "b"), (first, "a")])):
        for on, ref in arrivals:
            with at(second + datetime.timedelta(days=2)):
                repayment_post(loan=loan, amount=D("300.00") if ref == "a" else D("250.00"), source="partner",
                               reference=ref, actor="bank", received_on=on)
    _same_books(late, in_order)
    b = Repayment.objects.get(loan=late, reference="b")
    assert b.reversed_at is None
    assert b.journal_entry.reference.startswith(f"repayment:{late.pk}:replay:")  # re-applied after "a"
    assert sorted(b.allocations.values_list("component", "amount")) == \
        sorted(Repayment.objects.get(loan=in_order, reference="b").allocations.values_list("component", "amount"))
    _reconciled(late)


def test_a_late_payment_that_would_repay_the_loan_before_later_payments_is_refused_whole(verified, graded):
    merchant = graded(verified, "A", limit="100000000.00")
    loan = _fresh_loan(merchant)
    later = repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="later", actor="m",
                           received_on=_days(loan, 20))
    entries = JournalEntry.objects.count()
    with at(_days(loan, 21)), pytest.raises(Conflict) as refused:
        repayment_post(loan=loan, amount=D("1600.00"), source="partner", reference="early", actor="bank",
                       received_on=_days(loan, 10))
    assert refused.value.code == "LATE_PAYOFF"
    assert JournalEntry.objects.count() == entries  # nothing half-written
    assert not Repayment.objects.filter(loan=loan, reference="early").exists()
    assert Repayment.objects.get(pk=later.pk).journal_entry_id == later.journal_entry_id
    _reconciled(loan)


def test_a_late_payment_that_repays_the_loan_with_nothing_after_it_closes_it_as_of_its_date(verified, graded):
    merchant = graded(verified, "A", limit="100000000.00")
    loan = _fresh_loan(merchant)
    due = loan.installments.get().due_date
    loan_accrue(loan=loan, through=due + datetime.timedelta(days=20), actor="eod")
    owed_then = _fresh_owed_on(loan, due + datetime.timedelta(days=4))
    with at(due + datetime.timedelta(days=21)):
        repayment_post(loan=loan, amount=owed_then, source="partner", reference="payoff", actor="bank",
                       received_on=due + datetime.timedelta(days=4))
    loan.refresh_from_db()
    assert loan.state == LoanState.PAID_OFF
    assert merchant_credit_total(merchants=[loan.merchant]) == 0  # the 16 days of penalty after it were taken back
    _reconciled(loan)


def _fresh_owed_on(loan, on):
    """What a twin loan, accrued only up to `on`, owes on that date."""
    twin = _fresh_loan(loan.merchant)
    loan_accrue(loan=twin, through=on, actor="eod")
    i = twin.installments.get()
    return i.principal_due + i.interest_accrued + i.fee_accrued + i.penalty_accrued


def test_penalty_taken_back_from_the_middle_of_an_accrual_keeps_the_days_before(verified, graded):
    merchant = graded(verified, "A", limit="100000000.00")
    loan = _fresh_loan(merchant)
    due = loan.installments.get().due_date
    loan_accrue(loan=loan, through=due + datetime.timedelta(days=10), actor="eod")  # one row: ten days
    (row,) = PenaltyAccrual.objects.filter(loan=loan)
    per_day = row.amount / 10
    penalties_unwind(loan=Loan.objects.get(pk=loan.pk), after=due + datetime.timedelta(days=4), actor="t", reference="u")
    assert _penalty_rows(loan) == [(due, due + datetime.timedelta(days=4), per_day * 4)]
    assert loan.installments.get().penalty_accrued == per_day * 4
    _reconciled(loan)


payments = st.lists(st.tuples(st.integers(1, 75), st.decimals(min_value=D("1.00"), max_value=D("500.00"), places=2)),
                    min_size=2, max_size=5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=payments, arrival=st.randoms(use_true_random=False))
def test_payments_arriving_in_any_order_end_as_if_they_came_in_date_order(verified, graded, plan, arrival):
    in_order, late = _twins(verified, graded)
    numbered = sorted(enumerate(plan), key=lambda p: (p[1][0], p[0]))
    shuffled = list(numbered)
    arrival.shuffle(shuffled)
    last = _days(in_order, max(day for day, _ in plan))
    for n, (day, amount) in numbered:
        try:
            repayment_post(loan=in_order, amount=amount, source="portal", reference=f"p{n}", actor="m",
                           received_on=_days(in_order, day))
        except Conflict:
            return  # the loan was repaid: later payments are refused
    if Loan.objects.get(pk=in_order.pk).state != LoanState.ACTIVE:
        return
    with at(last + datetime.timedelta(days=1)):
        for n, (day, amount) in shuffled:
            repayment_post(loan=late, amount=amount, source="portal", reference=f"p{n}", actor="m",
                           received_on=_days(late, day))
    for loan in (in_order, late):
        loan_accrue(loan=loan, through=last, actor="eod")
    _same_books(late, in_order)


def test_a_late_payment_then_a_bounce_of_it_leaves_the_loan_as_without_it(verified, graded):
    never, bounced = _twins(verified, graded)
    due = never.installments.get().due_date
    for loan in (never, bounced):
        repayment_post(loan=loan, amount=D("400.00"), source="portal", reference="b", actor="m",
                       received_on=due + datetime.timedelta(days=8))
    with at(due + datetime.timedelta(days=9)):
        late = repayment_post(loan=bounced, amount=D("300.00"), source="partner", reference="a", actor="bank",
                              received_on=due + datetime.timedelta(days=2))
        repayment_reverse(repayment=late, actor="t", reason="bounced")
    assert schedule_state(bounced) == schedule_state(never)
    _reconciled(bounced)


def test_a_bank_posting_late_gets_its_payment_in_date_order_or_a_clear_409(bank_api, colent_loan):
    later = repayment_post(loan=colent_loan, amount=D("200.00"), source="portal", reference="m1", actor="m",
                           received_on=_days(colent_loan, 20))
    url = f"/api/v1/loans/{colent_loan.pk}/repayments/"
    with at(_days(colent_loan, 21)):
        posted = bank_api.post(url, {"amount": "150.00", "currency": "CNY", "reference": "HB-9",
                                     "received_on": str(_days(colent_loan, 10))}, format="json")
        assert posted.status_code == 201
        assert Repayment.objects.get(pk=later.pk).journal_entry.reference.startswith(f"repayment:{colent_loan.pk}:replay:")
        refused = bank_api.post(url, {"amount": "5000.00", "currency": "CNY", "reference": "HB-10",
                                      "received_on": str(_days(colent_loan, 5))}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "LATE_PAYOFF"
    assert not Repayment.objects.filter(reference="HB-10").exists()
    _reconciled(colent_loan)


def test_a_late_payment_before_a_prepayment_is_allocated_first_and_the_reshape_made_again(term_loan):
    in_order, late = term_loan("12000.00", 12), term_loan("12000.00", 12)
    arrivals = {in_order: [(10, "a", D("500.00")), (40, "b", D("3000.00"))],
                late: [(40, "b", D("3000.00")), (10, "a", D("500.00"))]}
    for loan, payments in arrivals.items():
        for day, ref, amount in payments:
            with at(_days(loan, 41)):
                repayment_post(loan=loan, amount=amount, source="partner", reference=ref, actor="bank",
                               received_on=_days(loan, day))
    assert schedule_state(late) == schedule_state(in_order)
    assert schedule_state(late)[2][-1][2] < D("1000.00")  # the prepayment lowered the later installments
    _reconciled(late)


def _pay(loan, *, day, amount, ref, today):
    with at(today):
        return repayment_post(loan=loan, amount=D(amount), source="partner", reference=ref, actor="bank",
                              received_on=_days(loan, day))


def test_a_late_payment_whose_re_applied_successor_repays_the_loan_cures_its_margin_call(accepted):
    loan = loan_disburse(application=accepted("1700.00"), actor="t")
    order_event_apply(order=loan.application.orders.order_by("pk").first(), event="refunded", actor="api:marketplace")
    call = MarginCall.objects.get(loan=loan)  # 1,700 lent against 900 still supported
    _pay(loan, day=3, amount="100.00", ref="b", today=_days(loan, 4))
    _pay(loan, day=2, amount="1650.00", ref="a", today=_days(loan, 5))  # collected before "b", posted after it
    assert Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF
    assert MarginCall.objects.get(pk=call.pk).state == MarginCallState.CURED
    assert margin_calls_enforce(as_of=call.deadline + datetime.timedelta(days=1)) == 0


def _cash_deployed(lender, *, leaving, today):
    """The lender's cash is lent out but for `leaving`."""
    cash = balances_by_code_get(lender=lender)[Acct.CASH]
    journal_post(lender=lender, reference="spend", kind=EntryKind.MANUAL, actor="t", business_date=today,
                 lines=[dr(Acct.FUNDING_COST_EXPENSE, cash - D(leaving)), cr(Acct.CASH, cash - D(leaving))])


def test_re_applying_payments_never_needs_the_cash_they_brought_in(verified, graded):
    loan = _fresh_loan(graded(verified, "A", limit="100000000.00"))
    lender, today = loan.merchant.lender, _days(loan, 10)
    _pay(loan, day=8, amount="250.00", ref="b", today=today)
    _cash_deployed(lender, leaving="100.00", today=today)
    _pay(loan, day=3, amount="300.00", ref="a", today=today)  # the 250.00 is held in suspense, not taken from the bank
    balances = balances_by_code_get(lender=lender)
    assert (balances[Acct.CASH], balances[Acct.REAPPLICATION_SUSPENSE]) == (D("400.00"), D("0.00"))
    with at(today):  # a bounce takes its own amount from the bank, and only that
        repayment_reverse(repayment=Repayment.objects.get(loan=loan, reference="a"), actor="t", reason="bounced")
    balances = balances_by_code_get(lender=lender)
    assert (balances[Acct.CASH], balances[Acct.REAPPLICATION_SUSPENSE]) == (D("100.00"), D("0.00"))
    _reconciled(loan)


def test_a_payment_collected_before_a_payoff_but_posted_after_it_becomes_the_merchants_credit(verified, graded):
    in_order, late = _twins(verified, graded)
    for loan in (in_order, late):
        quote = payoff_quote(loan=loan, on=_days(loan, 20))["total"]
        arrivals = [(10, "bank", "300.00"), (20, "payoff", quote)]
        for day, ref, amount in (arrivals if loan == in_order else arrivals[::-1]):  # the bank posts after the payoff
            _pay(loan, day=day, amount=str(amount), ref=ref, today=_days(loan, 21))
    assert Loan.objects.get(pk=late.pk).state == LoanState.PAID_OFF
    assert merchant_credit_total(merchants=[late.merchant]) == D("600.00")  # 300.00 from each twin: paid twice
    _same_books(late, in_order)
    assert Repayment.objects.get(loan=late, reference="payoff").allocations.get(component="credit").amount == D("300.00")


def test_the_books_as_of_any_past_date_count_a_re_applied_payment_once(verified, graded):
    in_order, late = _twins(verified, graded)
    lender = late.merchant.lender
    for loan in (in_order, late):
        arrivals = [(3, "a", "300.00"), (8, "b", "250.00")]
        for day, ref, amount in (arrivals if loan == in_order else arrivals[::-1]):
            _pay(loan, day=day, amount=amount, ref=ref, today=_days(loan, 12))
    # The journal as of day 9, after the late one went in on day 12: both twins show both payments once each.
    on_day_9 = balances_by_code_get(lender=lender, as_of=_days(late, 9))
    assert on_day_9[Acct.CASH] - balances_by_code_get(lender=lender, as_of=_days(late, 2))[Acct.CASH] == D("1100.00")
    assert on_day_9[Acct.REAPPLICATION_SUSPENSE] == 0
    now = balances_by_code_get(lender=lender)
    assert now[Acct.REAPPLICATION_SUSPENSE] == 0 and now[Acct.CASH] == on_day_9[Acct.CASH]


def _defaulted(loan, *, on):
    """End of day accrued the loan through `on` and defaulted it that day (non-accrual from then)."""
    loan_accrue(loan=loan, through=on, actor="eod")
    Loan.objects.filter(pk=loan.pk).update(state=LoanState.DEFAULTED, defaulted_on=on)


def test_a_bounce_on_a_defaulted_loan_accrues_the_penalty_up_to_the_default_again(verified, graded):
    never, bounced = _twins(verified, graded)
    due = never.installments.get().due_date
    bounce = repayment_post(loan=bounced, amount=D("700.00"), source="portal", reference="x", actor="m",
                            received_on=due + datetime.timedelta(days=10))
    for loan in (never, bounced):
        _defaulted(loan, on=due + datetime.timedelta(days=91))
    with at(due + datetime.timedelta(days=95)):
        repayment_reverse(repayment=bounce, actor="t", reason="bounced")
    assert schedule_state(bounced) == schedule_state(never)  # the penalty on the 700.00 up to the default is charged again
    _reconciled(bounced)


def test_a_late_payment_on_a_defaulted_loan_goes_in_date_order_up_to_the_default(verified, graded):
    in_order, late = _twins(verified, graded)
    due = in_order.installments.get().due_date
    repayment_post(loan=in_order, amount=D("700.00"), source="partner", reference="x", actor="bank",
                   received_on=due + datetime.timedelta(days=10))
    for loan in (in_order, late):
        _defaulted(loan, on=due + datetime.timedelta(days=91))
    _pay(late, day=(due - late.start_date).days + 10, amount="700.00", ref="x", today=due + datetime.timedelta(days=95))
    assert Loan.objects.get(pk=late.pk).state == LoanState.DEFAULTED
    _same_books(late, in_order)
