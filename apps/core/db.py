"""Database access the ORM does not give: statements prepared on the server, for the hot paths."""

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections


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
    __cause__). The connection keeps one preparing cursor, reused from call to call. While Django logs queries
    (DEBUG, assertNumQueries) the statement goes through Django's logging cursor wrapper and is counted like any
    other; otherwise it skips that layer, which costs a hot path as much as the client side of the call itself.
    """
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    cursor = db.__dict__.get("_preparing_cursor")
    if cursor is None or cursor.closed or cursor.connection is not db.connection:
        cursor = db._preparing_cursor = _PreparingCursor(db.connection)
    if db.queries_logged or db.execute_wrappers:
        db._prepare_cursor(cursor).execute(sql, params)
    else:
        db.validate_thread_sharing()
        db.validate_no_broken_transaction()
        with db.wrap_database_errors:
            cursor.execute(sql, params)
    return cursor.fetchall()
