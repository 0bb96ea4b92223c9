import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from apps.financing.models import PresaleOrder


class PresaleOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PresaleOrder

    merchant = factory.SubFactory("tests.merchants.factories.MerchantFactory")
    external_id = factory.Sequence(lambda n: f"ord-{n:05d}")
    buyer_id = factory.Sequence(lambda n: f"buyer-{n}")
    currency = "CNY"
    amount = Decimal("1000.00")
    paid_amount = factory.SelfAttribute("amount")
    paid_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    expected_ship_date = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=5))
    expected_settlement_date = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=30))
    source = "api"
