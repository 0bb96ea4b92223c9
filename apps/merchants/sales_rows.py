"""Validating daily-sales rows from a CSV file or an API payload, all or nothing."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from apps.core.rows import amount_parse, count_parse, csv_rows_read, date_parse, required_missing, rows_validate

COLUMNS = ("date", "gross_sales", "order_count", "refunds", "chargebacks")
MAX_ROWS = 5000


@dataclass(frozen=True)
class SalesRow:
    date: datetime.date
    gross_sales: Decimal
    order_count: int
    refunds: Decimal
    chargebacks: Decimal


# Sales older than this are not history the scoring model should see (they would inflate tenure).
MAX_HISTORY = datetime.timedelta(days=10 * 366)


def _row_parse(raw: dict, today: datetime.date, problems: list) -> SalesRow | None:
    if required_missing(raw, COLUMNS, problems):
        return None
    day = date_parse(raw["date"], "date", problems, earliest=today - MAX_HISTORY, latest=today)
    gross = amount_parse(raw["gross_sales"], "gross_sales", problems)
    refunds = amount_parse(raw["refunds"], "refunds", problems)
    chargebacks = amount_parse(raw["chargebacks"], "chargebacks", problems)
    count = count_parse(raw["order_count"], "order_count", problems)
    if not problems and refunds + chargebacks > gross:
        problems.append(("refunds", "refunds plus chargebacks exceed gross sales"))
    if problems:
        return None
    return SalesRow(date=day, gross_sales=gross, order_count=count, refunds=refunds, chargebacks=chargebacks)


def sales_rows_validate(raw_rows: list, *, today: datetime.date, first_row_number: int = 1) -> list[SalesRow]:
    return rows_validate(raw_rows, parse=lambda raw, problems: _row_parse(raw, today, problems), unique_field="date",
                         noun="sales rows", max_rows=MAX_ROWS, code_prefix="SALES",
                         first_row_number=first_row_number)


def sales_csv_read(data: bytes) -> list[dict]:
    """Read a sales CSV (UTF-8, header row naming the columns) into raw row dicts."""
    return csv_rows_read(data, columns=COLUMNS)
