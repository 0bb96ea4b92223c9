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


def _amounts(balance: Decimal, annual_rate: Decimal, months: int, principal_part,
             stop_when_repaid: bool = False) -> list[tuple[Decimal, Decimal]]:
    """Walk the balance down: (principal, interest) per month; `principal_part(interest)` gives each non-final part.

    A part is capped at the balance (only bites for a few cents spread over many months);
    month `months` takes whatever balance remains. A shortened schedule stops once repaid.
    """
    rows = []
    for number in range(1, months + 1):
        if stop_when_repaid and balance == 0:
            break
        interest = _monthly_interest(balance, annual_rate)
        part = balance if number == months else min(principal_part(interest), balance)
        rows.append((part, interest))
        balance -= part
    return rows


def _amortise(principal: Decimal, annual_rate: Decimal, term_months: int, start: datetime.date,
              principal_part) -> list[Installment]:
    return [_installment(number, start, part, interest)
            for number, (part, interest) in enumerate(_amounts(principal, annual_rate, term_months, principal_part), 1)]


def equal_installment_payment(*, principal, annual_rate, term_months: int) -> Decimal:
    """The level monthly payment P·r / (1 − (1+r)^−n), r = annual ÷ 12, to the cent."""
    principal, annual_rate = _validated(principal, annual_rate, term_months)
    if annual_rate == 0:
        return quantize(principal / term_months)
    r = annual_rate / 12
    return quantize(principal * r / (1 - (1 + r) ** -term_months))


def _principal_part_rule(method: str, principal: Decimal, annual_rate: Decimal, term_months: int):
    """Each method's non-final principal part, as a function of the month's interest."""
    if method == "equal_installment":
        # payment ≥ P·r ≥ any later interest, so parts are never negative.
        payment = equal_installment_payment(principal=principal, annual_rate=annual_rate, term_months=term_months)
        return lambda interest: payment - interest
    if method == "equal_principal":
        part = quantize(principal / term_months)
        return lambda interest: part
    if method == "interest_only":
        return lambda interest: ZERO
    raise ValidationFailed(f"{method!r} is not a monthly repayment method", code="METHOD_UNKNOWN")


def schedule_equal_installment(*, principal, annual_rate, term_months: int, start: datetime.date) -> list[Installment]:
    """等额本息: level total each month; the last installment absorbs the residue."""
    principal, annual_rate = _validated(principal, annual_rate, term_months)
    return _amortise(principal, annual_rate, term_months, start,
                     _principal_part_rule("equal_installment", principal, annual_rate, term_months))


def schedule_equal_principal(*, principal, annual_rate, term_months: int, start: datetime.date) -> list[Installment]:
    """等额本金: the same principal part each month, interest on the falling balance."""
    principal, annual_rate = _validated(principal, annual_rate, term_months)
    return _amortise(principal, annual_rate, term_months, start,
                     _principal_part_rule("equal_principal", principal, annual_rate, term_months))


def schedule_interest_only(*, principal, annual_rate, term_months: int, start: datetime.date) -> list[Installment]:
    """Interest each month, the whole principal as a balloon with the last installment."""
    principal, annual_rate = _validated(principal, annual_rate, term_months)
    return _amortise(principal, annual_rate, term_months, start,
                     _principal_part_rule("interest_only", principal, annual_rate, term_months))


def rest_of_schedule(*, method: str, balance, annual_rate, months_left: int, shorten: bool,
                     level: Decimal | None = None) -> list[tuple[Decimal, Decimal]]:
    """(principal, interest) of each month left after a partial prepayment, first to last.

    shorten=False (lower installments): the same `months_left`, the method's schedule recomputed
    on the new balance. shorten=True (fewer months): each month keeps the current `level` — the
    level payment for equal installments, the principal part for equal principal — until the
    balance is repaid; the last month takes what is left, so it is never above the level.
    Either way interest is balance × annual ÷ 12 each month and the parts sum exactly to `balance`.
    """
    balance, annual_rate = _validated(balance, annual_rate, months_left)
    if not shorten:
        return _amounts(balance, annual_rate, months_left, _principal_part_rule(method, balance, annual_rate, months_left))
    if method == "interest_only":
        raise ValidationFailed("An interest-only loan repays its principal at the end: a prepayment lowers its interest "
                               "but cannot shorten it. Choose lower installments.", code="PREPAYMENT_CHOICE_UNSUPPORTED")
    if method not in ("equal_installment", "equal_principal"):
        raise ValidationFailed(f"{method!r} is not a monthly repayment method", code="METHOD_UNKNOWN")
    first_interest = _monthly_interest(balance, annual_rate)
    if level is None or (level - first_interest if method == "equal_installment" else level) <= 0:
        raise ValidationFailed(f"An installment level of {level} repays nothing of {balance}.", code="PREPAYMENT_LEVEL_INVALID")
    part = (lambda interest: level - interest) if method == "equal_installment" else (lambda interest: level)
    return _amounts(balance, annual_rate, months_left, part, stop_when_repaid=True)


def schedule_bullet(*, principal, annual_rate, start: datetime.date, maturity: datetime.date,
                    day_count: str = "ACT/360") -> list[Installment]:
    """One installment at maturity: principal plus daily interest for the actual days."""
    principal, annual_rate = _validated(principal, annual_rate)
    if maturity <= start:
        raise ValidationFailed(f"maturity {maturity} must be after the start {start}")
    interest = daily_interest(principal=principal, annual_rate=annual_rate, days=(maturity - start).days,
                              day_count=day_count)
    return [Installment(1, maturity, principal, interest, principal + interest)]
