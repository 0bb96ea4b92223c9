"""Repayment schedules: pure functions, no database.

Monthly methods use the periodic rate annual ÷ 12 (the standard 等额本息 / 等额本金
formulas); daily interest uses ACT/360 by default, ACT/365 selectable. Every amount is
quantised to the cent with ROUND_HALF_UP and the last installment absorbs the rounding
residue, so principal parts sum exactly to the principal (DESIGN.md, Products and schedules).
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from apps.core.errors import ValidationFailed
from apps.core.money import CENT, MAX_AMOUNT, quantize, to_decimal

DAY_COUNTS = {"ACT/360": 360, "ACT/365": 365}
MAX_TERM_MONTHS = 600  # 50 years: anything longer is a typo, not a product
MAX_ANNUAL_RATE = Decimal(10)
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Installment:
    number: int
    due_date: datetime.date
    principal: Decimal
    interest: Decimal
    total: Decimal


def add_months(start: datetime.date, months: int) -> datetime.date:
    """Same day of month as `start`, clamped to month end (Jan 31 → Feb 28 → Mar 31).

    Always counted from `start`, never from the previous due date, so a clamp in
    February does not drag every later date to the 28th.
    """
    return start + relativedelta(months=months)


def daily_interest(*, principal, annual_rate, days: int, day_count: str = "ACT/360",
                   places: Decimal | None = CENT) -> Decimal:
    """Interest for `days` actual days; `places=None` keeps full precision for accruals."""
    if day_count not in DAY_COUNTS:
        raise ValidationFailed(f"day count must be one of {', '.join(DAY_COUNTS)}, not {day_count!r}")
    # Multiply before dividing so an exact half cent stays exact and rounds up.
    amount = to_decimal(principal) * to_decimal(annual_rate) * days / DAY_COUNTS[day_count]
    return amount if places is None else quantize(amount, places)


def _validated(principal, annual_rate, term_months: int | None = None) -> tuple[Decimal, Decimal]:
    try:
        principal, annual_rate = to_decimal(principal), to_decimal(annual_rate)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(str(exc)) from exc
    if not ZERO < principal <= MAX_AMOUNT:
        raise ValidationFailed(f"principal must be more than 0 and at most {MAX_AMOUNT}, not {principal}")
    if principal != quantize(principal):
        raise ValidationFailed(f"principal must be a whole number of cents, not {principal}")
    if not 0 <= annual_rate < MAX_ANNUAL_RATE:
        raise ValidationFailed(f"annual rate must be at least 0 and below {MAX_ANNUAL_RATE} (a fraction: 0.12 is 12%), "
                               f"not {annual_rate}")
    if term_months is not None and (isinstance(term_months, bool) or not isinstance(term_months, int)
                                    or not 1 <= term_months <= MAX_TERM_MONTHS):
        raise ValidationFailed(f"term must be a whole number of months from 1 to {MAX_TERM_MONTHS}, not {term_months!r}")
    return principal, annual_rate


def _monthly_interest(balance: Decimal, annual_rate: Decimal) -> Decimal:
    # balance × annual is exact; dividing last keeps half-cent cases exact.
    return quantize(balance * annual_rate / 12)


def _installment(number: int, start: datetime.date, principal: Decimal, interest: Decimal) -> Installment:
    return Installment(number, add_months(start, number), principal, interest, principal + interest)


def _amortise(principal: Decimal, annual_rate: Decimal, term_months: int, start: datetime.date,
              principal_part) -> list[Installment]:
    """Walk the balance down; `principal_part(interest)` gives each non-final principal part.

    A part is capped at the balance (only bites for a few cents spread over many months);
    the last installment takes whatever balance remains.
    """
    balance, rows = principal, []
    for number in range(1, term_months + 1):
        interest = _monthly_interest(balance, annual_rate)
        part = balance if number == term_months else min(principal_part(interest), balance)
        rows.append(_installment(number, start, part, interest))
        balance -= part
    return rows


def equal_installment_payment(*, principal, annual_rate, term_months: int) -> Decimal:
    """The level monthly payment P·r / (1 − (1+r)^−n), r = annual ÷ 12, to the cent."""
    principal, annual_rate = _validated(principal, annual_rate, term_months)
    if annual_rate == 0:
        return quantize(principal / term_months)
    r = annual_rate / 12
    return quantize(principal * r / (1 - (1 + r) ** -term_months))


def schedule_equal_installment(*, principal, annual_rate, term_months: int, start: datetime.date) -> list[Installment]:
    """等额本息: level total each month; the last installment absorbs the residue."""
    principal, annual_rate = _validated(principal, annual_rate, term_months)
    payment = equal_installment_payment(principal=principal, annual_rate=annual_rate, term_months=term_months)
    # payment ≥ P·r ≥ any later interest, so parts are never negative.
    return _amortise(principal, annual_rate, term_months, start, lambda interest: payment - interest)


def schedule_equal_principal(*, principal, annual_rate, term_months: int, start: datetime.date) -> list[Installment]:
    """等额本金: the same principal part each month, interest on the falling balance."""
    principal, annual_rate = _validated(principal, annual_rate, term_months)
    part = quantize(principal / term_months)
    return _amortise(principal, annual_rate, term_months, start, lambda interest: part)


def schedule_interest_only(*, principal, annual_rate, term_months: int, start: datetime.date) -> list[Installment]:
    """Interest each month, the whole principal as a balloon with the last installment."""
    principal, annual_rate = _validated(principal, annual_rate, term_months)
    return _amortise(principal, annual_rate, term_months, start, lambda interest: ZERO)


def schedule_bullet(*, principal, annual_rate, start: datetime.date, maturity: datetime.date,
                    day_count: str = "ACT/360") -> list[Installment]:
    """One installment at maturity: principal plus daily interest for the actual days."""
    principal, annual_rate = _validated(principal, annual_rate)
    if maturity <= start:
        raise ValidationFailed(f"maturity {maturity} must be after the start {start}")
    interest = daily_interest(principal=principal, annual_rate=annual_rate, days=(maturity - start).days,
                              day_count=day_count)
    return [Installment(1, maturity, principal, interest, principal + interest)]
