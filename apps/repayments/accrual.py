"""Daily accrual of scheduled interest and fees into the sub-ledger and the general ledger.

An installment's interest (and fee) is spread over the days of its period: by date D the
cumulative accrued amount is quantize(due × days elapsed ÷ days in period), ROUND_HALF_UP.
Accruing day by day therefore posts the differences of a monotone sequence that ends at
exactly the scheduled amount — the daily accruals sum to the schedule to the cent, and
running a date twice (or an earlier date after a later one) posts nothing.
"""

import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from apps.core.money import quantize
from apps.ledger.locks import lender_position_lock
from apps.ledger.models import Acct, EntryKind, JournalEntry
from apps.ledger.posting import cr, dr, post_locked

from .models import Loan, LoanInstallment, PenaltyAccrual

ZERO = Decimal("0.00")


def accrued_through(*, due: Decimal, period_start: datetime.date, period_end: datetime.date,
                    through: datetime.date) -> Decimal:
    """How much of `due`, spread evenly over (period_start, period_end], has accrued by the end of `through`."""
    days = (period_end - period_start).days
    if days <= 0:  # an accelerated installment falls due at once
        return due
    elapsed = min(max((through - period_start).days, 0), days)
    return due if elapsed == days else quantize(due * elapsed / days)


def _periods(loan: Loan, installments: list[LoanInstallment]):
    start = loan.start_date
    for installment in installments:
        yield installment, start, installment.due_date
        start = installment.due_date


@transaction.atomic
def loan_accrue(*, loan: Loan, through: datetime.date, actor) -> JournalEntry | None:
    """Bring the loan's interest and fee accruals up to `through`; one journal entry, or None if nothing is due."""
    lender = loan.merchant.lender
    lender_position_lock(lender)
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    installments = list(LoanInstallment.objects.select_for_update().filter(loan=loan).order_by("number"))
    interest = fee = ZERO
    changed = []
    for installment, start, end in _periods(loan, installments):
        target_interest = accrued_through(due=installment.interest_due, period_start=start, period_end=end, through=through)
        target_fee = accrued_through(due=installment.fee_due, period_start=start, period_end=end, through=through)
        delta_interest = max(target_interest - installment.interest_accrued, ZERO)
        delta_fee = max(target_fee - installment.fee_accrued, ZERO)
        if delta_interest or delta_fee:
            installment.interest_accrued += delta_interest
            installment.fee_accrued += delta_fee
            interest += delta_interest
            fee += delta_fee
            changed.append(installment)
    penalty = _penalties_accrue(loan, installments, through, changed)
    if not changed:
        return None
    lines = []
    if penalty:
        lines += [dr(Acct.LOANS_PENALTIES, penalty), cr(Acct.PENALTY_INCOME, penalty)]
    if interest:
        lines += [dr(Acct.LOANS_INTEREST, interest), cr(Acct.INTEREST_INCOME, interest)]
    if fee:
        lines += [dr(Acct.LOANS_FEES, fee), cr(Acct.FEE_INCOME, fee)]
    reference = f"accrual:{loan.pk}:{through.isoformat()}"
    earlier = JournalEntry.objects.filter(lender=lender, reference__startswith=reference).count()
    if earlier:  # re-accrual after a reversal took penalty back
        reference = f"{reference}:{earlier + 1}"
    entry = post_locked(lender=lender, reference=reference, lines=lines,
                        kind=EntryKind.ACCRUAL, business_date=through, actor=actor,
                        description=f"Accrual for loan #{loan.pk} through {through}")
    LoanInstallment.objects.bulk_update(changed, ["interest_accrued", "fee_accrued", "penalty_accrued"])
    Loan.objects.filter(pk=loan.pk).filter(Q(penalty_accrued_through__isnull=True) | Q(penalty_accrued_through__lt=through)) \
        .update(penalty_accrued_through=through)
    return entry


def _penalties_accrue(loan: Loan, installments: list[LoanInstallment], through: datetime.date, changed: list) -> Decimal:
    """Penalty interest for the days since the last accrual on each installment's overdue principal.

    Principal is overdue from the day after its due date; ACT/360, a day's penalty rounded to the cent.
    """
    since = loan.penalty_accrued_through or loan.start_date
    total = ZERO
    for installment in installments:
        overdue = installment.principal_due - installment.principal_paid
        first_day = max(since, installment.due_date)  # days after `first_day` up to `through` are overdue
        days = (through - first_day).days
        if overdue <= 0 or days <= 0 or not loan.penalty_annual_rate:
            continue
        # One day's penalty is rounded to the cent, then multiplied: the total never depends on how
        # the days were split between runs (a catch-up, a daily EOD or a replay after a reversal).
        amount = quantize(overdue * loan.penalty_annual_rate / 360) * days
        if amount:
            PenaltyAccrual.objects.create(loan=loan, installment=installment, period_start=first_day, period_end=through,
                                          amount=amount)
            installment.penalty_accrued += amount
            total += amount
            if installment not in changed:
                changed.append(installment)
    return total


def penalties_unwind(*, loan: Loan, after: datetime.date, actor, reference: str) -> None:
    """Take back the penalty accrued for days after `after` (the caller holds the loan's locks)."""
    rows = list(PenaltyAccrual.objects.filter(loan=loan, period_end__gt=after))
    total = sum((r.amount for r in rows), ZERO)
    if not total:
        return
    post_locked(lender=loan.merchant.lender, reference=reference, kind=EntryKind.ACCRUAL, actor=actor, business_date=after,
                description=f"Penalty on loan #{loan.pk} after {after} taken back for re-accrual",
                lines=[dr(Acct.PENALTY_INCOME, total), cr(Acct.LOANS_PENALTIES, total)])
    by_installment: dict[int, Decimal] = {}
    for r in rows:
        by_installment[r.installment_id] = by_installment.get(r.installment_id, ZERO) + r.amount
    for installment in LoanInstallment.objects.select_for_update().filter(pk__in=by_installment):
        installment.penalty_accrued -= by_installment[installment.pk]
        installment.save(update_fields=["penalty_accrued"])
    PenaltyAccrual.objects.filter(pk__in=[r.pk for r in rows]).delete()  # derived rows; the journal keeps history
    Loan.objects.filter(pk=loan.pk).update(penalty_accrued_through=after)
