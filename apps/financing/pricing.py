"""Pricing an application by its product: the offer's schedule, cost and APR.

Never an upfront deduction: the merchant receives the full principal, and interest (and the
advance's flat fee) are paid with the installments. The annual rate comes from the financing
policy by risk grade; everything else about the shape of the loan comes from the product.
"""

import datetime
from decimal import Decimal

from apps.core.errors import DomainError
from apps.core.money import quantize, to_decimal
from apps.repayments.apr import apr_irr, schedule_cash_flows
from apps.repayments.quotes import MONTHLY_METHODS
from apps.repayments.schedules import add_months, schedule_bullet

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
    must not charge for the days before it. So from a later day the contract is kept and only re-dated, whatever
    the product has become since: a term loan's installments keep their amounts (a monthly schedule's figures do
    not depend on its dates) and fall due month by month from `on`; an advance keeps its maturity and day count,
    its interest runs from `on`, and its fee, which accrues over the advance's days as interest does, is the
    offer's for each of the days left.
    """
    keys = ("annual_rate", "day_count", "interest", "fee", "total_cost", "apr", "start_date", "maturity_date", "schedule")
    terms = {key: getattr(offer, key) for key in keys}
    if on <= offer.start_date:
        return terms
    if on >= offer.maturity_date:
        raise DomainError(f"This offer fell due on {offer.maturity_date.isoformat()}; it can no longer be disbursed.",
                          code="OFFER_LAPSED")
    if application.product.is_term_loan:
        rows = [(add_months(on, n), row) for n, row in enumerate(offer.schedule, start=1)]  # (new due date, row)
        flows = [(on, offer.principal)] + [(due, -to_decimal(row["total"])) for due, row in rows]
        return {**terms, "apr": apr_irr(flows), "start_date": on, "maturity_date": rows[-1][0],
                "schedule": [{**row, "due_date": str(due)} for due, row in rows]}
    days, offered_days = (offer.maturity_date - on).days, (offer.maturity_date - offer.start_date).days
    fee = min(offer.fee, quantize(offer.fee * days / offered_days))
    return _bullet_terms(principal=offer.principal, annual_rate=offer.annual_rate, day_count=offer.day_count, start=on,
                         maturity=offer.maturity_date, fee=fee)


def _presale_advance(application, product, annual_rate: Decimal, as_of: datetime.date) -> dict:
    """A bullet at the latest expected settlement of the pledged orders plus the product's grace days."""
    latest = max(o.expected_settlement_date for o in application.orders.all())
    maturity = max(latest, as_of + datetime.timedelta(days=1)) + datetime.timedelta(days=product.grace_days)
    return _bullet_terms(principal=application.amount, annual_rate=annual_rate, day_count=product.day_count, start=as_of,
                         maturity=maturity, fee=quantize(application.amount * product.fee_rate))


def _bullet_terms(*, principal, annual_rate, day_count, start, maturity, fee) -> dict:
    (installment,) = schedule_bullet(principal=principal, annual_rate=annual_rate, start=start, maturity=maturity,
                                     day_count=day_count)
    repay = installment.total + fee  # the fee is paid at maturity, never deducted from the principal
    return {
        "principal": principal, "annual_rate": annual_rate, "day_count": day_count,
        "interest": installment.interest, "fee": fee, "total_cost": installment.interest + fee,
        "apr": apr_irr([(start, principal), (maturity, -repay)]), "start_date": start, "maturity_date": maturity,
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
