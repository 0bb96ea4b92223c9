"""Splitting what a co-lent loan collects between the lender and the partner bank."""

from decimal import Decimal

from apps.core.money import quantize


def lender_part(loan, total: Decimal) -> Decimal:
    """The lender's part of an amount collected on a loan, in proportion to the principal it funded.

    The reconciliation computes the same split in SQL (ROUND(x, 2) rounds half away from zero,
    which is ROUND_HALF_UP for these non-negative amounts).
    """
    return quantize(total * loan.lender_principal / loan.principal)


def lender_interest_part(loan, total: Decimal) -> Decimal:
    """The lender's part of interest collected on a loan: the bank earns its agreement's rate on its share.

    Both parts' principal is repaid in proportion, so the bank's share of every interest payment is the fixed
    fraction (its principal × its rate) ÷ (the loan's principal × the loan's rate), never more than all of it;
    the lender keeps the rest, its own share's interest and the spread. The reconciliation computes the same
    split in SQL (selectors._partner_interest_collected).
    """
    whole = loan.principal * loan.annual_rate
    if not loan.partner_principal or not whole:
        return total
    return quantize(total * (whole - min(loan.partner_principal * loan.partner_annual_rate, whole)) / whole)
