"""Validating pre-sale orders from the API or a CSV file, all or nothing, row by row."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.rows import amount_parse, csv_rows_read, date_parse, required_missing, rows_validate

COLUMNS = ("external_id", "buyer_id", "amount", "paid_amount", "currency", "paid_at",
           "expected_ship_date", "expected_settlement_date")
MAX_ROWS = 5000


@dataclass(frozen=True)
class OrderRow:
    external_id: str
    buyer_id: str
    amount: Decimal
    paid_amount: Decimal
    currency: str
    paid_at: datetime.datetime
    expected_ship_date: datetime.date
    expected_settlement_date: datetime.date


def _text(raw, field, problems, max_length=64):
    value = str(raw).strip()
    if len(value) > max_length:
        problems.append((field, f"is longer than {max_length} characters"))
    return value


def _order_parse(raw: dict, currency: str, now: datetime.datetime, problems: list) -> OrderRow | None:
    if required_missing(raw, COLUMNS, problems):
        return None
    paid_at = parse_datetime(str(raw["paid_at"]).strip()) if isinstance(raw["paid_at"], str) else None
    if paid_at is None:
        problems.append(("paid_at", f"{raw['paid_at']!r} is not a date-time (ISO 8601)"))
    elif timezone.is_naive(paid_at):
        problems.append(("paid_at", "must include a time zone offset, e.g. 2026-11-01T10:00:00+08:00"))
    elif paid_at > now:
        problems.append(("paid_at", f"{paid_at.isoformat()} is in the future"))
    row = dict(
        external_id=_text(raw["external_id"], "external_id", problems),
        buyer_id=_text(raw["buyer_id"], "buyer_id", problems),
        amount=amount_parse(raw["amount"], "amount", problems, positive=True),
        paid_amount=amount_parse(raw["paid_amount"], "paid_amount", problems, positive=True),
        currency=str(raw["currency"]).strip().upper(),
        paid_at=paid_at,
        expected_ship_date=date_parse(raw["expected_ship_date"], "expected_ship_date", problems),
        expected_settlement_date=date_parse(raw["expected_settlement_date"], "expected_settlement_date", problems),
    )
    if row["currency"] != currency:
        problems.append(("currency", f"{row['currency']} is not accepted; orders must be in {currency}"))
    if problems:
        return None
    if row["paid_amount"] > row["amount"]:
        problems.append(("paid_amount", f"{row['paid_amount']} is more than the order amount {row['amount']}"))
    if row["expected_settlement_date"] < row["expected_ship_date"]:
        problems.append(("expected_settlement_date", "is before the expected ship date"))
    return None if problems else OrderRow(**row)


def order_rows_validate(raw_rows: list, *, currency: str, first_row_number: int = 1) -> list[OrderRow]:
    now = timezone.now()
    return rows_validate(raw_rows, parse=lambda raw, problems: _order_parse(raw, currency, now, problems),
                         unique_field="external_id", noun="orders", max_rows=MAX_ROWS, code_prefix="ORDER",
                         first_row_number=first_row_number)


def orders_csv_read(data: bytes) -> list[dict]:
    return csv_rows_read(data, columns=COLUMNS)
