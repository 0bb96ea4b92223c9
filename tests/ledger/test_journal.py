"""The general ledger: chart, balanced append-only entries, idempotent references, reversals."""

import datetime

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from apps.core.errors import Conflict, ValidationFailed
from apps.ledger.errors import DuplicateReference, LedgerError
from apps.ledger.models import Account, AccountBalance, Acct, JournalEntry, JournalLine, NormalSide
from apps.ledger.posting import Line, cr, dr, journal_post, journal_reverse
from apps.ledger.selectors import balances_by_code_get, trial_balance_all_currencies_zero, trial_balance_get
from apps.ledger.services import chart_of_accounts_ensure, equity_inject
from tests.helpers import RowsRead

from .conftest import D, ref


def test_chart_of_accounts_is_seeded_once_with_normal_sides(books):
    chart = chart_of_accounts_ensure(lender=books)
    assert len(chart) == len(Acct.choices) == Account.objects.filter(lender=books).count()
    assert chart[Acct.CASH].normal_side == NormalSide.DEBIT
    assert chart[Acct.LOAN_LOSS_ALLOWANCE].normal_side == NormalSide.CREDIT  # contra-asset
    assert chart[Acct.BANK_BORROWINGS].normal_side == NormalSide.CREDIT
    assert chart[Acct.IMPAIRMENT_EXPENSE].normal_side == NormalSide.DEBIT
    assert chart[Acct.RECOVERY_INCOME].type == "income"


def test_posting_updates_balances_and_the_trial_balance_is_zero(books, treasurer):
    entry = journal_post(lender=books, reference="r1", actor=treasurer, description="opening",
                         lines=[dr(Acct.CASH, D("100.00")), cr(Acct.PAID_IN_CAPITAL, D("60.00")),
                                cr(Acct.DONATED_CAPITAL, D("40.00"))])
    assert entry.lines.count() == 3 and entry.created_by == treasurer.username
    balances = balances_by_code_get(lender=books)
    assert balances[Acct.CASH] == D("100.00") and balances[Acct.PAID_IN_CAPITAL] == D("-60.00")
    tb = trial_balance_get(lender=books)
    assert tb.total_debit == tb.total_credit == D("100.00") and tb.difference == 0
    assert trial_balance_all_currencies_zero(lender=books)
    assert trial_balance_get(lender=books, as_of=datetime.date.today()).difference == 0


@pytest.mark.parametrize("lines", [
    [dr(Acct.CASH, D("100.00")), cr(Acct.PAID_IN_CAPITAL, D("99.99"))],
    [dr(Acct.CASH, D("100.00"))],
    [Line(Acct.CASH, debit=D("1.00"), credit=D("1.00")), cr(Acct.PAID_IN_CAPITAL, D("0.00"))],
    [dr(Acct.CASH, D("1.00"), ), Line(Acct.PAID_IN_CAPITAL, credit=D("1.00"), currency="USD")],
])
def test_unbalanced_or_malformed_entries_are_refused(books, lines):
    with pytest.raises(ValidationFailed):
        journal_post(lender=books, reference=ref(), lines=lines, actor=None)
    assert not JournalEntry.objects.exists()


@pytest.mark.parametrize("amount", [D("-5.00"), D("0.001"), D("1e15"), 5.0])
def test_bad_amounts_are_refused(books, amount):
    with pytest.raises(ValidationFailed):
        equity_inject(lender=books, amount=amount, reference=ref(), actor=None)
    assert not JournalEntry.objects.exists()


def test_unknown_account_refused(books):
    with pytest.raises(ValidationFailed, match="Unknown account"):
        journal_post(lender=books, reference=ref(), lines=[dr("9999", D("1.00")), cr(Acct.CASH, D("1.00"))], actor=None)


def test_database_refuses_unbalanced_lines_as_they_are_written(books):
    """The statement-level trigger (migration 0017): written around the service, an unbalanced batch is refused."""
    cash = Account.objects.get(lender=books, code=Acct.CASH)
    with pytest.raises(DatabaseError, match="unbalanced"), transaction.atomic():
        entry = JournalEntry.objects.create(lender=books, reference="raw", business_date=datetime.date.today(), created_by="x")
        JournalLine.objects.create(entry=entry, account=cash, debit=D("5.00"), currency="CNY")
    assert not JournalEntry.objects.filter(reference="raw").exists()


