"""Reads for financing: which orders can be borrowed against, and the borrowing base.

Borrowing base = Σ counted value of eligible orders × advance rate(grade) × (1 − refund rate)
                 − what the merchant already owes (never below zero).

An order is eligible when it is open (paid, shipped or delivered: not settled, refunded,
cancelled or disputed), in the lender's currency, and its settlement is expected between
today and today + the policy's maximum tenor. The merchant must be KYC-verified. A buyer
may make up at most `buyer_concentration_cap` of the eligible pool; beyond that their
orders count only up to the cap (pro rata). Orders pledged to an accepted offer still
count towards the base (they secure what is owed, which is subtracted) but cannot be
selected for a new application. What is owed is the principal of accepted and disbursed
offers (repayments arrive with the loans issue and will reduce it).
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F, OuterRef, Q, Subquery, Sum

from apps.core.money import quantize
from apps.merchants.models import KycState
from apps.merchants.selectors import credit_assessment_latest

from .models import (
    DEFAULT_ADVANCE_RATES,
    OPEN_ORDER_STATES,
    ApplicationState,
    FinancingApplication,
    FinancingPolicy,
    Pledge,
    PresaleOrder,
)

ZERO = Decimal("0.00")


@dataclass
class OrderEligibility:
    order: PresaleOrder
    eligible: bool
    reason: str
    counted: Decimal = ZERO
    pledged_to: int | None = None  # the application whose accepted offer it secures

    @property
    def selectable(self) -> bool:
        return self.eligible and self.pledged_to is None


@dataclass
class BorrowingBase:
    as_of: datetime.date
    grade: str
    advance_rate: Decimal
    refund_rate: Decimal
    eligible_value: Decimal
    owed: Decimal
    base: Decimal
    blocked_reason: str = ""
    orders: list[OrderEligibility] = field(default_factory=list)


def financing_policy_in_force(*, lender, as_of: datetime.date) -> FinancingPolicy:
    """The policy in force on `as_of`; the documented defaults (unsaved) if none was ever set."""
    policy = (FinancingPolicy.objects.filter(lender=lender, effective_from__lte=as_of)
              .order_by("-effective_from", "-version").first())
    return policy or FinancingPolicy(lender=lender, version=0, effective_from=as_of, advance_rates=DEFAULT_ADVANCE_RATES)


def _order_reason(order: PresaleOrder, *, currency: str, as_of: datetime.date, latest: datetime.date) -> str:
    if order.state not in OPEN_ORDER_STATES:
        return f"The order is {order.get_state_display().lower()}."
    if order.currency != currency:
        return f"The order is in {order.currency}; only {currency} orders can be financed."
    if order.expected_settlement_date < as_of:
        return f"Settlement was expected on {order.expected_settlement_date} and is overdue."
    if order.expected_settlement_date > latest:
        days = (order.expected_settlement_date - as_of).days
        return f"Settlement is expected in {days} days; advances can wait at most {(latest - as_of).days} days."
    return ""


def borrowing_base_get(*, merchant, as_of: datetime.date) -> BorrowingBase:
    """Every order's eligibility with its reason, and the base they support (two queries)."""
    lender = merchant.lender
    policy = financing_policy_in_force(lender=lender, as_of=as_of)
    latest = as_of + datetime.timedelta(days=policy.max_tenor_days)
    assessment = credit_assessment_latest(merchant=merchant)
    grade = assessment.grade if assessment else "E"
    advance_rate = Decimal(policy.advance_rates.get(grade, "0"))
    refund_rate = _refund_rate(assessment)

    orders = list(PresaleOrder.objects.filter(merchant=merchant, state__in=OPEN_ORDER_STATES)
                  .annotate(pledged_to=Subquery(Pledge.objects.filter(order=OuterRef("pk"), released_at__isnull=True)
                                                .values("application_id")[:1]))
                  .order_by("expected_settlement_date", "id"))
    rows = [OrderEligibility(order=o, eligible=False, reason="", pledged_to=o.pledged_to) for o in orders]
    for row in rows:
        row.reason = _order_reason(row.order, currency=lender.base_currency, as_of=as_of, latest=latest)
        row.eligible = not row.reason
    _apply_buyer_cap(rows, cap=Decimal(str(policy.buyer_concentration_cap)))
    for row in rows:
        if row.eligible and row.pledged_to and not row.reason:
            row.reason = f"Pledged to application #{row.pledged_to}: it secures what you owe."

    eligible_value = sum((r.counted for r in rows), ZERO)
    blocked = ""
    if merchant.kyc_state != KycState.VERIFIED:
        blocked = f"Financing needs verified KYC; yours is {merchant.get_kyc_state_display().lower()}."
    elif assessment is None:
        blocked = "No credit assessment yet: upload your sales history first."
    owed = merchant_owed_get(merchant=merchant)
    base = ZERO if blocked else max(ZERO, advance_on(eligible_value, advance_rate, refund_rate) - owed)
    return BorrowingBase(as_of=as_of, grade=grade, advance_rate=advance_rate, refund_rate=refund_rate,
                         eligible_value=eligible_value, owed=owed, base=base, blocked_reason=blocked, orders=rows)


