"""Property: reversing a bounced payment leaves the loan exactly as if it had never arrived."""

import datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.financing.application_services import application_submit, offer_accept
from apps.financing.disbursement import loan_disburse
from apps.repayments.services import repayment_post, repayment_reverse
from tests.conftest import TODAY
from tests.financing.factories import PresaleOrderFactory

payments = st.lists(st.tuples(st.integers(1, 60), st.decimals(min_value=Decimal("1.00"), max_value=Decimal("900.00"),
                                                               places=2)), min_size=1, max_size=5)


def _fresh_loan(merchant):
    orders = [PresaleOrderFactory(merchant=merchant, paid_amount=Decimal("1000.00"), expected_ship_date=TODAY,
                                  expected_settlement_date=TODAY + datetime.timedelta(days=30)) for _ in range(4)]
    # Four buyers keep each within the concentration cap; the loan is secured by two of the orders.
    application = application_submit(merchant=merchant, order_ids=[o.pk for o in orders[:2]], amount="1500.00",
                                     actor="m", as_of=TODAY)
    offer_accept(application=application, actor="m")
    return loan_disburse(application=application, actor="t")


def _state(loan):
    return [(i.principal_paid, i.interest_paid, i.fee_paid, i.penalty_paid) for i in loan.installments.order_by("number")]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=payments, bounce=st.integers(0, 4))
def test_reverse_then_replay_equals_never_happened(verified, graded, plan, bounce):
    merchant = graded(verified, "A", limit="100000000.00")
    bounce %= len(plan)
    plan = sorted(plan, key=lambda p: p[0])
    with_bounce, without = _fresh_loan(merchant), _fresh_loan(merchant)
    posted = []
    for n, (day, amount) in enumerate(plan):
        on = with_bounce.start_date + datetime.timedelta(days=day)
        try:
            posted.append(repayment_post(loan=with_bounce, amount=amount, source="portal", reference=f"p{n}",
                                         actor="m", received_on=on))
        except Exception:  # noqa: BLE001 - the loan closed: later payments are refused in both worlds
            return
        if n != bounce:
            repayment_post(loan=without, amount=amount, source="portal", reference=f"p{n}", actor="m", received_on=on)
    if with_bounce.__class__.objects.get(pk=with_bounce.pk).state != "active":
        return  # reopening a paid-off loan is refused; covered elsewhere
    repayment_reverse(repayment=posted[bounce], actor="t", reason="bounced")
    assert _state(with_bounce) == _state(without)
