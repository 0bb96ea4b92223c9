"""Balances kept in slices (ledger migration 0016): an account's balance is the sum of its slices, each slice obeys
the wrong-side rule on its own, a posting of one account takes a slice no other transaction holds, and nothing the
account as a whole can cover is refused because its slices are spread thin."""

import psycopg
import pytest
from django.db import connection, transaction

from apps.accounts.models import Role
from apps.core.calendar import business_date_today
from apps.ledger.errors import InsufficientCash
from apps.ledger.models import BALANCE_SLICES, Acct
from apps.ledger.selectors import balances_by_code_get
from apps.ledger.services import equity_inject, loan_funding_post, rule_set_version_create
from tests.helpers import balance_slices
from tests.locking import held

from .conftest import D, ref


def test_every_balance_has_its_slices_and_a_general_posting_spreads_the_ones_with_a_wrong_side(books, treasurer):
    for code, _ in Acct.choices:
        assert len(balance_slices(books, code)) == BALANCE_SLICES
    equity_inject(lender=books, amount=D("1000.05"), reference=ref(), actor=treasurer)
    assert balance_slices(books, Acct.CASH) == [D("125.05")] + [D("125.00")] * (BALANCE_SLICES - 1)  # spread, remainder first
    assert balance_slices(books, Acct.PAID_IN_CAPITAL) == [D("-1000.05")] + [D("0")] * (BALANCE_SLICES - 1)  # no wrong side
    assert balances_by_code_get(lender=books)[Acct.CASH] == D("1000.05")


@pytest.fixture
def lenient(books, staff):
    """A single borrower may owe all of net capital, so that one funding can take more than a cash slice holds."""
    rule_set_version_create(lender=books, actor=staff[Role.LENDER_ADMIN], effective_from=business_date_today(),
                            reason="test", single_borrower_ratio=D("1.0000"))
    return books


def test_a_funding_larger_than_any_cash_slice_is_made_when_cash_as_a_whole_covers_it(lenient, treasurer, merchant):
    books = lenient
    equity_inject(lender=books, amount=D("1000.00"), reference=ref(), actor=treasurer)  # 125.00 a slice
    loan_funding_post(lender=books, merchant=merchant, amount=D("300.00"), reference=ref(), actor=treasurer)
    assert balance_slices(books, Acct.CASH) == [D("87.50")] * BALANCE_SLICES  # every slice locked, the 700.00 spread
    with pytest.raises(InsufficientCash, match="Cash at bank is 700.00"):
        loan_funding_post(lender=books, merchant=merchant, amount=D("700.01"), reference=ref(), actor=treasurer)
    assert balances_by_code_get(lender=books)[Acct.CASH] == D("700.00")


@pytest.mark.django_db(transaction=True)
def test_a_funding_takes_the_first_slice_no_one_holds_without_waiting(lenient, treasurer, merchant):
    books = lenient
    equity_inject(lender=books, amount=D("1000.00"), reference=ref(), actor=treasurer)
    hold = ("SELECT 1 FROM ledger_accountbalance b JOIN ledger_account a ON a.id = b.account_id"
            " WHERE a.lender_id = %s AND b.slice = 0 FOR UPDATE OF b")
    with held(hold, [books.pk]):  # as another posting in flight would
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # a wait fails the test instead of hanging it
        try:
            loan_funding_post(lender=books, merchant=merchant, amount=D("100.00"), reference=ref(), actor=treasurer)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    assert balance_slices(books, Acct.CASH)[:3] == [D("125.00"), D("25.00"), D("125.00")]
    assert balance_slices(books, Acct.LOANS_PRINCIPAL)[:3] == [D("0"), D("100.00"), D("0")]


@pytest.mark.django_db(transaction=True)
def test_inside_a_larger_transaction_a_funding_locks_every_slice_it_moves(lenient, treasurer, merchant):
    """A later posting of the same transaction locks every slice of what it moves; had the funding held only one
    slice, that later posting would wait for lower slices while holding a higher one: a lock cycle with any general
    posting. So inside a transaction the funding locks every slice, in order, as general postings do."""
    books = lenient
    equity_inject(lender=books, amount=D("1000.00"), reference=ref(), actor=treasurer)
    free = ("SELECT count(*) FROM (SELECT 1 FROM ledger_accountbalance b JOIN ledger_account a ON a.id = b.account_id"
            " WHERE a.lender_id = %s AND a.code IN (%s, %s) FOR UPDATE OF b SKIP LOCKED) s")
    s = connection.settings_dict
    with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                         password=s["PASSWORD"] or None, dbname=s["NAME"]) as other:
        with transaction.atomic():
            loan_funding_post(lender=books, merchant=merchant, amount=D("100.00"), reference=ref(), actor=treasurer)
            assert other.execute(free, [books.pk, Acct.CASH, Acct.LOANS_PRINCIPAL]).fetchone()[0] == 0
            other.rollback()
        loan_funding_post(lender=books, merchant=merchant, amount=D("100.00"), reference=ref(), actor=treasurer)
        assert other.execute(free, [books.pk, Acct.CASH, Acct.LOANS_PRINCIPAL]).fetchone()[0] == 2 * BALANCE_SLICES
    assert balances_by_code_get(lender=books)[Acct.CASH] == D("800.00")
