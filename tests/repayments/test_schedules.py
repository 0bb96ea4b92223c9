"""Schedules against independently computed figures, plus hypothesis properties.

The independent figures come from the closed forms in float / Fraction arithmetic here,
never from the module under test.
"""

import datetime
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.errors import ValidationFailed
from apps.repayments.schedules import (
    daily_interest,
    equal_installment_payment,
    schedule_bullet,
    schedule_equal_installment,
    schedule_equal_principal,
    schedule_interest_only,
)

D = Decimal
START = datetime.date(2026, 1, 15)
MONTHLY = [schedule_equal_installment, schedule_equal_principal, schedule_interest_only]


def cents_half_up(x) -> Fraction:
    """Independent ROUND_HALF_UP to the cent for non-negative exact fractions."""
    return Fraction(math.floor(Fraction(x) * 100 + Fraction(1, 2)), 100)


def total(rows, field):
    return sum(getattr(row, field) for row in rows)


# --- equal installment (等额本息) ---------------------------------------------------------

def test_equal_installment_100k_12pct_12m_matches_the_closed_form():
    # Closed form in float: 100000 × 0.01 / (1 − 1.01^−12) = 8884.8788… → 8884.88.
    assert round(100000 * 0.01 / (1 - 1.01 ** -12), 2) == 8884.88
    assert equal_installment_payment(principal=D("100000.00"), annual_rate=D("0.12"), term_months=12) == D("8884.88")

    rows = schedule_equal_installment(principal=D("100000.00"), annual_rate=D("0.12"), term_months=12, start=START)
    assert len(rows) == 12
    assert (rows[0].interest, rows[0].principal) == (D("1000.00"), D("7884.88"))
    assert all(row.total == D("8884.88") for row in rows[:-1])

    # Independent walk in exact fractions: the cent-rounded schedule with the last absorbing the residue.
    payment, balance, interest_total = Fraction("8884.88"), Fraction(100000), Fraction(0)
    for month in range(12):
        interest = cents_half_up(balance / 100)
        interest_total += interest
        balance -= balance if month == 11 else payment - interest
    assert total(rows, "interest") == D("6618.53") == D(str(float(interest_total)))
    assert rows[-1].total == D("8884.85")
    assert total(rows, "principal") == D("100000.00")
    # The textbook n·PMT − P (unrounded payment) is 6618.55; rounding each month moves it by cents only.
    assert round(12 * 100000 * 0.01 / (1 - 1.01 ** -12) - 100000, 2) == 6618.55
    assert abs(total(rows, "interest") - D("6618.55")) <= D("0.12")


def test_equal_installment_at_zero_rate_splits_the_principal_with_the_residue_last():
    rows = schedule_equal_installment(principal=D("100000.00"), annual_rate=D("0"), term_months=3, start=START)
    assert [row.principal for row in rows] == [D("33333.33"), D("33333.33"), D("33333.34")]
    assert all(row.interest == D("0.00") for row in rows)


# --- equal principal (等额本金) -----------------------------------------------------------

def test_equal_principal_120k_12pct_12m():
    rows = schedule_equal_principal(principal=D("120000.00"), annual_rate=D("0.12"), term_months=12, start=START)
    assert all(row.principal == D("10000.00") for row in rows)
    assert rows[0].interest == D("1200.00")
    # Interest on 120k, 110k, …, 10k at 1%: 100 × (12 + 11 + … + 1) = 7800.
    assert [row.interest for row in rows] == [D(100 * k).quantize(D("0.01")) for k in range(12, 0, -1)]
    assert total(rows, "interest") == D("7800.00")
    assert rows[0].total == D("11200.00") and rows[-1].total == D("10100.00")


def test_equal_principal_residue_goes_to_the_last_installment():
    rows = schedule_equal_principal(principal=D("100000.00"), annual_rate=D("0.06"), term_months=3, start=START)
    assert [row.principal for row in rows] == [D("33333.33"), D("33333.33"), D("33333.34")]
    assert [row.interest for row in rows] == [D("500.00"), D("333.33"), D("166.67")]


# --- interest only, bullet ---------------------------------------------------------------

def test_interest_only_pays_interest_monthly_and_the_principal_as_a_balloon():
    rows = schedule_interest_only(principal=D("100000.00"), annual_rate=D("0.12"), term_months=6, start=START)
    assert all(row.interest == D("1000.00") for row in rows)
    assert [row.principal for row in rows] == [D("0.00")] * 5 + [D("100000.00")]
    assert rows[-1].total == D("101000.00")


@pytest.mark.parametrize(("day_count", "expected"), [("ACT/360", "3000.00"), ("ACT/365", "2958.90")])
def test_bullet_90_days(day_count, expected):
    start, maturity = datetime.date(2026, 1, 1), datetime.date(2026, 4, 1)
    assert (maturity - start).days == 90
    # Independent: 100000 × 0.12 × 90 / 360 = 3000; / 365 = 2958.9041… → 2958.90.
    assert cents_half_up(Fraction(100000) * Fraction(12, 100) * 90 / int(day_count[-3:])) == Fraction(expected)
    [row] = schedule_bullet(principal=D("100000.00"), annual_rate=D("0.12"), start=start, maturity=maturity,
                            day_count=day_count)
    assert (row.number, row.due_date, row.principal, row.interest) == (1, maturity, D("100000.00"), D(expected))
    assert row.total == D("100000.00") + D(expected)


