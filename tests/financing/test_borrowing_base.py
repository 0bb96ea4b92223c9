import datetime
from decimal import Decimal

import pytest

from apps.financing.models import FinancingPolicy, OrderState, PresaleOrder
from apps.financing.selectors import borrowing_base_get
from apps.merchants.models import KycState, Merchant
from tests.financing.factories import PresaleOrderFactory

TODAY = datetime.date(2026, 11, 28)
D = Decimal


def _order(merchant, days=30, **kwargs):
    settles = TODAY + datetime.timedelta(days=days)
    return PresaleOrderFactory(merchant=merchant, expected_ship_date=min(TODAY, settles),
                               expected_settlement_date=settles, **kwargs)


def test_base_is_eligible_orders_times_the_grades_advance_rate_less_refund_rate(verified, graded):
    graded(verified, "B", sales="100000.00", refunds="5000.00")  # 5% refunds
    for buyer in "abcde":
        _order(verified, buyer_id=buyer, paid_amount=D("1000.00"))
    base = borrowing_base_get(merchant=verified, as_of=TODAY)
    assert base.eligible_value == D("5000.00")
    assert (base.advance_rate, base.refund_rate) == (D("0.80"), D("0.0500"))
    assert base.base == D("3800.00")  # 5,000 × 0.80 × 0.95


@pytest.mark.parametrize("grade,expected", [("A", "4500.00"), ("C", "3500.00"), ("D", "2500.00"), ("E", "0.00")])
def test_the_advance_rate_follows_the_grade(verified, graded, grade, expected):
    graded(verified, grade)
    for buyer in "abcde":
        _order(verified, buyer_id=buyer)
    assert borrowing_base_get(merchant=verified, as_of=TODAY).base == D(expected)


def test_each_ineligible_order_says_why(verified, graded):
    graded(verified, "A")
    rows = {
        "refunded": _order(verified, buyer_id="r"), "late": _order(verified, days=-1, buyer_id="l"),
        "far": _order(verified, days=120, buyer_id="f"), "usd": _order(verified, currency="USD", buyer_id="u"),
        "ok": _order(verified, buyer_id="k"),
    }
    PresaleOrder.objects.filter(pk=rows["refunded"].pk).update(state=OrderState.REFUNDED)
    by_id = {r.order.pk: r for r in borrowing_base_get(merchant=verified, as_of=TODAY).orders}
    assert rows["refunded"].pk not in by_id  # only open orders are listed
    assert by_id[rows["late"].pk].reason == f"Settlement was expected on {TODAY - datetime.timedelta(days=1)} and is overdue."
    assert by_id[rows["far"].pk].reason == "Settlement is expected in 120 days; advances can wait at most 90 days."
    assert by_id[rows["usd"].pk].reason == "The order is in USD; only CNY orders can be financed."
    assert by_id[rows["ok"].pk].eligible


def test_one_buyer_counts_only_up_to_the_concentration_cap(verified, graded):
    graded(verified, "A")
    _order(verified, buyer_id="whale", paid_amount=D("7000.00"), amount=D("7000.00"))
    for buyer in "abc":
        _order(verified, buyer_id=buyer, paid_amount=D("1000.00"))
    base = borrowing_base_get(merchant=verified, as_of=TODAY)
    whale = next(r for r in base.orders if r.order.buyer_id == "whale")
    assert whale.counted == D("2500.00")  # 25% of the 10,000 pool
    assert "makes up 70% of your eligible orders; only 25% counts" in whale.reason
    assert base.eligible_value == D("5500.00")


def test_the_tenor_and_cap_come_from_the_lenders_policy(verified, graded):
    FinancingPolicy.objects.create(lender=verified.lender, version=2, effective_from=TODAY, max_tenor_days=150,
                                   buyer_concentration_cap=D("1"), advance_rates={"A": "0.50"})
    graded(verified, "A")
    _order(verified, days=120, paid_amount=D("1000.00"))
    assert borrowing_base_get(merchant=verified, as_of=TODAY).base == D("500.00")


def test_no_base_without_verified_kyc(merchant, graded):
    graded(merchant, "A")
    _order(merchant)
    base = borrowing_base_get(merchant=merchant, as_of=TODAY)
    assert base.base == D("0.00") and merchant.kyc_state == KycState.DRAFT
    assert base.blocked_reason == "Financing needs verified KYC; yours is draft."


def test_no_base_before_any_credit_assessment(verified, graded):
    _order(verified)
    assert borrowing_base_get(merchant=verified, as_of=TODAY).blocked_reason.startswith("No credit assessment yet")


def test_borrowing_base_takes_a_fixed_number_of_queries(verified, graded, django_assert_max_num_queries):
    graded(verified, "A")
    PresaleOrderFactory.create_batch(40, merchant=verified, expected_ship_date=TODAY,
                                     expected_settlement_date=TODAY + datetime.timedelta(days=20))
    with django_assert_max_num_queries(5):
        borrowing_base_get(merchant=Merchant.objects.select_related("lender").get(pk=verified.pk), as_of=TODAY)
