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
from apps.repayments.apr import apr_irr, schedule_cash_flows

MONTHLY_METHODS = {
    "equal_installment": schedules.schedule_equal_installment,
    "equal_principal": schedules.schedule_equal_principal,
    "interest_only": schedules.schedule_interest_only,
}
METHODS = [*MONTHLY_METHODS, "bullet"]


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


def quote(*, method, principal, annual_rate, start, term_months=None, maturity=None, day_count=None) -> dict:
    """The quote as the --json output shows it: amounts and the APR as decimal strings."""
    if method == "bullet":
        if maturity is None:
            if term_months is None:
                raise CommandError("bullet needs --term-months or --maturity")
            if not 1 <= term_months <= schedules.MAX_TERM_MONTHS:
                raise CommandError(f"--term-months must be from 1 to {schedules.MAX_TERM_MONTHS}, not {term_months}")
            maturity = schedules.add_months(start, term_months)
        build = dict(maturity=maturity, day_count=day_count or "ACT/360")
        method_fn = schedules.schedule_bullet
    else:
        if term_months is None:
            raise CommandError(f"{method} needs --term-months")
        if maturity is not None or day_count is not None:
            raise CommandError("--maturity and --day-count apply only to --method bullet "
                               "(monthly methods use the periodic rate annual ÷ 12)")
        build = dict(term_months=term_months)
        method_fn = MONTHLY_METHODS[method]
    try:
        rows = method_fn(principal=principal, annual_rate=annual_rate, start=start, **build)
        apr = apr_irr(schedule_cash_flows(principal, start, rows))
    except ValidationFailed as exc:
        raise CommandError(exc.message) from exc
    return {
        "installments": [{"due_date": row.due_date.isoformat(), "principal": str(row.principal),
                          "interest": str(row.interest), "total": str(row.total)} for row in rows],
        "total_principal": str(sum(row.principal for row in rows)),
        "total_interest": str(sum(row.interest for row in rows)),
        "apr": str(apr),
    }


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
        result = quote(
            method=options["method"],
            principal=_decimal(options["principal"], "--principal"),
            annual_rate=_decimal(options["annual_rate"], "--annual-rate"),
            start=_date(options["start"], "--start"),
            term_months=options["term_months"],
            maturity=_date(options["maturity"], "--maturity") if options["maturity"] else None,
            day_count=options["day_count"],
        )
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
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
