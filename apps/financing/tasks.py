from celery import shared_task

from .application_services import offers_expire


@shared_task(name="financing.offers_expire")
def offers_expire_task() -> int:
    return offers_expire()
