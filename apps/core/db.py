"""Database access the ORM does not give: statements prepared on the server, for the hot paths."""

import datetime
import hashlib
import re
from decimal import Decimal
from functools import lru_cache

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import errors, pq
from psycopg.adapt import Transformer


class _PreparingCursor(psycopg.Cursor):
    """Binds parameters on the server and prepares every statement it runs (psycopg 3), so that a hot-path statement
    is parsed and planned once per connection; values travel in binary, which neither side has to parse or format.
    Django's own cursors bind client-side, which cannot prepare (and settings give the connection the
    prepare_threshold without which psycopg prepares nothing)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True if prepare is None else prepare,
                               binary=True if binary is None else binary)


def prepared_fetchall(sql: str, params) -> list[tuple]:
    """Run one statement prepared on this thread's connection and return its rows.

    Errors are translated as Django translates its own (django.db.DatabaseError and kin, the driver's error as
    __cause__). A statement that is its own transaction goes to libpq in one call (_LibpqStatements); inside a
    transaction, and for parameters that call does not take, the connection's one preparing cursor runs it. While
    Django logs queries (DEBUG, assertNumQueries) the statement goes through Django's logging cursor wrapper and is
    counted like any other.
    """
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    if db.queries_logged or db.execute_wrappers:
        cursor = db._prepare_cursor(_preparing_cursor(db))
        cursor.execute(sql, params)
        return cursor.fetchall()
    db.validate_thread_sharing()
    db.validate_no_broken_transaction()
    conn = db.connection
    with db.wrap_database_errors:
        if conn.autocommit and conn.pgconn.transaction_status == pq.TransactionStatus.IDLE:
            values = _text_values(params)
            if values is not None:
                return _libpq_statements(db).fetchall(sql, values)
        cursor = _preparing_cursor(db)
        cursor.execute(sql, params)
        return cursor.fetchall()


def _preparing_cursor(db) -> _PreparingCursor:
    cursor = db.__dict__.get("_preparing_cursor")
    if cursor is None or cursor.closed or cursor.connection is not db.connection:
        cursor = db._preparing_cursor = _PreparingCursor(db.connection)
    return cursor


def _libpq_statements(db) -> "_LibpqStatements":
    statements = db.__dict__.get("_libpq_statements")
    if statements is None or statements.conn is not db.connection:
        statements = db._libpq_statements = _LibpqStatements(db.connection)
    return statements


class _LibpqStatements:
    """The hot statements prepared on one connection, each run by one blocking libpq call (PQexecPrepared, the GIL
    released), parameters as text and rows in binary, read by psycopg's own loaders.

    A hot call's client side cost as much CPU as its server side when it went through psycopg's cursor, whose
    generality (query conversion, adaptation by type, its state machine) is most of the difference; the types
    _text_values takes need none of it. Rows are typed exactly as the cursor types them.
    """

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.prepared: set[bytes] = set()
        self.loader = Transformer(conn)

    def fetchall(self, sql: str, values: list[bytes | None]) -> list[tuple]:
        """Rows of a statement that is its own transaction (so that a failed call leaves nothing to roll back)."""
        name, numbered = _numbered(sql)
        pgconn = self.conn.pgconn
        for prepared in (name in self.prepared, False):
            if not prepared:
                self._check(pgconn.prepare(name, numbered))
                self.prepared.add(name)
            result = pgconn.exec_prepared(name, values, result_format=pq.Format.BINARY)
            # psycopg deallocates every prepared statement, ours too, after a ROLLBACK, DROP or ALTER: prepare again.
            if not (prepared and result.error_field(pq.DiagnosticField.SQLSTATE) == _NO_SUCH_STATEMENT):
                break
        self.loader.set_pgresult(self._check(result))
        return self.loader.load_rows(0, result.ntuples, tuple)

    @staticmethod
    def _check(result: pq.abc.PGresult) -> pq.abc.PGresult:
        if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
            raise errors.error_from_result(result, encoding="utf-8")  # Django connects with client_encoding UTF8
        return result


_NO_SUCH_STATEMENT = errors.InvalidSqlStatementName.sqlstate.encode()
_TEXT = {int: str, Decimal: str, datetime.date: datetime.date.isoformat}


def _text_values(params) -> list[bytes | None] | None:
    """Each parameter as PostgreSQL reads it in text, or None when one is of a type left to psycopg's adaptation
    (or they come by name). The statement fixes their types, by casts or by the function it calls."""
    if not isinstance(params, (list, tuple)):
        return None
    values = []
    for value in params:
        if value is None:
            values.append(None)
        elif isinstance(value, str):
            if "\x00" in value:  # libpq reads a text parameter up to its first NUL; psycopg refuses it
                return None
            values.append(value.encode())
        elif (text := _TEXT.get(type(value))) is not None:
            values.append(text(value).encode())
        else:
            return None
    return values


@lru_cache(maxsize=64)
def _numbered(sql: str) -> tuple[bytes, bytes]:
    """The statement's name on the server and its text with %s as $1, $2, … (%% as %)."""
    count = 0

    def number(match: re.Match) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%"
        count += 1
        return f"${count}"

    numbered = re.sub(r"%%|%s", number, sql)
    return f"orderfin_{hashlib.sha1(numbered.encode()).hexdigest()[:16]}".encode(), numbered.encode()
