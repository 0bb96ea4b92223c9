"""Splitting what a co-lent loan collects between the lender and the partner bank."""

from decimal import Decimal

from apps.core.money import quantize


def lender_part(loan, total: Decimal) -> Decimal:
    """The lender's part of an amount collected on a loan, in proportion to the principal it funded.

    The reconciliation computes the same split in SQL (ROUND(x, 2) rounds half away from zero,
    which is ROUND_HALF_UP for these non-negative amounts).
    """
    return quantize(total * loan.lender_principal / loan.principal)