def test_daily_interest_rounds_half_up_and_can_keep_full_precision():
    # 1.50 × 0.12 × 10 / 360 = 0.005 exactly: half a cent rounds up.
    assert daily_interest(principal=D("1.50"), annual_rate=D("0.12"), days=10) == D("0.01")
    exact = daily_interest(principal=D("100000"), annual_rate=D("0.12"), days=1, day_count="ACT/365", places=None)
    assert exact.quantize(D("1E-10")) == D("32.8767123288")


def test_an_exact_half_cent_of_monthly_interest_rounds_up():
    # 16.50 × 0.04 / 12 = 0.055 exactly; dividing the rate first (0.00333…) lands just below and rounds down.
    for method in MONTHLY:
        rows = method(principal=D("16.50"), annual_rate=D("0.04"), term_months=1, start=START)
        assert rows[0].interest == D("0.06")


# --- due dates ---------------------------------------------------------------------------

def test_due_dates_clamp_to_month_end_from_the_start_each_time():
    rows = schedule_interest_only(principal=D("1000.00"), annual_rate=D("0.12"), term_months=4,
                                  start=datetime.date(2026, 1, 31))
    assert [row.due_date for row in rows] == [datetime.date(2026, 2, 28), datetime.date(2026, 3, 31),
                                              datetime.date(2026, 4, 30), datetime.date(2026, 5, 31)]
    leap = schedule_interest_only(principal=D("1000.00"), annual_rate=D("0.12"), term_months=2,
                                  start=datetime.date(2028, 1, 31))
    assert [row.due_date for row in leap] == [datetime.date(2028, 2, 29), datetime.date(2028, 3, 31)]
    assert [row.number for row in rows] == [1, 2, 3, 4]


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn", MONTHLY)
@pytest.mark.parametrize(("principal", "annual_rate", "term_months"), [
    (D("0"), D("0.12"), 12), (D("-100"), D("0.12"), 12), (D("100.001"), D("0.12"), 12),
    (D("1000000000000"), D("0.12"), 12), (D("NaN"), D("0.12"), 12), ("lots", D("0.12"), 12), (100.0, D("0.12"), 12),
    (D("100"), D("-0.01"), 12), (D("100"), D("10"), 12), (D("100"), D("12"), 12),
    (D("100"), D("0.12"), 0), (D("100"), D("0.12"), -3), (D("100"), D("0.12"), 601), (D("100"), D("0.12"), 1.5),
])
def test_bad_input_is_refused(fn, principal, annual_rate, term_months):
    with pytest.raises(ValidationFailed):
        fn(principal=principal, annual_rate=annual_rate, term_months=term_months, start=START)


@pytest.mark.parametrize(("maturity", "day_count"), [
    (START, "ACT/360"), (START - datetime.timedelta(days=1), "ACT/360"), (datetime.date(2026, 4, 1), "30/360"),
])
def test_bad_bullet_is_refused(maturity, day_count):
    with pytest.raises(ValidationFailed):
        schedule_bullet(principal=D("100"), annual_rate=D("0.12"), start=START, maturity=maturity, day_count=day_count)


# --- properties --------------------------------------------------------------------------

principals = st.decimals(min_value=D("0.01"), max_value=D("100000000"), places=2)
rates = st.decimals(min_value=D("0"), max_value=D("9.9999"), places=4)
terms = st.integers(min_value=1, max_value=360)
starts = st.dates(min_value=datetime.date(2020, 1, 1), max_value=datetime.date(2040, 12, 31))


def assert_well_formed(rows, principal):
    assert total(rows, "principal") == principal
    for row in rows:
        for amount in (row.principal, row.interest, row.total):
            assert amount >= 0
            assert amount.as_tuple().exponent == -2
        assert row.total == row.principal + row.interest


@settings(max_examples=200, deadline=None)
@given(principal=principals, annual_rate=rates, term_months=terms, start=starts, method=st.sampled_from(MONTHLY))
def test_monthly_schedules_are_well_formed(principal, annual_rate, term_months, start, method):
    rows = method(principal=principal, annual_rate=annual_rate, term_months=term_months, start=start)
    assert len(rows) == term_months
    assert_well_formed(rows, principal)
    assert all(a.due_date < b.due_date for a, b in zip(rows, rows[1:], strict=False))


@settings(max_examples=200, deadline=None)
@given(principal=principals, annual_rate=rates, start=starts, days=st.integers(1, 3650),
       day_count=st.sampled_from(["ACT/360", "ACT/365"]))
def test_bullet_is_well_formed(principal, annual_rate, start, days, day_count):
    rows = schedule_bullet(principal=principal, annual_rate=annual_rate, start=start,
                           maturity=start + datetime.timedelta(days=days), day_count=day_count)
    assert_well_formed(rows, principal)


@settings(max_examples=200, deadline=None)
@given(principal=st.decimals(min_value=D("1000.00"), max_value=D("100000000"), places=2),
       annual_rate=st.decimals(min_value=D("0"), max_value=D("0.36"), places=4),
       term_months=st.integers(min_value=1, max_value=120), start=starts)
def test_equal_installment_totals_are_level_except_the_last(principal, annual_rate, term_months, start):
    rows = schedule_equal_installment(principal=principal, annual_rate=annual_rate, term_months=term_months, start=start)
    payment = equal_installment_payment(principal=principal, annual_rate=annual_rate, term_months=term_months)
    assert all(row.total == payment for row in rows[:-1])
    # Each month's rounding (≤ 1 cent) compounds at (1 + r) into the final balance, so the
    # last installment can differ from the level payment by at most about n·(1 + r)^n cents.
    r = float(annual_rate) / 12
    assert abs(rows[-1].total - payment) <= D("0.01") * (term_months * D(repr((1 + r) ** (term_months + 1))) + 1)
