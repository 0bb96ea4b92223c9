"""Pricing an application by its product: the offer's schedule, cost and APR.

Never an upfront deduction: the merchant receives the full principal, and interest (and the
advance's flat fee) are paid with the installments. The annual rate comes from the financing
policy by risk grade; everything else about the shape of the loan comes from the product.
"""

import datetime
from decimal import Decimal

from apps.core.money import quantize, to_decimal
from apps.repayments.apr import apr_irr, schedule_cash_flows
from apps.repayments.quotes import MONTHLY_METHODS
from apps.repayments.schedules import schedule_bullet

from .models import DEFAULT_ANNUAL_RATES, FinancingApplication

ZERO = Decimal("0.00")


def annual_rate_for(*, policy, grade: str) -> Decimal:
    return to_decimal((policy.annual_rates or DEFAULT_ANNUAL_RATES).get(grade, DEFAULT_ANNUAL_RATES[grade]))


def offer_terms_price(*, application: FinancingApplication, policy, as_of: datetime.date) -> dict:
    """The offer's terms (without its expiry): principal, rate, interest, fee, APR, dates and schedule rows."""
    product = application.product
    annual_rate = annual_rate_for(policy=policy, grade=application.merchant.risk_grade or "E")
    if product.is_term_loan:
        return _term_loan(application, product, annual_rate, as_of)
    return _presale_advance(application, product, annual_rate, as_of)


def offer_terms_from(*, application: FinancingApplication, offer, on: datetime.date) -> dict:
    """The accepted offer's terms as they run from `on`, the day the money goes out.

    A disbursement can wait days after the offer (cash short, a partner bank yet to take its share); the loan
    must not charge for the days before it. From a later day the offer is priced again at its own rate: a term loan
    runs its months from `on`; an advance still falls due at its orders' latest settlement plus grace, and its fee,
    which accrues over the advance's days as interest does, is the offer's for each of the days left.
    """
    keys = ("annual_rate", "day_count", "interest", "fee", "total_cost", "apr", "start_date", "maturity_date", "schedule")
    if on <= offer.start_date:
        return {key: getattr(offer, key) for key in keys}
    product = application.product
    if product.is_term_loan:
        return _term_loan(application, product, offer.annual_rate, on)
    days_left = (_advance_maturity(application, product, on) - on).days
    fee = min(offer.fee, quantize(offer.fee * days_left / (offer.maturity_date - offer.start_date).days))
    return _presale_advance(application, product, offer.annual_rate, on, fee=fee)


def _advance_maturity(application, product, as_of: datetime.date) -> datetime.date:
    latest = max(o.expected_settlement_date for o in application.orders.all())
    return max(latest, as_of + datetime.timedelta(days=1)) + datetime.timedelta(days=product.grace_days)


def _presale_advance(application, product, annual_rate: Decimal, as_of: datetime.date, fee: Decimal | None = None) -> dict:
    """A bullet at the latest expected settlement of the pledged orders plus the product's grace days."""
    maturity = _advance_maturity(application, product, as_of)
    (installment,) = schedule_bullet(principal=application.amount, annual_rate=annual_rate, start=as_of,
                                     maturity=maturity, day_count=product.day_count)
    fee = quantize(application.amount * product.fee_rate) if fee is None else fee
    repay = installment.total + fee  # the fee is paid at maturity, never deducted from the principal
    return {
        "principal": application.amount, "annual_rate": annual_rate, "day_count": product.day_count,
        "interest": installment.interest, "fee": fee, "total_cost": installment.interest + fee,
        "apr": apr_irr([(as_of, application.amount), (maturity, -repay)]), "start_date": as_of, "maturity_date": maturity,
        "schedule": [{"due_date": str(maturity), "principal": str(installment.principal),
                      "interest": str(installment.interest), "fee": str(fee), "total": str(repay)}],
    }


def _term_loan(application, product, annual_rate: Decimal, as_of: datetime.date) -> dict:
    """Monthly installments by the product's method over the term the merchant chose, from today."""
    rows = MONTHLY_METHODS[product.method](principal=application.amount, annual_rate=annual_rate,
                                          term_months=application.term_months, start=as_of)
    interest = sum((row.interest for row in rows), ZERO)
    return {
        "principal": application.amount, "annual_rate": annual_rate, "day_count": product.day_count,
        "interest": interest, "fee": ZERO, "total_cost": interest,
        "apr": apr_irr(schedule_cash_flows(application.amount, as_of, rows)), "start_date": as_of,
        "maturity_date": rows[-1].due_date,
        "schedule": [{"due_date": str(row.due_date), "principal": str(row.principal), "interest": str(row.interest),
                      "fee": "0.00", "total": str(row.total)} for row in rows],
    }
