"""prepared_fetchall: a statement that is its own transaction goes to libpq in one call; inside a transaction, or
with a parameter libpq is not given as text, psycopg's preparing cursor runs it. Either way the same rows, the same
errors, and the statement is prepared once per connection."""

import datetime
from decimal import Decimal

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.core import db
from apps.core.db import prepared_fetchall
from tests.helpers import libpq_calls

pytestmark = pytest.mark.django_db(transaction=True)  # outside a transaction is the case under test

TYPED = ("SELECT %s::bigint, %s::numeric, %s::date, %s::text, %s::bigint IS NULL, '100%%'::text, "
         "'2026-12-04 10:11:03.5+08'::timestamptz, NULL::numeric")
PARAMS = [9007199254740993, Decimal("12345678901.25"), datetime.date(2026, 2, 28), "payé ✓", None]


def test_a_statement_of_its_own_reads_exactly_as_psycopg_s_cursor_reads_it():
    with libpq_calls() as libpq:
        alone = prepared_fetchall(TYPED, PARAMS)
        with transaction.atomic():
            inside = prepared_fetchall(TYPED, PARAMS)
    assert libpq.call_count == 1  # the first; the one inside the transaction went through the cursor
    assert alone == inside == [(9007199254740993, Decimal("12345678901.25"), datetime.date(2026, 2, 28), "payé ✓", True,
                                "100%", datetime.datetime(2026, 12, 4, 2, 11, 3, 500000, tzinfo=datetime.UTC), None)]
    assert [type(value) for value in alone[0]] == [type(value) for value in inside[0]]


def _prepared_here() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'orderfin_%%' ORDER BY name")
        return [name for (name,) in cursor.fetchall()]


def test_it_is_prepared_once_per_connection():
    prepared_fetchall(TYPED, PARAMS)
    before = _prepared_here()
    for _ in range(3):
        prepared_fetchall(TYPED, PARAMS)
    assert _prepared_here() == before and db._numbered(TYPED)[0].decode() in before


def test_a_statement_psycopg_deallocated_is_prepared_again():
    """psycopg sends DEALLOCATE ALL after a ROLLBACK, DROP or ALTER, which takes ours too."""
    assert prepared_fetchall("SELECT %s::int + 1", [1]) == [(2,)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert prepared_fetchall("SELECT %s::int + 1", [2]) == [(3,)]


def test_an_error_arrives_as_django_s_with_the_server_s_diagnostics_and_leaves_the_connection_usable():
    with pytest.raises(DataError) as refused:
        prepared_fetchall("SELECT 1 / %s::int", [0])
    assert refused.value.__cause__.diag.message_primary == "division by zero"
    assert prepared_fetchall("SELECT 1 / %s::int", [1]) == [(1,)]


def test_inside_a_transaction_the_statement_is_part_of_it():
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text")
            xact = cursor.fetchone()[0]
        assert prepared_fetchall("SELECT pg_current_xact_id()::text", []) == [(xact,)]


def test_a_parameter_not_given_as_text_goes_through_psycopg():
    moment = datetime.datetime(2026, 12, 4, 10, 0, tzinfo=datetime.UTC)
    with libpq_calls() as libpq:
        assert prepared_fetchall("SELECT %s::timestamptz, %s::boolean", [moment, True]) == [(moment, True)]
    assert libpq.call_count == 0


def test_a_text_with_a_nul_is_refused_not_cut_short():
    with pytest.raises(DataError):
        prepared_fetchall("SELECT %s::text", ["ref\x00-tail"])


def test_while_django_logs_queries_the_statement_is_counted():
    with CaptureQueriesContext(connection) as captured:
        assert prepared_fetchall("SELECT %s::int", [7]) == [(7,)]
    assert len(captured) == 1
