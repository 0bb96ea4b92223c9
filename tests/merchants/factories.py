import factory

from apps.merchants.models import Merchant


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    lender = factory.SubFactory("tests.accounts.factories.LenderFactory")
    company_name = factory.Sequence(lambda n: f"Shop {n} Ltd")
    store_handle = factory.Sequence(lambda n: f"shop-{n}")
    contact_name = "Li Wei"
    contact_email = factory.Sequence(lambda n: f"owner{n}@shop.test")
    contact_phone = "+86 21 5555 0000"
    bank_name = "Harbour Commercial Bank"
    bank_account_name = factory.SelfAttribute("company_name")
    bank_account_number = "6222000011112222"
