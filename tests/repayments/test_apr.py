import datetime
import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.errors import ValidationFailed
from apps.repayments.apr import apr_irr, schedule_cash_flows
from apps.repayments.schedules import (
    schedule_bullet,
    schedule_equal_installment,
    schedule_equal_principal,
    schedule_interest_only,
)

D = Decimal
DAY0 = datetime.date(2026, 1, 1)
YEAR_LATER = datetime.date(2027, 1, 1)  # 365 days: exactly one XIRR year


def xirr_npv(rate: float, flows) -> float:
    """Independent NPV in the XIRR convention, written with plain powers."""
    return sum(float(amount) / (1 + rate) ** ((day - flows[0][0]).days / 365) for day, amount in flows)


def test_one_year_simple_loan_is_its_rate():
    assert apr_irr([(DAY0, D("100.00")), (YEAR_LATER, D("-112.00"))]) == D("0.1200")


def test_one_percent_a_month_compounds_to_0_1268():
    # 100 growing at 1% a month for 12 months: 100 × 1.01^12 = 112.6825…; APR = 1.01^12 − 1.
    assert round(1.01 ** 12 - 1, 4) == 0.1268
    assert apr_irr([(DAY0, D("100000.00")), (YEAR_LATER, D("-112682.50"))]) == D("0.1268")


@pytest.mark.parametrize("start", [datetime.date(2026, 1, 15), datetime.date(2026, 6, 10), datetime.date(2028, 1, 1)])
def test_twelve_percent_equal_installment_is_about_the_effective_monthly_rate(start):
    rows = schedule_equal_installment(principal=D("100000.00"), annual_rate=D("0.12"), term_months=12, start=start)
    apr = apr_irr(schedule_cash_flows(D("100000.00"), start, rows))
    # Effective annual of 1% a month is 0.1268; actual day counts (28-day Februaries) move it
    # by up to about ±0.001 depending on the calendar.
    assert abs(apr - D("0.1268")) <= D("0.0010")
    assert apr > D("0.1200")  # the nominal rate understates the monthly-compounded cost


def test_zero_interest_loan_costs_nothing():
    rows = schedule_equal_installment(principal=D("100000.00"), annual_rate=D("0"), term_months=3, start=DAY0)
    apr = apr_irr(schedule_cash_flows(D("100000.00"), DAY0, rows))
    assert apr == 0 and str(apr) == "0.0000"


def test_negative_return_is_reported():
    assert apr_irr([(DAY0, D("100.00")), (YEAR_LATER, D("-90.00"))]) == D("-0.1000")


def test_bullet_apr_annualises_the_90_day_cost():
    maturity = datetime.date(2026, 4, 1)
    rows = schedule_bullet(principal=D("100000.00"), annual_rate=D("0.12"), start=DAY0, maturity=maturity)
    # 3000 over 90 days: (103000 / 100000)^(365/90) − 1.
    expected = round(1.03 ** (365 / 90) - 1, 4)
    assert apr_irr(schedule_cash_flows(D("100000.00"), DAY0, rows)) == D(str(expected))


@pytest.mark.parametrize("flows", [
    [],
    [(DAY0, D("100"))],
    [(DAY0, D("100")), (YEAR_LATER, D("5"))],  # money only ever received: no rate makes it zero
    [(DAY0, D("-100")), (YEAR_LATER, D("-5"))],
    [(YEAR_LATER, D("100")), (DAY0, D("-112"))],  # disbursement not first
    [(DAY0, D("100")), (datetime.date(2200, 1, 1), D("-112"))],  # absurd span
])
def test_flows_without_a_rate_are_refused(flows):
    with pytest.raises(ValidationFailed):
        apr_irr(flows)


METHODS = [schedule_equal_installment, schedule_equal_principal, schedule_interest_only]


@settings(max_examples=100, deadline=None)
@given(principal=st.decimals(min_value=D("1000.00"), max_value=D("10000000"), places=2),
       annual_rate=st.decimals(min_value=D("0.0001"), max_value=D("0.36"), places=4),
       term_months=st.integers(1, 60), method=st.sampled_from(METHODS),
       start=st.dates(datetime.date(2024, 1, 1), datetime.date(2030, 12, 31)))
def test_apr_is_the_root_of_the_xirr_equation(principal, annual_rate, term_months, method, start):
    flows = schedule_cash_flows(principal, start, method(principal=principal, annual_rate=annual_rate,
                                                         term_months=term_months, start=start))
    apr = float(apr_irr(flows))
    assert apr >= 0
    # The true root lies within half a step of the 4-place answer: NPV changes sign across it.
    low, high = xirr_npv(apr - 0.00005 - 1e-9, flows), xirr_npv(apr + 0.00005 + 1e-9, flows)
    assert math.copysign(1, low) != math.copysign(1, high)
