"""Partial prepayment of a monthly schedule: the merchant chooses what the rest of the schedule becomes.

A payment settles what is past due, then the current installment — the first one due on or
after the payment date: its interest accrued so far and its principal. Whatever the allocation
would put on later installments is a prepayment of principal. Before allocating, the schedule
is reshaped so that the prepayment is settled on the current installment:

- the current installment's principal grows by the prepaid amount; its interest stays as
  scheduled, because its month started on the balance it began with (annual ÷ 12 per month);
- the later installments are recomputed on the balance that is left, keeping their due dates:
  either as many months with lower installments (reduce_installment), or the same installment
  over fewer months (reduce_term: the months no longer needed are removed). ROUND_HALF_UP, the
  last month absorbs the residue, the principal parts sum exactly to the balance.

The rows as they were go into a ScheduleRevision, so a reversal restores them exactly
(apps/repayments/revisions.py). A payment that repays every later installment is a payoff,
not a reshape; a single-installment loan (a pre-sale advance) is never reshaped.
"""

import datetime
from decimal import Decimal

from apps.core.audit import actor_label_of, audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.ledger.models import Acct, EntryKind
from apps.ledger.posting import cr, dr, post_locked

from .allocation import Owed, allocate
from .models import Loan, LoanInstallment, PrepaymentChoice, RepaymentMethod, RevisionReason, ScheduleRevision
from .revisions import schedule_rows
from .schedules import rest_of_schedule

ZERO = Decimal("0.00")


def prepayment_choices_for(method: str) -> list[tuple[str, str]]:
    """The choices that mean something for a schedule: none for a bullet; an interest-only loan cannot be shortened."""
    if method == RepaymentMethod.BULLET:
        return []
    if method == RepaymentMethod.INTEREST_ONLY:
        return [(PrepaymentChoice.REDUCE_INSTALLMENT.value, PrepaymentChoice.REDUCE_INSTALLMENT.label)]
    return list(PrepaymentChoice.choices)


_CHOICES = frozenset(PrepaymentChoice.values)


def prepayment_choice_check(choice) -> str:
    if choice not in _CHOICES:
        raise ValidationFailed(f"The prepayment choice must be one of {', '.join(PrepaymentChoice.values)}, not {choice!r}.",
                               code="PREPAYMENT_CHOICE_INVALID")
    return choice


def prepayment_reschedule(*, loan: Loan, installments: list[LoanInstallment], owed: list[Owed], amount: Decimal,
                          as_of: datetime.date, choice: str, actor) -> ScheduleRevision | None:
    """Reshape the (locked) schedule for the prepayment inside `amount`, if there is one.

    `installments` is updated in place (rows removed from it when the term shrinks), so the
    caller's list stays the schedule. Returns the revision to record once the payment is saved,
    None when nothing was reshaped. The caller holds the lender, merchant and loan locks.
    """
    current = next((i for i in installments if i.due_date >= as_of), None)
    later = [i for i in installments if current is not None and i.number > current.number]
    if not later:
        return None
    later_ids = {i.pk for i in later}
    simulated = allocate(amount=amount, owed=owed, as_of=as_of, strategy=loan.allocation_strategy)
    prepaid = sum((a.amount for a in simulated if a.installment_id in later_ids), ZERO)
    outstanding = sum((i.principal_due - i.principal_paid for i in later), ZERO)
    if not prepaid or prepaid == outstanding:  # nothing beyond what is due, or everything: a payoff
        return None
    touched = [i for i in later if i.principal_paid or i.interest_paid or i.fee_paid or i.fee_due or i.penalty_accrued
               or any(a.component != "principal" for a in simulated if a.installment_id == i.pk)]
    if touched:
        raise Conflict(f"A payment dated {as_of} cannot prepay: installment #{touched[0].number} (due "
                       f"{touched[0].due_date}) already carries payments or charges posted since. Post it with today's date.",
                       code="PREPAYMENT_NOT_POSSIBLE")
    level = later[0].principal_due + (later[0].interest_due if loan.repayment_method == RepaymentMethod.EQUAL_INSTALLMENT
                                      else ZERO)
    rows = rest_of_schedule(method=loan.repayment_method, balance=outstanding - prepaid, annual_rate=loan.annual_rate,
                            months_left=len(later), shorten=choice == PrepaymentChoice.REDUCE_TERM, level=level)
    before = schedule_rows([current, *later])
    # Interest accrued on rows being recomputed (a backdated payment or a replay finds some) leaves income
    # now; accrual adds it again on the new amounts.
    released = sum((i.interest_accrued for i in later), ZERO)
    current.principal_due += prepaid
    kept, dropped = later[:len(rows)], later[len(rows):]
    for installment, (principal, interest) in zip(kept, rows, strict=True):
        installment.principal_due, installment.interest_due, installment.interest_accrued = principal, interest, ZERO
    LoanInstallment.objects.bulk_update([current, *kept], ["principal_due", "interest_due", "interest_accrued"])
    if dropped:
        LoanInstallment.objects.filter(pk__in=[i.pk for i in dropped]).delete()
    Loan.objects.filter(pk=loan.pk).update(maturity_date=kept[-1].due_date)
    loan.maturity_date = kept[-1].due_date
    entry = None
    if released:
        entry = post_locked(lender=loan.merchant.lender, actor=actor, kind=EntryKind.ACCRUAL, business_date=as_of,
                            reference=f"schedule:{loan.pk}:{ScheduleRevision.objects.filter(loan=loan).count() + 1}",
                            description=f"Interest accrued on loan #{loan.pk}'s recomputed installments, re-accrued anew",
                            lines=[dr(Acct.INTEREST_INCOME, released), cr(Acct.LOANS_INTEREST, released)])
    revision = ScheduleRevision(loan=loan, reason=RevisionReason.PREPAYMENT, choice=choice, prepaid=prepaid, before=before,
                                after=schedule_rows([current, *kept]), release_entry=entry, created_by=actor_label_of(actor))
    audit_record(actor=actor, action="schedule_recomputed", subject=loan, reason=PrepaymentChoice(choice).label,
                 data={"prepaid": str(prepaid), "balance": str(outstanding - prepaid), "months_before": len(later),
                       "months_after": len(kept), "installment_after": str(kept[0].principal_due + kept[0].interest_due)})
    installments[:] = [i for i in installments if i not in dropped]
    return revision


def prepayment_revision_record(*, revision: ScheduleRevision, repayment) -> None:
    """Keep the revision with the payment that caused it, once the payment is saved."""
    current_number = revision.after[0]["number"]
    if repayment.allocations.filter(installment__number__gt=current_number).exists():
        # The allocation strategy settled a later installment before the current one: the reshape assumed otherwise.
        raise RuntimeError(f"Allocation of repayment {repayment.pk} reached installments after #{current_number}")
    revision.repayment = repayment
    revision.save()