def test_each_statement_writes_balanced_lines(books):
    """An entry balanced only across two statements is refused at the first; so is a batch with one unbalanced entry
    among balanced ones, by the entry's id."""
    cash = Account.objects.get(lender=books, code=Acct.CASH)
    capital = Account.objects.get(lender=books, code=Acct.PAID_IN_CAPITAL)
    today = datetime.date.today()
    with pytest.raises(DatabaseError, match="unbalanced in CNY"), transaction.atomic():
        entry = JournalEntry.objects.create(lender=books, reference="split", business_date=today, created_by="x")
        JournalLine.objects.create(entry=entry, account=cash, debit=D("5.00"), currency="CNY")
        JournalLine.objects.create(entry=entry, account=capital, credit=D("5.00"), currency="CNY")
    with pytest.raises(DatabaseError) as refused, transaction.atomic():
        good, bad = (JournalEntry.objects.create(lender=books, reference=r, business_date=today, created_by="x")
                     for r in ("good", "bad"))
        JournalLine.objects.bulk_create([
            JournalLine(entry=good, account=cash, debit=D("5.00"), currency="CNY"),
            JournalLine(entry=good, account=capital, credit=D("5.00"), currency="CNY"),
            JournalLine(entry=bad, account=cash, debit=D("4.00"), currency="CNY"),
            JournalLine(entry=bad, account=capital, credit=D("3.00"), currency="CNY"),
        ])
    assert f"journal entry {bad.pk} is unbalanced in CNY: debits 4.00 credits 3.00" in str(refused.value)
    assert not JournalEntry.objects.filter(reference__in=["split", "good", "bad"]).exists()


def test_database_refuses_an_entry_without_lines(books):
    with pytest.raises(DatabaseError, match="no lines"), transaction.atomic():
        JournalEntry.objects.create(lender=books, reference="empty", business_date=datetime.date.today(), created_by="x")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.parametrize("debit, credit", [("1", "1"), ("0", "0"), ("-1", "0"), ("0", "-1"), ("-1", "2")])
def test_database_refuses_a_line_on_both_sides_or_neither(books, debit, credit):
    entry_lines = [dr(Acct.CASH, D("1.00")), cr(Acct.PAID_IN_CAPITAL, D("1.00"))]
    entry = journal_post(lender=books, reference="ok", lines=entry_lines, actor=None)
    with pytest.raises(IntegrityError, match="ledger_line_one_side"), transaction.atomic():
        JournalLine.objects.create(entry=entry, account=entry.lines.first().account, debit=D(debit), credit=D(credit),
                                   currency="CNY")


def test_posted_rows_are_append_only(books):
    entry = equity_inject(lender=books, amount=D("10.00"), reference="e", actor=None)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalLine.objects.filter(entry=entry).update(debit=D("11.00"))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalLine.objects.filter(entry=entry).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).update(description="edited")
    assert JournalLine.objects.filter(entry=entry, debit=D("10.00")).exists()


def test_database_refuses_a_wrong_side_balance(books):
    with pytest.raises(DatabaseError), transaction.atomic():
        AccountBalance.objects.filter(account__lender=books, account__code=Acct.CASH).update(balance=D("-1.00"))


def test_service_refuses_to_take_cash_below_zero(books):
    with pytest.raises(LedgerError, match="below zero") as exc:
        journal_post(lender=books, reference=ref(), lines=[dr(Acct.FUNDING_COST_EXPENSE, D("1.00")), cr(Acct.CASH, D("1.00"))],
                     actor=None)
    assert exc.value.code == "NEGATIVE_BALANCE"
    assert not JournalEntry.objects.exists()


def test_a_reference_posts_once(books, treasurer):
    first = equity_inject(lender=books, amount=D("500.00"), reference="wire-77", actor=treasurer)
    # The same event retried returns the original entry …
    assert equity_inject(lender=books, amount=D("500.00"), reference="wire-77", actor=treasurer) == first
    # … a different event under the same reference is refused …
    with pytest.raises(DuplicateReference) as exc:
        equity_inject(lender=books, amount=D("501.00"), reference="wire-77", actor=treasurer)
    assert exc.value.existing == first and exc.value.code == "DUPLICATE_REFERENCE"
    # … and the raw posting service refuses any reuse.
    with pytest.raises(DuplicateReference):
        journal_post(lender=books, reference="wire-77", lines=[dr(Acct.CASH, D("1.00")), cr(Acct.PAID_IN_CAPITAL, D("1.00"))],
                     actor=None)
    assert JournalEntry.objects.filter(reference="wire-77").count() == 1
    assert balances_by_code_get(lender=books)[Acct.CASH] == D("500.00")


