"""Repayment allocation strategies: which part of what is owed a payment settles first.

A strategy is registered under a name; a loan product picks one by name and the loan keeps
it (Loan.allocation_strategy). Default order (DESIGN.md): past-due penalty → past-due fees →
past-due interest → past-due principal (oldest installment first within each) → what is
currently due → prepayment of principal. Interest and fees not yet accrued are not owed, so a
payment never settles them early; what is left after everything owed becomes the merchant's
credit balance.
"""

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from apps.core.errors import ValidationFailed

ZERO = Decimal("0.00")
COMPONENTS = ("penalty", "fee", "interest", "principal")


@dataclass(frozen=True)
class Owed:
    installment_id: int
    number: int
    due_date: datetime.date
    fee: Decimal  # accrued and unpaid
    interest: Decimal  # accrued and unpaid
    principal: Decimal  # unpaid
    penalty: Decimal = ZERO


@dataclass(frozen=True)
class Allocation:
    installment_id: int | None  # None: the merchant's credit balance
    component: str  # penalty, fee, interest, principal or credit
    amount: Decimal


Strategy = Callable[[list[Owed], datetime.date], Iterator[tuple[Owed, str]]]
STRATEGIES: dict[str, Strategy] = {}
STRATEGY_LABELS: dict[str, str] = {}


def register_strategy(name: str, label: str):
    """Register an allocation order: a generator of (owed row, component) in the order to settle them."""

    def register(fn: Strategy) -> Strategy:
        STRATEGIES[name], STRATEGY_LABELS[name] = fn, label
        return fn

    return register


def strategy_choices() -> list[tuple[str, str]]:
    return list(STRATEGY_LABELS.items())


def _by_due_date(owed: list[Owed]) -> list[Owed]:
    return sorted(owed, key=lambda o: (o.due_date, o.number))


@register_strategy("default", "Past due by component (penalty, fee, interest, principal), then current, then prepayment")
def _buckets_default(owed: list[Owed], as_of: datetime.date):
    ordered = _by_due_date(owed)
    past = [o for o in ordered if o.due_date < as_of]
    rest = [o for o in ordered if o.due_date >= as_of]
    for component in COMPONENTS:
        for o in past:
            yield o, component
    for o in rest:
        for component in COMPONENTS:
            yield o, component


@register_strategy("oldest_installment_first", "Each installment in full (penalty, fee, interest, principal), oldest first")
def _oldest_installment_first(owed: list[Owed], as_of: datetime.date):
    for o in _by_due_date(owed):
        for component in COMPONENTS:
            yield o, component


def strategy_check(name: str) -> str:
    if name not in STRATEGIES:
        raise ValidationFailed(f"Unknown allocation strategy {name!r}; expected one of {', '.join(STRATEGIES)}.",
                               code="ALLOCATION_STRATEGY_UNKNOWN")
    return name


def allocate(*, amount: Decimal, owed: list[Owed], as_of: datetime.date, strategy: str = "default") -> list[Allocation]:
    """Split `amount` over what is owed in the strategy's order; never beyond what is owed."""
    remaining, result = amount, []
    for o, component in STRATEGIES[strategy_check(strategy)](owed, as_of):
        if remaining <= 0:
            break
        take = min(remaining, getattr(o, component))
        if take > 0:
            result.append(Allocation(o.installment_id, component, take))
            remaining -= take
    if remaining > 0:
        result.append(Allocation(None, "credit", remaining))
    return result
