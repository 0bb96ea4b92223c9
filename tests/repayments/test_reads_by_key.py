"""One loan's work reads that loan's rows by key, however big its lender's book.

Plans here depend on statistics (and the SQL functions' plans are generic, made once for any loan), so each test
puts a crowd beside the loan — the benchmark's book of 1,500 loans for the same lender, 300 merchants, 3,000 other
loans' accrual entries — analyses it, and counts the rows one operation reads (this transaction's own counters,
pg_stat_xact_user_tables). Each of these once read the whole lender's journal or every merchant's exposure.
"""

import datetime
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.calendar import business_date_today
from apps.ledger.models import Account, Acct
from apps.repayments import services
from apps.repayments.management.commands.bench_repayments import Command
from apps.repayments.models import Loan
from apps.repayments.selectors import loan_timeline
from tests.helpers import RowsRead

CROWD = 1500
BY_KEY = 40  # rows: what one loan's entries, lines and merchant need, with room; the crowd is 3,000+ entries

_ENTRIES_SQL = """
WITH e AS (
    INSERT INTO ledger_journalentry (lender_id, reference, kind, business_date, description, posted_at, created_by)
    SELECT %(lender)s, 'accrual:' || l || ':' || d, 'accrual', d, 'crowd', now(), 'crowd'
      FROM unnest(%(loans)s::bigint[]) l CROSS JOIN (VALUES (%(d1)s::date), (%(d2)s::date)) AS days(d)
    RETURNING id)
INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency)
SELECT e.id, %(cash)s, v.d, v.c, 'CNY' FROM e CROSS JOIN (VALUES (0.01, 0), (0, 0.01)) AS v(d, c);
ANALYZE;
"""


@pytest.fixture
def loan(db):
    """A loan of a lender with a crowd: the book's other loans have accrual entries of two days each (balanced, no
    money moved)."""
    command = Command()
    command.log = lambda *args: None
    lender, loan_ids = command._book_load(CROWD, slug="crowd")
    today = business_date_today()
    with connection.cursor() as cursor:
        cursor.execute(_ENTRIES_SQL, {"lender": lender.pk, "loans": loan_ids[1:], "d1": today - datetime.timedelta(days=3),
                                      "d2": today - datetime.timedelta(days=2),
                                      "cash": Account.objects.get(lender=lender, code=Acct.CASH).pk})
    return Loan.objects.select_related("merchant__lender").get(pk=loan_ids[0])


def test_the_loan_s_own_accrual_date_and_timeline_read_its_own_entries(loan):
    with RowsRead("ledger_journalentry") as accrued:
        services._books_accrued_through(loan)
    with RowsRead("ledger_journalentry") as timeline:
        loan_timeline(loan=loan)
    assert max(accrued.count, timeline.count) <= BY_KEY


def test_a_general_path_posting_reads_its_own_merchant_s_exposure(loan):
    with RowsRead("ledger_merchantexposure") as exposure:
        services.repayment_post(loan=loan, amount=Decimal("999999.00"), source="portal", reference="payoff", actor="m")
    assert exposure.count <= BY_KEY


def test_a_reversal_reads_its_own_loan_s_entries(loan):
    repayment = services.repayment_post(loan=loan, amount=Decimal("10.00"), source="portal", reference="r", actor="m")
    with RowsRead("ledger_journalentry") as entries:
        services.repayment_reverse(repayment=repayment, actor="t", reason="bounced")
    assert entries.count <= BY_KEY
