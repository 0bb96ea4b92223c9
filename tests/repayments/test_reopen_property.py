"""Property: on a term loan — prepayments reshaping its schedule, a payoff closing it — reversing any payment
leaves the loan exactly as if that payment had never arrived, reopening it when it had been paid off."""

import datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.ledger.selectors import trial_balance_all_currencies_zero
from apps.repayments.accrual import loan_accrue
from apps.repayments.models import LoanState, Repayment
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post, repayment_reverse
from tests.term_loans import schedule_state

payments = st.lists(st.tuples(st.integers(0, 200), st.decimals(min_value=Decimal("1.00"), max_value=Decimal("3000.00"),
                                                               places=2),
                              st.sampled_from(["reduce_term", "reduce_installment"])), min_size=1, max_size=4)


def _allocations(loan) -> list:
    return [[(a.installment.number if a.installment else None, a.component, a.amount) for a in r.allocations.all()]
            for r in Repayment.objects.filter(loan=loan, reversed_at__isnull=True).order_by("received_on", "id")]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=payments, bounce=st.integers(0, 4), pay_off=st.booleans(),
       product=st.sampled_from(["term_equal_installment", "term_equal_principal"]))
def test_reverse_then_replay_equals_never_happened(term_loan, lender, plan, bounce, pay_off, product):
    plan = sorted(plan, key=lambda p: p[0])
    if pay_off:  # a last payment far above what is owed: the loan closes and the rest is credit
        plan.append((plan[-1][0] + 1, Decimal("20000.00"), "reduce_installment"))
    bounce %= len(plan)
    with_bounce, without = term_loan("6000.00", 6, product), term_loan("6000.00", 6, product)
    posted = []
    for n, (day, amount, choice) in enumerate(plan):
        on = with_bounce.start_date + datetime.timedelta(days=day)
        posted.append(repayment_post(loan=with_bounce, amount=amount, source="portal", reference=f"p{n}", actor="m",
                                     received_on=on, prepayment=choice))
        if n != bounce:
            repayment_post(loan=without, amount=amount, source="portal", reference=f"p{n}", actor="m", received_on=on,
                           prepayment=choice)
        if with_bounce.__class__.objects.get(pk=with_bounce.pk).state == LoanState.PAID_OFF:
            break  # it takes no more payments, in either world
    if bounce >= len(posted):
        return  # the loan closed before the payment to bounce arrived
    last_day = with_bounce.start_date + datetime.timedelta(days=plan[len(posted) - 1][0])

    repayment_reverse(repayment=posted[bounce], actor="treasurer", reason="bounced")

    for loan in (with_bounce, without):  # accrual in both worlds up to the same day
        loan_accrue(loan=loan, through=last_day, actor="eod")
    assert schedule_state(with_bounce) == schedule_state(without)
    assert _allocations(with_bounce) == _allocations(without)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    assert trial_balance_all_currencies_zero(lender=lender)
