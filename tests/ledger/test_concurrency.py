"""Real threads racing on PostgreSQL for the same headroom: the limits hold, nothing deadlocks,
refused requests write nothing, and the books balance afterwards."""

import random
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from apps.core.errors import DomainError
from apps.ledger.errors import CapExceeded, InsufficientCash, SingleBorrowerLimitExceeded
from apps.ledger.models import Acct, BorrowingFacility, EntryKind, JournalEntry, MerchantExposure
from apps.ledger.selectors import balances_by_code_get, capital_position_get, trial_balance_all_currencies_zero
from apps.ledger.services import (
    borrowing_repay,
    drawdown_record,
    equity_inject,
    facility_open,
    ledger_setup_ensure,
    loan_funding_post,
    loan_repayment_post,
)
from tests.merchants.factories import MerchantFactory

from .conftest import D

pytestmark = pytest.mark.django_db(transaction=True)
THREADS = 12


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(D("0.01"))


def race(n: int, work) -> list:
    """Run work(i) in n threads released together; returns each one's result or exception."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results


def assert_books_consistent(lender):
    assert trial_balance_all_currencies_zero(lender=lender)
    balances = balances_by_code_get(lender=lender)
    drawn = BorrowingFacility.objects.filter(lender=lender).aggregate(s=Sum("drawn"))["s"] or 0
    exposure = MerchantExposure.objects.filter(lender=lender).aggregate(s=Sum("principal"))["s"] or 0
    assert -balances.get(Acct.BANK_BORROWINGS, 0) == drawn
    assert balances.get(Acct.LOANS_PRINCIPAL, 0) == exposure


@pytest.fixture
def funded(lender, staff):
    ledger_setup_ensure(lender=lender)
    equity_inject(lender=lender, amount=D("1000000.00"), reference="equity", actor=staff["treasurer"])
    return lender


def test_drawdowns_racing_for_the_cap_never_pass_it(funded, staff):
    facility = facility_open(lender=funded, bank_name="Bank A", limit=D("5000000.00"), annual_rate=D("4"),
                             actor=staff["treasurer"])
    results = race(THREADS, lambda i: drawdown_record(facility=facility, amount=D("70000.00"), reference=f"dd-{i}",
                                                      actor=staff["treasurer"]))
    posted = [r for r in results if isinstance(r, JournalEntry)]
    refused = [r for r in results if not isinstance(r, JournalEntry)]
    assert len(posted) == 7 and all(isinstance(r, CapExceeded) for r in refused), results
    position = capital_position_get(lender=funded)
    assert position.borrowings == D("490000.00") <= position.cap_amount
    assert JournalEntry.objects.filter(lender=funded, kind=EntryKind.DRAWDOWN).count() == 7
    assert_books_consistent(funded)


def test_loan_fundings_racing_for_cash_never_overdraw(funded, staff):
    for i in range(19):  # spend 950,000 of the 1,000,000 on other borrowers first
        loan_funding_post(lender=funded, merchant=MerchantFactory(lender=funded), amount=D("50000.00"),
                          reference=f"setup-{i}", actor="test")
    merchants = [MerchantFactory(lender=funded) for _ in range(THREADS)]
    results = race(THREADS, lambda i: loan_funding_post(lender=funded, merchant=merchants[i], amount=D("9000.00"),
                                                        reference=f"loan-{i}", actor="test"))
    posted = [r for r in results if isinstance(r, JournalEntry)]
    assert len(posted) == 5, results
    assert all(isinstance(r, InsufficientCash) for r in results if r not in posted)
    assert capital_position_get(lender=funded).cash == D("5000.00")
    assert_books_consistent(funded)


def test_loan_fundings_racing_for_one_borrowers_headroom(funded, staff):
    merchant = MerchantFactory(lender=funded)
    results = race(THREADS, lambda i: loan_funding_post(lender=funded, merchant=merchant, amount=D("9000.00"),
                                                        reference=f"loan-{i}", actor="test"))
    posted = [r for r in results if isinstance(r, JournalEntry)]
    assert len(posted) == 5
    assert all(isinstance(r, SingleBorrowerLimitExceeded) for r in results if r not in posted)
    assert MerchantExposure.objects.get(merchant=merchant).principal == D("45000.00")
    assert_books_consistent(funded)


def test_the_same_reference_posts_once_under_a_race(funded):
    merchant = MerchantFactory(lender=funded)
    results = race(THREADS, lambda i: loan_funding_post(lender=funded, merchant=merchant, amount=D("100.00"),
                                                        reference="disbursement-42", actor="test"))
    assert all(isinstance(r, JournalEntry) for r in results)
    assert len({r.pk for r in results}) == 1
    assert MerchantExposure.objects.get(merchant=merchant).principal == D("100.00")


def test_mixed_money_services_never_deadlock_and_keep_limits(funded, staff):
    """Drawdowns, repayments, loan fundings and loan repayments across merchants and two banks at once."""
    treasurer = staff["treasurer"]
    facilities = [facility_open(lender=funded, bank_name=f"Bank {c}", limit=D("300000.00"), annual_rate=D("4"),
                                actor=treasurer) for c in "AB"]
    merchants = [MerchantFactory(lender=funded) for _ in range(3)]

    def work(i):
        rng = random.Random(i)
        outcomes = []
        for step in range(12):
            ref = f"m-{i}-{step}"
            op = rng.choice(["draw", "repay", "fund", "collect"])
            amount = Decimal(rng.randint(600, 6_000_000)) / 100
            try:
                if op == "draw":
                    drawdown_record(facility=rng.choice(facilities), amount=amount, reference=ref, actor=treasurer)
                elif op == "repay":
                    borrowing_repay(facility=rng.choice(facilities), amount=cents(amount / 4), reference=ref, actor=treasurer)
                elif op == "fund":
                    loan_funding_post(lender=funded, merchant=rng.choice(merchants), amount=cents(amount / 3), reference=ref,
                                      actor="test")
                else:
                    loan_repayment_post(lender=funded, merchant=rng.choice(merchants), amount=cents(amount / 6), reference=ref,
                                        actor="test")
                outcomes.append("ok")
            except DomainError as exc:
                outcomes.append(exc.code)
        return outcomes

    results = race(THREADS, work)
    assert all(isinstance(r, list) for r in results), [r for r in results if not isinstance(r, list)]
    position = capital_position_get(lender=funded)
    assert position.borrowings <= position.cap_amount and not position.in_breach
    assert all(MerchantExposure.objects.get(merchant=m).principal <= position.single_borrower_limit
               for m in merchants if MerchantExposure.objects.filter(merchant=m).exists())
    ok = sum(r.count("ok") for r in results)
    assert JournalEntry.objects.filter(lender=funded).count() == ok + 1  # + the equity injection
    assert_books_consistent(funded)


def test_state_read_with_the_lock_sees_what_the_previous_holder_committed(funded):
    """ledger_position_lock_state reads *after* its lock wait, with a fresh snapshot (not the statement's first one)."""
    from apps.ledger.locks import lender_position_lock
    from apps.ledger.selectors import position_lock_state_get

    merchant = MerchantFactory(lender=funded)
    holding, release = threading.Event(), threading.Event()

    def holder(_):
        from django.db import transaction

        with transaction.atomic():
            lender_position_lock(funded)
            holding.set()
            release.wait(timeout=30)
            loan_funding_post(lender=funded, merchant=merchant, amount=D("700.00"), reference="first", actor="test")
        return "committed"

    def waiter(_):
        from django.db import transaction

        holding.wait(timeout=30)
        with transaction.atomic():
            timer = threading.Timer(0.3, release.set)  # let the waiter queue on the lock before the holder posts
            timer.start()
            state = position_lock_state_get(lender=funded, reference="first", merchant_id=merchant.pk)
        return state

    results = race(2, lambda i: (holder, waiter)[i](i))
    state = results[1]
    assert results[0] == "committed", results
    assert state.reference_posted and state.exposure == D("700.00")
    assert state.balances[Acct.CASH] == D("999300.00")
    assert state.rules.borrowing_cap_ratio == D("0.50") and state.chart[Acct.CASH].id
