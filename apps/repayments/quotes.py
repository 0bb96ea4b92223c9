"""Loan quotes: a schedule by method and its APR, shared by `loan_quote` and the calculators."""

from apps.core.errors import ValidationFailed
from apps.repayments import schedules
from apps.repayments.apr import apr_irr, schedule_cash_flows

MONTHLY_METHODS = {
    "equal_installment": schedules.schedule_equal_installment,
    "equal_principal": schedules.schedule_equal_principal,
    "interest_only": schedules.schedule_interest_only,
}
METHODS = [*MONTHLY_METHODS, "bullet"]
PAST_THE_CALENDAR = ("A loan starting then would fall due after the last date the calendar holds (31 December 9999); "
                     "choose an earlier start.")


def quote(*, method, principal, annual_rate, start, term_months=None, maturity=None, day_count=None) -> dict:
    """The quote as the --json output shows it: amounts and the APR as decimal strings."""
    try:
        return _quote(method=method, principal=principal, annual_rate=annual_rate, start=start, term_months=term_months,
                      maturity=maturity, day_count=day_count)
    except (ValueError, OverflowError) as exc:  # a due date past what the calendar holds (the forms check it first)
        raise ValidationFailed(PAST_THE_CALENDAR) from exc


def _quote(*, method, principal, annual_rate, start, term_months, maturity, day_count) -> dict:
    if method == "bullet":
        if maturity is None:
            if term_months is None:
                raise ValidationFailed("A bullet loan needs a term in months or a maturity date.")
            if not 1 <= term_months <= schedules.MAX_TERM_MONTHS:
                raise ValidationFailed(f"The term must be from 1 to {schedules.MAX_TERM_MONTHS} months, not {term_months}.")
            maturity = schedules.add_months(start, term_months)
        build = dict(maturity=maturity, day_count=day_count or "ACT/360")
        method_fn = schedules.schedule_bullet
    else:
        if term_months is None:
            raise ValidationFailed(f"The {method.replace('_', ' ')} method needs a term in months.")
        if maturity is not None or day_count is not None:
            raise ValidationFailed("A maturity date and day count apply only to bullet loans "
                                   "(monthly methods use the periodic rate annual ÷ 12).")
        build = dict(term_months=term_months)
        method_fn = MONTHLY_METHODS[method]
    rows = method_fn(principal=principal, annual_rate=annual_rate, start=start, **build)
    apr = apr_irr(schedule_cash_flows(principal, start, rows))
    return {
        "installments": [{"due_date": row.due_date.isoformat(), "principal": str(row.principal),
                          "interest": str(row.interest), "total": str(row.total)} for row in rows],
        "total_principal": str(sum(row.principal for row in rows)),
        "total_interest": str(sum(row.interest for row in rows)),
        "apr": str(apr),
    }
