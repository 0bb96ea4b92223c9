"""All-or-nothing import of tabular rows (CSV files and API batches).

Every row is parsed and every problem reported with its row number and field; if any
row is bad, nothing is imported.
"""

import csv
import datetime
import io
from collections.abc import Callable
from decimal import Decimal

from .errors import ValidationFailed
from .money import CENT, MAX_AMOUNT, to_decimal


def csv_rows_read(data: bytes, *, columns: tuple[str, ...]) -> list[dict]:
    """Read a UTF-8 CSV whose header names `columns` into raw row dicts."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The file is not UTF-8 text; save it as CSV (UTF-8).", code="CSV_NOT_TEXT") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValidationFailed(
            f"The header row must name the columns {', '.join(columns)}; missing: {', '.join(missing)}.",
            code="CSV_BAD_HEADER",
        )
    reader.fieldnames = header
    return [{k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k in columns} for row in reader]


def rows_validate(
    raw_rows: list, *, parse: Callable[[dict, list], object], unique_field: str, noun: str, max_rows: int,
    code_prefix: str, first_row_number: int = 1,
) -> list:
    """Parse each raw row with `parse(raw, problems)`; `unique_field` may appear once per import.

    Raises ValidationFailed (codes <PREFIX>_EMPTY, <PREFIX>_TOO_MANY_ROWS, <PREFIX>_ROWS_INVALID)
    with `errors=[{"row", "field", "message"}, …]` if any row is bad.
    """
    if not raw_rows:
        raise ValidationFailed(f"There are no {noun} to import.", code=f"{code_prefix}_EMPTY")
    if len(raw_rows) > max_rows:
        raise ValidationFailed(f"At most {max_rows} {noun} per import; got {len(raw_rows)}.", code=f"{code_prefix}_TOO_MANY_ROWS")
    rows, errors, seen = [], [], {}
    for number, raw in enumerate(raw_rows, start=first_row_number):
        if not isinstance(raw, dict):
            errors.append({"row": number, "field": None, "message": "must be an object"})
            continue
        problems: list[tuple[str, str]] = []
        row = parse(raw, problems)
        key = getattr(row, unique_field, None)
        if row is not None and key in seen:
            problems.append((unique_field, f"{key} already appears on row {seen[key]}"))
        errors += [{"row": number, "field": f, "message": m} for f, m in problems]
        if row is not None and not problems:
            seen[key] = number
            rows.append(row)
    if errors:
        bad_rows = len({e["row"] for e in errors})
        raise ValidationFailed(f"{bad_rows} row(s) have problems; nothing was imported.", code=f"{code_prefix}_ROWS_INVALID",
                               errors=errors)
    return rows


def required_missing(raw: dict, columns: tuple[str, ...], problems: list) -> bool:
    missing = [c for c in columns if raw.get(c) in (None, "")]
    problems += [(c, "is required") for c in missing]
    return bool(missing)


def amount_parse(raw, field: str, problems: list, *, positive: bool = False) -> Decimal | None:
    """A money amount in cents: decimal strings (or integers), never floats."""
    if isinstance(raw, float):
        problems.append((field, f'{raw!r} must be sent as a string, e.g. "{raw:.2f}", so no precision is lost'))
        return None
    try:
        value = to_decimal(raw)
    except (TypeError, ValueError):
        problems.append((field, f"{raw!r} is not an amount"))
        return None
    if positive and value <= 0:
        problems.append((field, f"{value} must be greater than zero"))
    elif value < 0:
        problems.append((field, f"{value} is negative"))
    elif value > MAX_AMOUNT:
        problems.append((field, f"{value} is larger than any plausible amount"))
    elif value != value.quantize(CENT):
        problems.append((field, f"{value} has more than 2 decimal places"))
    return value


def date_parse(raw, field: str, problems: list, *, earliest: datetime.date | None = None,
               latest: datetime.date | None = None) -> datetime.date | None:
    """An ISO date (YYYY-MM-DD) within [earliest, latest] when given."""
    text = str(raw).strip()
    try:
        if len(text) != 10:
            raise ValueError
        value = datetime.date.fromisoformat(text)
    except ValueError:
        problems.append((field, f"{raw!r} is not a date (YYYY-MM-DD)"))
        return None
    if latest and value > latest:
        problems.append((field, f"{value} is in the future"))
    elif earliest and value < earliest:
        problems.append((field, f"{value} is before {earliest}, too far back to be plausible"))
    return value


def count_parse(raw, field: str, problems: list, *, maximum: int = 2_147_483_647) -> int | None:
    """A whole, non-negative count that fits the database column."""
    text = str(raw).strip()
    digits = text.lstrip("-")
    if isinstance(raw, float) or not (digits.isascii() and digits.isdigit()):  # not "²", which int() refuses
        problems.append((field, f"{raw!r} is not a whole number"))
        return None
    value = int(text)
    if value < 0:
        problems.append((field, f"{value} is negative"))
    elif value > maximum:
        problems.append((field, f"{value} is larger than any plausible count"))
    return value
