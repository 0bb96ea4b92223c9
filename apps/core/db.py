"""Database access the ORM does not give: statements prepared on the server."""

import psycopg
from django.db import connection


class _PreparingCursor(psycopg.Cursor):
    """Binds parameters on the server and prepares every statement it runs (psycopg 3), so that a hot-path statement
    is parsed and planned once per connection; values travel in binary, which neither side has to parse or format.
    Django's own cursors bind client-side, which cannot prepare."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True if prepare is None else prepare,
                               binary=True if binary is None else binary)


def prepared_cursor():
    """A preparing cursor wrapped as Django wraps its own: database errors translated, queries counted and logged."""
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(_PreparingCursor(connection.connection))
