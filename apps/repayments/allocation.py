"""Repayment allocation strategies: which part of what is owed a payment settles first.

Default order (DESIGN.md): past-due penalty → past-due fees → past-due interest → past-due
principal (oldest installment first within each) → what is currently due → prepayment of
principal. Interest and fees not yet accrued are not owed, so a payment never settles them
early; what is left after everything owed becomes the merchant's credit balance.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

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


def _buckets_default(owed: list[Owed], as_of: datetime.date):
    ordered = sorted(owed, key=lambda o: (o.due_date, o.number))
    past = [o for o in ordered if o.due_date < as_of]
    rest = [o for o in ordered if o.due_date >= as_of]
    for component in COMPONENTS:
        for o in past:
            yield o, component
    for o in rest:
        for component in COMPONENTS:
            yield o, component


STRATEGIES = {"default": _buckets_default}


def allocate(*, amount: Decimal, owed: list[Owed], as_of: datetime.date, strategy: str = "default") -> list[Allocation]:
    """Split `amount` over what is owed in the strategy's order; never beyond what is owed."""
    remaining, result = amount, []
    for o, component in STRATEGIES[strategy](owed, as_of):
        if remaining <= 0:
            break
        take = min(remaining, getattr(o, component))
        if take > 0:
            result.append(Allocation(o.installment_id, component, take))
            remaining -= take
    if remaining > 0:
        result.append(Allocation(None, "credit", remaining))
    return result
