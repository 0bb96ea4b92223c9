"""State changes for pre-sale orders: idempotent ingestion and lifecycle events."""

import datetime

from django.db import transaction

from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import to_decimal
from apps.core.transitions import transition_apply
from apps.ledger.locks import lender_position_lock
from apps.repayments.collateral import margin_call_review
from apps.repayments.models import Loan
from apps.repayments.sweeps import settlement_sweep

from .models import DEFAULT_ADVANCE_RATES, FinancingPolicy, PresaleOrder
from .order_rows import OrderRow

# Marketplace status events → the order transition each one runs.
ORDER_EVENTS = {
    "shipped": "ship", "delivered": "deliver", "settled": "settle", "refunded": "refund",
    "cancelled": "cancel", "disputed": "dispute", "dispute_resolved": "resolve_dispute",
}
_COMPARED = ("buyer_id", "amount", "paid_amount", "currency", "paid_at", "expected_ship_date", "expected_settlement_date")


@transaction.atomic
def orders_ingest(*, merchant, rows: list[OrderRow], source: str, actor, first_row_number: int = 1) -> dict:
    """Create new orders; an order already known with the same data is left alone.

    Idempotent per (merchant, external id): a resend changes nothing, while a resend
    with different figures is refused (status changes go through `order_event_apply`).
    """
    existing = {
        o.external_id: o
        for o in PresaleOrder.objects.select_for_update().filter(
            merchant=merchant, external_id__in=[r.external_id for r in rows]
        )
    }
    conflicts = []
    for number, row in enumerate(rows, start=first_row_number):  # (rows: every row of the import, validated)
        known = existing.get(row.external_id)
        differing = [f for f in _COMPARED if known is not None and getattr(known, f) != getattr(row, f)]
        if differing:
            conflicts.append({"row": number, "field": "external_id",
                              "message": f"order {row.external_id} is already recorded with different {', '.join(differing)}"})
    if conflicts:
        raise Conflict(f"{len(conflicts)} order(s) conflict with what is recorded; nothing was imported.",
                       code="ORDER_CONFLICT", errors=conflicts)
    new = [PresaleOrder(merchant=merchant, source=source, **r.__dict__) for r in rows if r.external_id not in existing]
    PresaleOrder.objects.bulk_create(new)
    if new:
        audit_record(actor=actor, action="orders_ingested", subject=merchant,
                     data={"created": len(new), "unchanged": len(rows) - len(new), "source": source})
    return {"created": len(new), "unchanged": len(rows) - len(new)}


@transaction.atomic
def order_event_apply(*, order: PresaleOrder, event: str, actor, settled_amount=None) -> PresaleOrder:
    """Apply a marketplace status event; impossible transitions raise InvalidTransition.

    A pledged order's settlement is swept to its loan in the same transaction (the settlement
    pays what is owed first; the rest is credited to the merchant) and its pledge is released.
    """
    if event not in ORDER_EVENTS:
        raise ValidationFailed(f"Unknown event {event!r}; expected one of {', '.join(ORDER_EVENTS)}.",
                               code="ORDER_EVENT_UNKNOWN")
    kwargs, update_fields = {}, ("state_before_dispute",)
    if event == "settled":
        amount = _settled_amount(settled_amount, order)
        kwargs, update_fields = {"settled_amount": amount}, ("settled_amount",)
        # A sweep moves money: take the lender's lock first, as every money service does.
        lender_position_lock(order.merchant.lender)
    order = transition_apply(instance=order, transition=ORDER_EVENTS[event], actor=actor, update_fields=update_fields,
                             method_kwargs=kwargs)
    if event == "settled" and order.settled_amount:
        settlement_sweep(order=order, actor=actor)
    if event in ("refunded", "cancelled", "disputed", "dispute_resolved"):  # cover lost, or back (a call it opened cured)
        for loan in Loan.objects.filter(application__pledges__order=order, application__pledges__released_at__isnull=True):
            margin_call_review(loan=loan, as_of=business_date_today(), actor=actor,
                               reason=f"Pledged order {order.external_id} was {event}.")
    return order


def _settled_amount(raw, order: PresaleOrder):
    if raw in (None, ""):
        raise ValidationFailed.of_field("settled_amount", "A settled event needs settled_amount.",
                                        code="SETTLED_AMOUNT_REQUIRED")
    try:
        amount = to_decimal(raw)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed.of_field("settled_amount", f"settled_amount {raw!r} is not an amount.",
                                        code="VALIDATION_ERROR") from exc
    if amount < 0 or amount > order.paid_amount or amount != amount.quantize(to_decimal("0.01")):
        raise ValidationFailed.of_field(
            "settled_amount", f"settled_amount must be between 0 and the paid amount {order.paid_amount}, in cents; got "
            f"{amount}.", code="SETTLED_AMOUNT_INVALID")
    return amount


def financing_policy_default_ensure(*, lender) -> FinancingPolicy:
    policy, _ = FinancingPolicy.objects.get_or_create(
        lender=lender, version=1,
        defaults={"effective_from": datetime.date(2000, 1, 1), "advance_rates": DEFAULT_ADVANCE_RATES},
    )
    return policy
