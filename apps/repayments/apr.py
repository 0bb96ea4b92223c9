"""APR: the all-in annualised cost of a loan as an internal rate of return.

Convention (XIRR): the annual effective rate x solving

    Σ cf_i / (1 + x) ^ (days_i / 365) = 0,   days_i = date_i − date_0 (actual days)

seen from the borrower: the first flow is the principal received (+), later flows are
the payments made (−). A 12-month loan at 12% nominal with monthly installments thus
shows about 0.1268 — the effective annual rate of 1% a month — not 0.1200.

The root is found by bisection on floats: a rate is not money, bisection cannot diverge,
and the result is quantised to 4 places (ROUND_HALF_UP), far coarser than the solver's
tolerance. Amounts stay Decimal everywhere else.
"""

import datetime
import math
from collections.abc import Iterable
from decimal import Decimal

from apps.core.errors import ValidationFailed
from apps.core.money import quantize
from apps.repayments.schedules import Installment

RATE_PLACES = Decimal("0.0001")
LOWEST_RATE = -0.99  # −100% is a pole of the discount factor; nothing real sits below −99%
HIGHEST_RATE = 1e9
TOLERANCE = 1e-12
MAX_YEARS = 100  # keeps (1 + LOWEST_RATE) ** −years inside float range


def schedule_cash_flows(principal: Decimal, start: datetime.date,
                        installments: Iterable[Installment]) -> list[tuple[datetime.date, Decimal]]:
    """The borrower's flows: +principal at `start`, −total at each due date."""
    return [(start, principal)] + [(row.due_date, -row.total) for row in installments]


def _npv(rate: float, flows: list[tuple[float, float]]) -> float:
    # exp(−t·log1p(x)) instead of (1+x)**−t: tends to 0 for huge rates instead of overflowing.
    return sum(amount * math.exp(-years * math.log1p(rate)) for years, amount in flows)


def apr_irr(cash_flows: list[tuple[datetime.date, Decimal]]) -> Decimal:
    """The annual effective IRR of dated cash flows, to 4 places (e.g. Decimal("0.1268"))."""
    if len(cash_flows) < 2:
        raise ValidationFailed("APR needs at least two cash flows")
    first = cash_flows[0][0]
    if any(day < first for day, _ in cash_flows):
        raise ValidationFailed("the first cash flow must be the earliest (the disbursement)")
    if any((day - first).days > MAX_YEARS * 365 for day, _ in cash_flows):
        raise ValidationFailed(f"cash flows may span at most {MAX_YEARS} years")
    if sum(amount for _, amount in cash_flows) == 0:
        return Decimal("0.0000")  # NPV at x = 0 is the plain sum: exactly zero means a zero-cost loan
    flows = [((day - first).days / 365, float(amount)) for day, amount in cash_flows]
    low, high = LOWEST_RATE, 1.0
    low_positive = _npv(low, flows) > 0
    # Widen the bracket upwards until the sign changes (rates far above 100% are possible near rate 10).
    while (_npv(high, flows) > 0) == low_positive:
        if high >= HIGHEST_RATE:
            raise ValidationFailed("these cash flows have no rate of return (their value never changes sign)")
        low, high = high, high * 10
    # Invariant: the sign of NPV at `low` is low_positive, at `high` the other; compare signs, never products,
    # which could underflow to zero.
    while high - low > TOLERANCE * max(1.0, abs(low)):
        middle = (low + high) / 2
        if (_npv(middle, flows) > 0) == low_positive:
            low = middle
        else:
            high = middle
    rate = quantize(Decimal(repr((low + high) / 2)), RATE_PLACES)
    return rate if rate else Decimal("0.0000")  # never "-0.0000"
