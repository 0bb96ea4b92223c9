"""Collateral coverage and margin calls.

A pre-sale advance is covered while its outstanding principal is at most what its live pledged, still-open
orders support (paid amount × the merchant's advance rate). A refund or cancellation of a
pledged order can break that: the merchant gets a margin call with a deadline (the financing
policy's `margin_call_days`); a repayment or replacement pledges that restore coverage cure it;
past the deadline the loan accelerates — its unpaid principal and the interest accrued so far fall
due at once.
"""

import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.core.audit import audit_record
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.money import quantize
from apps.financing.models import OPEN_ORDER_STATES, Pledge, PresaleOrder, ProductKind
from apps.financing.selectors import borrowing_base_get, financing_policy_in_force
from apps.merchants.models import Merchant

from .accrual import accrued_through
from .locks import installments_locked
from .models import Loan, LoanInstallment, LoanState, MarginCall, MarginCallState

ZERO = Decimal("0.00")


def loan_coverage_get(*, loan: Loan, as_of: datetime.date) -> tuple[Decimal, Decimal]:
    """(outstanding principal, what the live pledged open orders support)."""
    policy = financing_policy_in_force(lender=loan.merchant.lender, as_of=as_of)
    rate = Decimal(str(policy.advance_rates.get(loan.merchant.risk_grade or "E", "0")))
    pledged = PresaleOrder.objects.filter(
        pk__in=Pledge.objects.filter(application=loan.application_id, released_at__isnull=True).values("order_id"),
        state__in=OPEN_ORDER_STATES,
    ).aggregate(total=Sum("paid_amount"))["total"] or ZERO
    outstanding = LoanInstallment.objects.filter(loan=loan).aggregate(
        total=Sum("principal_due") - Sum("principal_paid"))["total"] or ZERO
    return outstanding, quantize(pledged * rate)


@transaction.atomic
def margin_call_review(*, loan: Loan, as_of: datetime.date, actor, reason: str,
                       cured_since: datetime.datetime | None = None) -> MarginCall | None:
    """Open a margin call if the loan is under-covered, or cure the open one if it no longer is.

    With `cured_since` (a reversal: the payments posted since then are undone), an under-covered loan gets back the
    call those payments cured, with its own deadline: the merchant was given until then, and a bounced payment
    does not earn a new one. (Past that deadline, the next end of day accelerates the loan.)
    """
    if loan.state not in (LoanState.ACTIVE, LoanState.OVERDUE) or loan.product != ProductKind.PRESALE_ADVANCE:
        return None  # only an advance is lent against orders; a term loan is unsecured and has no cover to fall short
    outstanding, supported = loan_coverage_get(loan=loan, as_of=as_of)
    shortfall = outstanding - supported
    open_call = MarginCall.objects.select_for_update().filter(loan=loan, state=MarginCallState.OPEN).first()
    if shortfall <= 0:
        if open_call:
            MarginCall.objects.filter(pk=open_call.pk).update(state=MarginCallState.CURED, closed_at=timezone.now())
            audit_record(actor=actor, action="margin_call_cured", subject=loan, reason=reason)
        return None
    if open_call:
        MarginCall.objects.filter(pk=open_call.pk).update(shortfall=shortfall)
        return open_call
    cured = cured_since and MarginCall.objects.select_for_update().filter(
        loan=loan, state=MarginCallState.CURED, closed_at__gte=cured_since).order_by("-closed_at", "-id").first()
    if cured:
        cured.state, cured.closed_at, cured.shortfall = MarginCallState.OPEN, None, shortfall
        cured.save(update_fields=["state", "closed_at", "shortfall"])
        audit_record(actor=actor, action="margin_call_reopened", subject=loan, reason=reason,
                     data={"shortfall": str(shortfall), "deadline": str(cured.deadline)})
        return cured
    days = financing_policy_in_force(lender=loan.merchant.lender, as_of=as_of).margin_call_days
    call = MarginCall.objects.create(loan=loan, shortfall=shortfall, deadline=as_of + datetime.timedelta(days=days),
                                     reason=reason)
    audit_record(actor=actor, action="margin_call_opened", subject=loan, reason=reason,
                 data={"shortfall": str(shortfall), "deadline": str(call.deadline)})
    return call