def test_references_are_per_lender(books, other_lender):
    equity_inject(lender=books, amount=D("1.00"), reference="same", actor=None)
    equity_inject(lender=other_lender, amount=D("2.00"), reference="same", actor=None)
    assert balances_by_code_get(lender=other_lender)[Acct.CASH] == D("2.00")


def test_reversal_mirrors_the_entry_once(books, treasurer):
    entry = equity_inject(lender=books, amount=D("250.00"), reference="oops", actor=treasurer)
    reversal = journal_reverse(entry=entry, reference="oops-rev", actor=treasurer, reason="keyed twice")
    assert reversal.reverses == entry and reversal.kind == "reversal"
    assert balances_by_code_get(lender=books)[Acct.CASH] == 0
    assert journal_reverse(entry=entry, reference="oops-rev", actor=treasurer, reason="retry") == reversal
    with pytest.raises(Conflict, match="already reversed"):
        journal_reverse(entry=entry, reference="oops-rev-2", actor=treasurer, reason="again")
    assert JournalEntry.objects.count() == 2


def test_database_refuses_a_second_reversal_of_an_entry(books, treasurer):
    entry = equity_inject(lender=books, amount=D("250.00"), reference="once", actor=treasurer)
    journal_reverse(entry=entry, reference="once-rev", actor=treasurer, reason="keyed twice")
    with pytest.raises(IntegrityError, match="ledger_entry_reversed_once"), transaction.atomic():  # past the service's check
        JournalEntry.objects.create(lender=books, reference="once-rev-2", business_date=datetime.date.today(),
                                    created_by="x", reverses=entry)


def test_database_refuses_an_entry_unbalanced_in_one_of_its_currencies(books):
    cash = Account.objects.get(lender=books, code=Acct.CASH)
    capital = Account.objects.get(lender=books, code=Acct.PAID_IN_CAPITAL)
    with pytest.raises(DatabaseError, match="unbalanced in USD"), transaction.atomic():
        entry = JournalEntry.objects.create(lender=books, reference="fx", business_date=datetime.date.today(), created_by="x")
        JournalLine.objects.bulk_create([
            JournalLine(entry=entry, account=cash, debit=D("5.00"), currency="CNY"),
            JournalLine(entry=entry, account=capital, credit=D("5.00"), currency="CNY"),
            JournalLine(entry=entry, account=cash, debit=D("3.00"), currency="USD"),
        ])


def test_database_refuses_a_line_added_to_a_posted_entry(books):
    entry = journal_post(lender=books, reference=ref(), actor=None,
                         lines=[dr(Acct.CASH, D("2.00")), cr(Acct.PAID_IN_CAPITAL, D("2.00"))])
    cash = Account.objects.get(lender=books, code=Acct.CASH)
    with pytest.raises(DatabaseError, match="unbalanced in CNY"), transaction.atomic():
        JournalLine.objects.create(entry=entry, account=cash, debit=D("1.00"), currency="CNY")


def test_the_commit_check_finds_an_entry_s_lines_by_key_in_a_journal_analysed_while_empty(books):
    """Planned while the journal was empty (a new book's first postings), the commit-time check must not read the whole
    journal for every entry once it has grown (migration 0017: bench-ledger once fell from 0.78 to 0.30)."""
    cash = Account.objects.get(lender=books, code=Acct.CASH)

    def post_and_check(reference):
        with transaction.atomic():
            equity_inject(lender=books, amount=D("1.00"), reference=reference, actor=None)
            with RowsRead("ledger_journalline") as lines, connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what COMMIT does (the test's transaction stays open)
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        return lines.count

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_journalline")
    for n in range(8):  # the check's plan is made and kept now, past the plan cache's first custom plans
        post_and_check(f"early-{n}")
    with connection.cursor() as cursor:
        cursor.execute("""
            WITH e AS (INSERT INTO ledger_journalentry (lender_id, reference, kind, business_date, description, posted_at,
                                                        created_by)
                       SELECT %s, 'crowd-' || g, 'manual', CURRENT_DATE, 'crowd', now(), 'x' FROM generate_series(1, 3000) g
                       RETURNING id)
            INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency)
            SELECT e.id, %s, v.d, v.c, 'CNY' FROM e CROSS JOIN (VALUES (0.01, 0), (0, 0.01)) AS v(d, c)""",
                       [books.pk, cash.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the crowd's own checks, out of the way
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    assert post_and_check("late") <= 10
