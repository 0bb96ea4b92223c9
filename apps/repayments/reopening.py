"""Reopening a loan whose payoff bounced.

At payoff (services._close_if_repaid) the interest and fees not yet accrued are dropped from the
schedule, interest accrued beyond the payoff date leaves income, and the pledges are released.
A payoff revision records all three, so when a payment that had paid the loan off is reversed
the loan reopens exactly: the rows get their amounts back, the release is reversed, the pledges
come back (those whose order is still open and not pledged to another loan since), and the loan
goes paid_off → active, or → overdue if something is past due (an audited transition).
"""

from decimal import Decimal

from django.utils import timezone

from apps.core.audit import actor_label_of, audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict
from apps.core.transitions import transition_apply
from apps.financing.models import OPEN_ORDER_STATES, Pledge
from apps.ledger.posting import journal_reverse

from .delinquency import loan_behind
from .models import Loan, LoanInstallment, RevisionReason, ScheduleRevision
from .revisions import schedule_rows

_RESTORED = ("interest_due", "fee_due", "interest_accrued", "fee_accrued")


def payoff_release_reference(*, loan: Loan) -> str:
    """The payoff's accrual-release reference; a loan paid off again after reopening gets a numbered one."""
    earlier = ScheduleRevision.objects.filter(loan=loan, reason=RevisionReason.PAYOFF).count()
    return f"payoff-accrual-release:{loan.pk}" + (f":{earlier + 1}" if earlier else "")


def payoff_revision_record(*, loan: Loan, before: list[dict], installments, release_entry, pledge_ids: list[int],
                           actor) -> ScheduleRevision:
    return ScheduleRevision.objects.create(loan=loan, reason=RevisionReason.PAYOFF, before=before,
                                           after=schedule_rows(installments), release_entry=release_entry,
                                           pledges_released=pledge_ids, created_by=actor_label_of(actor))


def payoff_undo(*, loan: Loan, actor, reason: str) -> None:
    """Give a paid-off loan back what its payoff took away (the caller holds the loan's locks, then reopens it)."""
    revision = (ScheduleRevision.objects.select_for_update()
                .filter(loan=loan, reason=RevisionReason.PAYOFF, reverted_at__isnull=True).order_by("-id").first())
    if revision is None:  # paid off before payoffs were recorded: what it dropped is not known
        raise Conflict(f"Loan #{loan.pk} was paid off without a record of what closing it changed; it cannot be reopened.",
                       code="LOAN_CLOSED")
    rows = {row["number"]: row for row in revision.before}
    installments = list(LoanInstallment.objects.select_for_update().filter(loan=loan))
    for installment in installments:
        for name in _RESTORED:
            setattr(installment, name, Decimal(rows[installment.number][name]))
    LoanInstallment.objects.bulk_update(installments, list(_RESTORED))
    if revision.release_entry_id:
        entry = revision.release_entry
        journal_reverse(entry=entry, reference=f"{entry.reference}:reopened", actor=actor, reason=reason)
    live_orders = Pledge.objects.filter(released_at__isnull=True).values("order_id")
    back = (Pledge.objects.filter(pk__in=revision.pledges_released, released_at__isnull=False,
                                  order__state__in=OPEN_ORDER_STATES).exclude(order_id__in=live_orders))
    restored = back.update(released_at=None)
    ScheduleRevision.objects.filter(pk=revision.pk).update(reverted_at=timezone.now())
    audit_record(actor=actor, action="payoff_undone", subject=loan, reason=reason,
                 data={"pledges_restored": restored, "pledges_not_restored": len(revision.pledges_released) - restored})


def loan_reopen(*, loan: Loan, actor, reason: str) -> None:
    """paid_off → active, or → overdue when an installment is past due today, or → defaulted if it had; audited."""
    transition_apply(instance=loan, transition="reopen", actor=actor, reason=reason,
                     method_kwargs={"past_due": loan_behind(loan, business_date_today())})
