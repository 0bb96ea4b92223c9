import uuid
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.ledger.services import equity_inject, facility_open, ledger_setup_ensure


def ref(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def D(value) -> Decimal:  # noqa: N802 - reads like a literal
    return Decimal(str(value))


@pytest.fixture
def treasurer(staff):
    return staff[Role.TREASURER]


@pytest.fixture
def books(lender):
    """The lender's chart of accounts and position row."""
    ledger_setup_ensure(lender=lender)
    return lender


@pytest.fixture
def capitalised(books, treasurer):
    """A lender with 1,000,000.00 of paid-in capital (cap 500,000.00, single-borrower limit 50,000.00)."""
    equity_inject(lender=books, amount=D("1000000.00"), reference="equity-1", actor=treasurer)
    return books


@pytest.fixture
def facility(capitalised, treasurer):
    return facility_open(lender=capitalised, bank_name="Harbour Commercial Bank", limit=D("800000.00"),
                         annual_rate=D("4.35"), actor=treasurer)
