"""Validating daily-sales rows from a CSV file or an API payload, all or nothing.

Every row is checked and every problem reported with its row number; if any row is
bad nothing is imported.
"""

import csv
import datetime
import io
from dataclasses import dataclass
from decimal import Decimal

from apps.core.errors import ValidationFailed
from apps.core.money import MAX_AMOUNT, to_decimal

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
    missing = [c for c in COLUMNS if raw.get(c) in (None, "")]
    for column in missing:
        problems.append((column, "is required"))
    if missing:
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


def sales_rows_validate(raw_rows: list[dict], *, today: datetime.date, first_row_number: int = 1) -> list[SalesRow]:
    """Parse every row; raise ValidationFailed listing each bad row's problems."""
    if not raw_rows:
        raise ValidationFailed("There are no sales rows to import.", code="SALES_EMPTY")
    if len(raw_rows) > MAX_ROWS:
        raise ValidationFailed(f"At most {MAX_ROWS} rows per import; got {len(raw_rows)}.", code="SALES_TOO_MANY_ROWS")
    rows, errors, seen = [], [], {}
    for number, raw in enumerate(raw_rows, start=first_row_number):
        problems: list[tuple[str, str]] = []
        if not isinstance(raw, dict):
            errors.append({"row": number, "field": None, "message": "must be an object"})
            continue
        row = _row_parse(raw, today, problems)
        if row is not None and row.date in seen:
            problems.append(("date", f"{row.date} already appears on row {seen[row.date]}"))
        errors += [{"row": number, "field": f, "message": m} for f, m in problems]
        if row is not None and not problems:
            seen[row.date] = number
            rows.append(row)
    if errors:
        bad_rows = len({e["row"] for e in errors})
        raise ValidationFailed(
            f"{bad_rows} row(s) have problems; nothing was imported.", code="SALES_ROWS_INVALID", errors=errors
        )
    return rows


def sales_csv_read(data: bytes) -> list[dict]:
    """Read a sales CSV (UTF-8, header row naming the columns) into raw row dicts."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The file is not UTF-8 text; save it as CSV (UTF-8).", code="CSV_NOT_TEXT") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValidationFailed(
            f"The header row must name the columns {', '.join(COLUMNS)}; missing: {', '.join(missing)}.",
            code="CSV_BAD_HEADER",
        )
    reader.fieldnames = header
    return [{k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k in COLUMNS} for row in reader]
