"""The one-statement check-and-post (posting.principal_post, ledger_principal_post) decides exactly as the Python
definitions would: net capital, the single-borrower limit's rounding, refusals that write nothing, replays."""

import pytest
from django.db import connection, transaction

from apps.core.calendar import business_date_today
from apps.ledger.errors import ExceedsOutstanding, InsufficientCash, SingleBorrowerLimitExceeded
from apps.ledger.models import Account, Acct, JournalEntry, JournalLine, LenderPosition
from apps.ledger.selectors import capital_position_get, merchant_exposure_get, net_capital_get
from apps.ledger.services import (
    donation_record,
    equity_inject,
    loan_funding_post,
    loan_repayment_post,
    provision_post,
    rule_set_version_create,
)
from tests.merchants.factories import MerchantFactory

from .conftest import D


def test_single_borrower_limit_is_cut_to_the_cent_from_net_capital_with_income_and_expenses(books, treasurer, merchant):
    equity_inject(lender=books, amount=D("1000000.00"), reference="eq", actor=treasurer)
    donation_record(lender=books, amount=D("0.30"), reference="gift", actor=treasurer)
    provision_post(lender=books, amount=D("0.20"), reference="prov", actor=treasurer)
    assert net_capital_get(lender=books) == D("1000000.10")
    limit = capital_position_get(lender=books).single_borrower_limit
    assert limit == D("50000.00")  # 5% of 1,000,000.10 = 50,000.005: rounding up would pass the 5%
    with pytest.raises(SingleBorrowerLimitExceeded, match="single-borrower limit of 50,000.00"):
        loan_funding_post(lender=books, merchant=merchant, amount=D("50000.01"), reference="f1", actor=treasurer)
    entry = loan_funding_post(lender=books, merchant=merchant, amount=D("50000.00"), reference="f2", actor=treasurer)
    assert JournalEntry.objects.get(pk=entry.pk).reference == "f2" and entry.business_date
    assert merchant_exposure_get(merchant=merchant) == limit


def test_a_refused_funding_writes_nothing_and_a_replay_gets_its_entry_even_when_cash_ran_out(books, treasurer, merchant):
    rule_set_version_create(lender=books, actor=treasurer, effective_from=business_date_today(), reason="one borrower",
                            single_borrower_ratio=D("1"))
    equity_inject(lender=books, amount=D("100.00"), reference="eq", actor=treasurer)
    first = loan_funding_post(lender=books, merchant=merchant, amount=D("100.00"), reference="f1", actor=treasurer)
    with pytest.raises(InsufficientCash, match="Cash at bank is 0.00 CNY; the loan needs 0.01"):
        loan_funding_post(lender=books, merchant=MerchantFactory(lender=books), amount=D("0.01"), reference="f2",
                          actor=treasurer)
    assert not JournalEntry.objects.filter(lender=books, reference="f2").exists()
    assert loan_funding_post(lender=books, merchant=merchant, amount=D("100.00"), reference="f1", actor=treasurer) == first
    with pytest.raises(ExceedsOutstanding, match="owes 100.00 of principal; 100.01 is more"):
        loan_repayment_post(lender=books, merchant=merchant, amount=D("100.01"), reference="p1", actor=treasurer)
    loan_repayment_post(lender=books, merchant=merchant, amount=D("100.00"), reference="p2", actor=treasurer)
    assert merchant_exposure_get(merchant=merchant) == 0


def test_first_use_sets_the_books_up(lender, treasurer, merchant):
    assert not LenderPosition.objects.filter(lender=lender).exists()
    with pytest.raises(InsufficientCash):
        loan_funding_post(lender=lender, merchant=merchant, amount=D("1.00"), reference="f1", actor=treasurer)
    assert LenderPosition.objects.filter(lender=lender).exists()


def test_inside_a_transaction_a_refusal_leaves_the_callers_transaction_usable(capitalised, treasurer, merchant):
    with transaction.atomic():
        loan_funding_post(lender=capitalised, merchant=merchant, amount=D("10.00"), reference="in-1", actor=treasurer)
        with pytest.raises(SingleBorrowerLimitExceeded):
            loan_funding_post(lender=capitalised, merchant=merchant, amount=D("50000.00"), reference="in-2", actor=treasurer)
        loan_funding_post(lender=capitalised, merchant=merchant, amount=D("5.00"), reference="in-3", actor=treasurer)
    assert merchant_exposure_get(merchant=merchant) == D("15.00")


@pytest.mark.django_db(transaction=True)
def test_on_its_own_a_funding_is_one_statement(capitalised, treasurer, merchant, django_assert_num_queries):
    loan_funding_post(lender=capitalised, merchant=merchant, amount=D("1.00"), reference="warm", actor=treasurer)
    assert not connection.in_atomic_block
    with django_assert_num_queries(1):  # no BEGIN/COMMIT round trips around it: the statement is the transaction
        loan_funding_post(lender=capitalised, merchant=merchant, amount=D("1.00"), reference="one", actor=treasurer)


@pytest.mark.django_db(transaction=True)
def test_the_funding_statement_is_prepared_on_the_server_once(capitalised, treasurer, merchant):
    for n in range(3):
        loan_funding_post(lender=capitalised, merchant=merchant, amount=D("1.00"), reference=f"prep-{n}", actor=treasurer)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%ledger_principal_post%"])
        assert cursor.fetchone()[0] == 1


def test_inside_a_callers_transaction_its_deferred_checks_stay_deferred(capitalised, treasurer, merchant):
    """Alone, the statement runs its deferred checks early; inside a transaction that wrote before, it must not fire
    the caller's: here an entry whose lines are still to come."""
    cash = Account.objects.get(lender=capitalised, code=Acct.CASH)
    capital = Account.objects.get(lender=capitalised, code=Acct.PAID_IN_CAPITAL)
    with transaction.atomic():
        entry = JournalEntry.objects.create(lender=capitalised, reference="in-progress", created_by="x",
                                            business_date=business_date_today())
        loan_funding_post(lender=capitalised, merchant=merchant, amount=D("10.00"), reference="inside", actor=treasurer)
        JournalLine.objects.bulk_create([JournalLine(entry=entry, account=cash, debit=D("1.00"), currency="CNY"),
                                         JournalLine(entry=entry, account=capital, credit=D("1.00"), currency="CNY")])
    assert JournalEntry.objects.filter(lender=capitalised, reference__in=["in-progress", "inside"]).count() == 2
