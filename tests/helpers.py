"""Small builders the tests share."""

import io

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\0" * 64


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)


def sales_csv(rows: list[str], header: str = "date,gross_sales,order_count,refunds,chargebacks") -> io.BytesIO:
    data = io.BytesIO(("\n".join([header, *rows]) + "\n").encode())
    data.name = "sales.csv"
    return data


def rows_read(table: str) -> int:
    """Rows this transaction has read from a table (its own counters): a test holds one operation's reads to its keys."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0) FROM pg_stat_xact_user_tables"
                       " WHERE relname = %s", [table])
        return cursor.fetchone()[0]


class RowsRead:
    """The rows a block reads from a table, in .count after it: `with RowsRead("t") as reads: …`."""

    def __init__(self, table: str):
        self.table = table

    def __enter__(self):
        self.before = rows_read(self.table)
        return self

    def __exit__(self, *exc):
        self.count = rows_read(self.table) - self.before


def balance_slices(lender, code) -> list:
    """An account's base-currency balance slices, in slice order (ledger migration 0016)."""
    from apps.ledger.models import AccountBalance

    rows = AccountBalance.objects.filter(account__lender=lender, account__code=code, currency=lender.base_currency)
    return [balance for _, balance in sorted(rows.values_list("slice", "balance"))]


def libpq_calls():
    """A spy on the statements prepared_fetchall sends to libpq in one call (apps.core.db), which still run."""
    from unittest import mock

    from apps.core.db import _LibpqStatements

    return mock.patch.object(_LibpqStatements, "fetchall", autospec=True, side_effect=_LibpqStatements.fetchall)
