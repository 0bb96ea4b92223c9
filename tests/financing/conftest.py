import pytest

from apps.financing.application_services import application_submit, offer_accept
from apps.financing.models import FinancingApplication
from tests.conftest import TODAY


@pytest.fixture
def accepted(verified, graded, open_orders):
    """accepted(amount) → an application whose offer the merchant has accepted."""
    merchant = graded(verified, "A")
    orders = open_orders(merchant, 8)

    def make(amount="1000.00", take=slice(0, 2)):
        application = application_submit(merchant=merchant, order_ids=[o.pk for o in orders[take]], amount=amount,
                                         actor="m", as_of=TODAY)
        offer_accept(application=application, actor="m")
        return FinancingApplication.objects.select_related("offer").get(pk=application.pk)

    return make
