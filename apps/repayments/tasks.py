from celery import shared_task

from apps.core.calendar import business_date_today

from .collateral import margin_calls_enforce


@shared_task(name="repayments.margin_calls_enforce")
def margin_calls_enforce_task() -> int:
    return margin_calls_enforce(as_of=business_date_today())
