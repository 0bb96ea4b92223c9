"""`loan_quote`: a repayment schedule and its APR, from the command line.

    python manage.py loan_quote --method equal_installment --principal 100000.00 \\
        --annual-rate 0.1200 --term-months 12 --start 2026-01-15 --json
"""

import datetime
import json

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ValidationFailed
from apps.core.money import to_decimal
from apps.repayments import schedules
from apps.repayments.quotes import METHODS, quote


def _date(value: str, flag: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{flag} must be a date as YYYY-MM-DD, not {value!r}") from exc


def _decimal(value: str, flag: str):
    try:
        return to_decimal(value)
    except ValueError as exc:
        raise CommandError(f"{flag} must be a decimal number, not {value!r}") from exc


class Command(BaseCommand):
    help = "Print a loan's repayment schedule and APR (amounts as decimal strings with --json)."

    def add_arguments(self, parser):
        parser.add_argument("--method", required=True, choices=METHODS)
        parser.add_argument("--principal", required=True, help="e.g. 100000.00")
        parser.add_argument("--annual-rate", required=True, help="a fraction: 0.1200 is 12%%")
        parser.add_argument("--term-months", type=int, help="monthly methods; for bullet, maturity = start + term")
        parser.add_argument("--start", required=True, help="YYYY-MM-DD")
        parser.add_argument("--maturity", help="bullet only: YYYY-MM-DD (default start + --term-months)")
        parser.add_argument("--day-count", choices=list(schedules.DAY_COUNTS), help="bullet only (default ACT/360)")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, **options):
        try:
            result = self._quote(options)
        except ValidationFailed as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self._print(result)

    def _quote(self, options) -> dict:
        return quote(
            method=options["method"],
            principal=_decimal(options["principal"], "--principal"),
            annual_rate=_decimal(options["annual_rate"], "--annual-rate"),
            start=_date(options["start"], "--start"),
            term_months=options["term_months"],
            maturity=_date(options["maturity"], "--maturity") if options["maturity"] else None,
            day_count=options["day_count"],
        )

    def _print(self, result: dict) -> None:
        total = to_decimal(result["total_principal"]) + to_decimal(result["total_interest"])
        lines = [("#", "due date", "principal", "interest", "total")]
        lines += [(str(n), row["due_date"], row["principal"], row["interest"], row["total"])
                  for n, row in enumerate(result["installments"], 1)]
        lines.append(("", "total", result["total_principal"], result["total_interest"], str(total)))
        widths = [max(len(line[col]) for line in lines) for col in range(5)]
        for line in lines:
            self.stdout.write("  ".join(cell.ljust(w) if col == 1 else cell.rjust(w)
                                        for col, (cell, w) in enumerate(zip(line, widths, strict=True))))
        self.stdout.write(f"APR (annual effective, XIRR): {result['apr']}")
