"""Schedule revisions: snapshots of installment rows a payment changed, and putting them back.

A reversal (services.repayment_reverse) undoes the bounced payment and every later one; the
schedule changes those payments made — prepayment reshapes, a payoff's dropped interest — are
restored from their revisions, so the replay starts from the schedule as it really was.
"""

import datetime
from decimal import Decimal

from django.utils import timezone

from apps.core.audit import audit_record
from apps.core.errors import Conflict
from apps.ledger.models import Acct, EntryKind
from apps.ledger.posting import cr, dr, post_locked

from .models import Loan, LoanInstallment, RevisionReason, ScheduleRevision

ZERO = Decimal("0.00")
_AMOUNTS = ("principal_due", "interest_due", "fee_due", "interest_accrued", "fee_accrued")


def schedule_rows(installments) -> list[dict]:
    """Installment rows as JSON-safe dicts (decimal strings, ISO dates), in number order."""
    return [{"number": i.number, "due_date": i.due_date.isoformat(), **{name: str(getattr(i, name)) for name in _AMOUNTS}}
            for i in sorted(installments, key=lambda i: i.number)]


def prepayments_restore(*, loan: Loan, repayment_ids: set[int], actor) -> bool:
    """Put the schedule back as it was before the earliest of these payments reshaped it; True if one had.

    The rows recomputed then lose their accrued interest (taken out of income here) and accrue
    again on the restored amounts. Refused if a payment outside the set reshaped the schedule
    afterwards (it was posted out of date order): restoring would pull its ground away.
    """
    revisions = list(ScheduleRevision.objects.select_for_update()
                     .filter(loan=loan, reason=RevisionReason.PREPAYMENT, reverted_at__isnull=True).order_by("id"))
    undone = [r for r in revisions if r.repayment_id in repayment_ids]
    if not undone:
        return False
    if any(r.pk > undone[0].pk and r.repayment_id not in repayment_ids for r in revisions):
        raise Conflict("A payment dated earlier than this one was posted after it and reshaped the schedule since; "
                       "reverse that payment first.", code="REVERSAL_OUT_OF_ORDER")
    first = undone[0]
    current_number = first.before[0]["number"]
    by_number = {i.number: i for i in LoanInstallment.objects.select_for_update().filter(loan=loan)}
    changed, created, released = [], [], ZERO
    for row in first.before:
        installment = by_number.get(row["number"]) or LoanInstallment(loan=loan, number=row["number"])
        if installment.pk and row["number"] > current_number:
            released += installment.interest_accrued
            installment.interest_accrued = ZERO
        installment.due_date = datetime.date.fromisoformat(row["due_date"])
        installment.principal_due, installment.interest_due, installment.fee_due = (
            Decimal(row["principal_due"]), Decimal(row["interest_due"]), Decimal(row["fee_due"]))
        (changed if installment.pk else created).append(installment)
    LoanInstallment.objects.bulk_update(changed, ["due_date", "principal_due", "interest_due", "fee_due", "interest_accrued"])
    LoanInstallment.objects.bulk_create(created)
    Loan.objects.filter(pk=loan.pk).update(maturity_date=max(i.due_date for i in [*changed, *created]))
    if released:
        post_locked(lender=loan.merchant.lender, reference=f"schedule:{loan.pk}:{first.pk}:restored", actor=actor,
                    kind=EntryKind.ACCRUAL, description=f"Interest accrued on loan #{loan.pk}'s recomputed installments, "
                    "re-accrued on the restored schedule",
                    lines=[dr(Acct.INTEREST_INCOME, released), cr(Acct.LOANS_INTEREST, released)])
    ScheduleRevision.objects.filter(pk__in=[r.pk for r in undone]).update(reverted_at=timezone.now())
    audit_record(actor=actor, action="schedule_restored", subject=loan,
                 data={"revisions": [r.pk for r in undone], "installments": len(first.before)})
    return True
