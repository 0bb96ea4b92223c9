"""Settlement sweeps: a pledged order's settlement repays its loan first."""

from django.db import transaction
from django.utils import timezone

from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.financing.models import Pledge

from .models import REPAYABLE_STATES, Repayment, RepaymentSource
from .services import repayment_post


@transaction.atomic
def settlement_sweep(*, order, actor) -> Repayment | None:
    """Sweep a settled order's money to the loan its live pledge secures, then release the pledge.

    The whole settlement is received: the allocation pays what is owed (interest to the
    settlement date, then principal) and the remainder becomes the merchant's credit.
    Returns None when the order is not pledged to a repayable loan.
    """
    # Read without a lock: repayment_post takes the locks in the global order; the release below is conditional.
    pledge = (Pledge.objects.select_related("application__loan")
              .filter(order=order, released_at__isnull=True).first())
    loan = getattr(pledge.application, "loan", None) if pledge else None
    if loan is None or loan.state not in REPAYABLE_STATES:
        return None
    repayment = repayment_post(loan=loan, amount=order.settled_amount, source=RepaymentSource.SWEEP,
                               reference=f"order:{order.external_id}", actor=actor,
                               received_on=business_date_today())
    updated = Pledge.objects.filter(pk=pledge.pk, released_at__isnull=True).update(released_at=timezone.now())
    if updated:
        audit_record(actor=actor, action="pledge_released", subject=loan.application,
                     reason=f"Order {order.external_id} settled and swept", data={"order": order.external_id})
    return repayment
