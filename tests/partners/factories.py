import factory

from apps.partners.models import PartnerBank


class PartnerBankFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerBank

    lender = factory.SubFactory("tests.accounts.factories.LenderFactory")
    name = factory.Sequence(lambda n: f"Partner Bank {n}")
    code = factory.Sequence(lambda n: f"bank{n}")