def advance_on(value: Decimal, advance_rate: Decimal, refund_rate: Decimal) -> Decimal:
    """What `value` of counted orders supports before subtracting what is owed."""
    return quantize(value * advance_rate * (1 - refund_rate))


def merchant_owed_get(*, merchant) -> Decimal:
    """The principal the merchant owes or is about to: accepted offers not yet paid out, and the unpaid principal of
    disbursed loans (a repaid loan's principal no longer counts against the credit limit or the borrowing base)."""
    # One query. An accepted application's offer is counted once: it has no loan rows to multiply it (its loan and
    # installments are made in the transaction that marks it disbursed).
    owed = FinancingApplication.objects.filter(
        merchant=merchant, state__in=(ApplicationState.OFFER_ACCEPTED, ApplicationState.DISBURSED),
    ).aggregate(accepted=Sum("offer__principal", filter=Q(state=ApplicationState.OFFER_ACCEPTED)),
                unpaid=Sum(F("loan__installments__principal_due") - F("loan__installments__principal_paid"),
                           filter=Q(state=ApplicationState.DISBURSED)))
    return (owed["accepted"] or ZERO) + (owed["unpaid"] or ZERO)


def referral_queue_list(*, lender):
    return (FinancingApplication.objects.filter(merchant__lender=lender, state=ApplicationState.REFERRED)
            .select_related("merchant").order_by("submitted_at", "id"))


def applications_for_lender(*, lender):
    return FinancingApplication.objects.filter(merchant__lender=lender).select_related("merchant")


def _refund_rate(assessment) -> Decimal:
    if assessment is None:
        return Decimal(0)
    sales = Decimal(assessment.inputs.get("window_sales", "0"))
    refunds = Decimal(assessment.inputs.get("window_refunds", "0"))
    return min(refunds / sales, Decimal(1)).quantize(Decimal("0.0001")) if sales > 0 else Decimal(0)


def _apply_buyer_cap(rows: list[OrderEligibility], *, cap: Decimal) -> None:
    """Count each eligible order's paid amount, scaling down buyers above the cap of the pool."""
    eligible = [r for r in rows if r.eligible]
    pool = sum((r.order.paid_amount for r in eligible), ZERO)
    by_buyer: dict[str, Decimal] = {}
    for r in eligible:
        by_buyer[r.order.buyer_id] = by_buyer.get(r.order.buyer_id, ZERO) + r.order.paid_amount
    limit = pool * cap
    for r in eligible:
        total = by_buyer[r.order.buyer_id]
        if total > limit:
            r.counted = quantize(r.order.paid_amount * limit / total)
            r.reason = (f"Buyer {r.order.buyer_id} makes up {total / pool:.0%} of your eligible orders; "
                        f"only {cap:.0%} counts.")
        else:
            r.counted = r.order.paid_amount
