"""Whether a loan is overdue between nights, when a payment or undoing one changes what it has past due.

End of day grades loans (days past due, bucket, apps/repayments/eod.py) and moves them between active and
overdue. A payment that catches an overdue loan up makes it current at once; its days past due and bucket
stay last night's figures until end of day grades it again. Undoing payments (a reversal, a late payment
re-applying later ones, a reopened payoff) puts back the overdue state of a loan that was overdue last night,
or reopened, and is behind again.
"""

import datetime

from django.db.models import F, Q

from apps.core.transitions import transition_apply

from .models import Loan, LoanInstallment, LoanState


def loan_behind(loan: Loan, today: datetime.date) -> bool:
    """End of day's test: principal, interest or fees unpaid on an installment past its due date."""
    return LoanInstallment.objects.filter(loan=loan, due_date__lt=today).filter(
        Q(principal_paid__lt=F("principal_due")) | Q(interest_paid__lt=F("interest_due")) | Q(fee_paid__lt=F("fee_due"))
    ).exists()


def overdue_state_settle(*, loan: Loan, actor, today: datetime.date, reopened: bool = False) -> None:
    """Cure an overdue loan with nothing past due; mark overdue again a loan that was overdue at last night's grading
    (or was just reopened) and is behind. Defaulting stays end of day's. Runs in the caller's transaction."""
    state, graded_overdue = Loan.objects.select_for_update().values_list("state", "overdue_since").get(pk=loan.pk)
    if state == LoanState.OVERDUE and not loan_behind(loan, today):
        transition_apply(instance=loan, transition="cure", actor=actor, reason="Overdue amounts repaid")
    elif state == LoanState.ACTIVE and (reopened or graded_overdue is not None) and loan_behind(loan, today):
        transition_apply(instance=loan, transition="mark_overdue", actor=actor, reason="An installment is past due")
