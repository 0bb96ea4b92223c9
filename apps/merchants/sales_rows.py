"""Validating daily-sales rows from a CSV file or an API payload, all or nothing."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from apps.core.money import MAX_AMOUNT, to_decimal
from apps.core.rows import csv_rows_read, required_missing, rows_validate

COLUMNS = ("date", "gross_sales", "order_count", "refunds", "chargebacks")
MAX_ROWS = 5000


@dataclass(frozen=True)
class SalesRow:
    date: datetime.date
    gross_sales: Decimal
    order_count: int
    refunds: Decimal
    chargebacks: Decimal


def _amount(raw, field, problems):
    try:
        value = to_decimal(raw)
    except (TypeError, ValueError):
        problems.append((field, f"{raw!r} is not an amount"))
        return None
    if value < 0:
        problems.append((field, f"{value} is negative"))
    elif value > MAX_AMOUNT:
        problems.append((field, f"{value} is larger than any plausible amount"))
    elif value != value.quantize(Decimal("0.01")):
        problems.append((field, f"{value} has more than 2 decimal places"))
    return value


def _row_parse(raw: dict, today: datetime.date, problems: list) -> SalesRow | None:
    if required_missing(raw, COLUMNS, problems):
        return None
    try:
        day = datetime.date.fromisoformat(str(raw["date"]).strip())
        if day > today:
            problems.append(("date", f"{day} is in the future"))
    except ValueError:
        problems.append(("date", f"{raw['date']!r} is not a date (YYYY-MM-DD)"))
        day = None
    gross = _amount(raw["gross_sales"], "gross_sales", problems)
    refunds = _amount(raw["refunds"], "refunds", problems)
    chargebacks = _amount(raw["chargebacks"], "chargebacks", problems)
    try:
        count = int(str(raw["order_count"]).strip())
        if count < 0:
            problems.append(("order_count", f"{count} is negative"))
    except ValueError:
        problems.append(("order_count", f"{raw['order_count']!r} is not a whole number"))
        count = None
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
