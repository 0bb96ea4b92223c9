import datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from apps.repayments.allocation import Owed, allocate

D = Decimal
TODAY = datetime.date(2026, 6, 1)


def _owed(n, due, fee="0", interest="0", principal="0"):
    return Owed(installment_id=n, number=n, due_date=due, fee=D(fee), interest=D(interest), principal=D(principal))


def test_past_due_fees_then_interest_then_principal_oldest_first_then_current_then_credit():
    owed = [
        _owed(2, TODAY - datetime.timedelta(days=1), fee="5", interest="20", principal="100"),
        _owed(1, TODAY - datetime.timedelta(days=31), fee="5", interest="30", principal="100"),
        _owed(3, TODAY + datetime.timedelta(days=29), fee="1", interest="2", principal="100"),
    ]
    result = [(a.installment_id, a.component, a.amount) for a in allocate(amount=D("400"), owed=owed, as_of=TODAY)]
    assert result == [
        (1, "fee", D("5")), (2, "fee", D("5")), (1, "interest", D("30")), (2, "interest", D("20")),
        (1, "principal", D("100")), (2, "principal", D("100")),
        (3, "fee", D("1")), (3, "interest", D("2")), (3, "principal", D("100")),
        (None, "credit", D("37")),
    ]


def test_a_small_payment_stops_where_the_money_runs_out():
    owed = [_owed(1, TODAY - datetime.timedelta(days=1), fee="5", interest="30", principal="100")]
    assert [(a.component, a.amount) for a in allocate(amount=D("20"), owed=owed, as_of=TODAY)] == [
        ("fee", D("5")), ("interest", D("15"))]


money = st.decimals(min_value=0, max_value=10**6, places=2)


@given(amount=st.decimals(min_value=D("0.01"), max_value=10**7, places=2),
       rows=st.lists(st.tuples(st.integers(-90, 90), money, money, money), max_size=12))
def test_allocations_sum_to_the_payment_and_never_exceed_what_is_owed(amount, rows):
    owed = [_owed(i, TODAY + datetime.timedelta(days=d), fee=f, interest=r, principal=p)
            for i, (d, f, r, p) in enumerate(rows, start=1)]
    result = allocate(amount=amount, owed=owed, as_of=TODAY)
    assert sum(a.amount for a in result) == amount
    assert all(a.amount > 0 for a in result)
    for o in owed:
        for component in ("fee", "interest", "principal"):
            taken = sum(a.amount for a in result if a.installment_id == o.installment_id and a.component == component)
            assert taken <= getattr(o, component)
    credit = sum(a.amount for a in result if a.component == "credit")
    assert credit == max(D("0"), amount - sum(o.fee + o.interest + o.principal for o in owed))