@transaction.atomic
def margin_calls_enforce(*, as_of: datetime.date, actor="system:margin-calls", loan_ids: tuple[int, int] | None = None) -> int:
    """Accelerate every loan (lo <= id < hi if `loan_ids`) whose margin call passed its deadline uncured; how many.

    The cover is checked again first: it can come back in ways no event reviews (a price the policy now supports).
    """
    count = 0
    # Only the calls: the loan's locks come in the services below, and a lock on the lender's row would hold every
    # posting of the lender (its entries' keys point at it) until this chunk commits.
    calls = MarginCall.objects.select_for_update(of=("self",)).filter(state=MarginCallState.OPEN, deadline__lt=as_of)
    if loan_ids:
        calls = calls.filter(loan_id__gte=loan_ids[0], loan_id__lt=loan_ids[1])
    for call in calls.select_related("loan__merchant__lender"):
        margin_call_review(loan=call.loan, as_of=as_of, actor=actor, reason="Covered again by the deadline")
        state, shortfall = MarginCall.objects.values_list("state", "shortfall").get(pk=call.pk)  # as the review left it
        if state == MarginCallState.CURED:
            continue
        loan_accelerate(loan=call.loan, as_of=as_of, actor=actor, reason=f"Margin call of {shortfall:,.2f} not cured")
        MarginCall.objects.filter(pk=call.pk).update(state=MarginCallState.ACCELERATED, closed_at=timezone.now())
        count += 1
    return count


def loan_accelerate(*, loan: Loan, as_of: datetime.date, actor, reason: str) -> None:
    """Everything unpaid falls due on `as_of`; interest and fees are charged only as accrued to that date."""
    installments = installments_locked(loan=loan)
    start = loan.start_date
    for i in installments:
        period_end = i.due_date
        if period_end > as_of:
            i.interest_due = max(accrued_through(due=i.interest_due, period_start=start, period_end=period_end,
                                                 through=as_of), i.interest_accrued)
            i.fee_due = max(accrued_through(due=i.fee_due, period_start=start, period_end=period_end, through=as_of),
                            i.fee_accrued)
            i.due_date = as_of
        start = period_end
    LoanInstallment.objects.bulk_update(installments, ["interest_due", "fee_due", "due_date"])
    Loan.objects.filter(pk=loan.pk).update(maturity_date=max(i.due_date for i in installments))
    audit_record(actor=actor, action="loan_accelerated", subject=loan, reason=reason)


@transaction.atomic
def pledges_add(*, loan: Loan, order_ids: list, actor, as_of: datetime.date) -> int:
    """Pledge replacement orders to a loan (to cure a margin call); each must be eligible and unpledged."""
    # The merchant first (the global lock order): two pledges of the same order queue here, and the second sees it taken.
    Merchant.objects.select_for_update().get(pk=loan.merchant_id)
    state = Loan.objects.values_list("state", flat=True).get(pk=loan.pk)
    if state not in (LoanState.ACTIVE, LoanState.OVERDUE):
        raise Conflict(f"Loan #{loan.pk} is {LoanState(state).label.lower()}; it takes no more pledges.", code="LOAN_CLOSED")
    if loan.product != ProductKind.PRESALE_ADVANCE:  # a term loan is unsecured: orders pledged to it would be swept into it
        raise Conflict(f"Loan #{loan.pk} is a term loan; only a pre-sale advance is lent against orders.",
                       code="LOAN_NOT_SECURED")
    rows = {r.order.pk: r for r in borrowing_base_get(merchant=loan.merchant, as_of=as_of).orders}
    wanted = {int(i) for i in order_ids if str(i).isascii() and str(i).isdigit()}
    if not wanted:
        raise ValidationFailed("Select at least one order to pledge.", code="ORDERS_REQUIRED")
    if wanted - rows.keys():
        raise NotFound("Some of those orders are not open orders of yours.", code="ORDER_NOT_FOUND")
    blocked = [f"{rows[i].order.external_id}: {rows[i].reason}" for i in sorted(wanted) if not rows[i].selectable]
    if blocked:
        raise ValidationFailed("Some orders cannot be pledged: " + " ".join(blocked), code="ORDER_NOT_ELIGIBLE")
    Pledge.objects.bulk_create([Pledge(order_id=i, application_id=loan.application_id) for i in sorted(wanted)])
    audit_record(actor=actor, action="pledges_added", subject=loan, data={"orders": sorted(wanted)})
    margin_call_review(loan=loan, as_of=as_of, actor=actor, reason="Replacement orders pledged")
    return len(wanted)
