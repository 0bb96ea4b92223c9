import factory

from apps.accounts.models import Lender, Role, User
from tests.merchants.factories import MerchantFactory


class LenderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lender

    slug = factory.Sequence(lambda n: f"lender-{n}")
    name = factory.Sequence(lambda n: f"Small Loan Co {n}")


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff-{n}")
    role = Role.CREDIT_OFFICER
    lender = factory.SubFactory(LenderFactory)
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery-staple")

    @factory.post_generation
    def _save(self, create, extracted, **kwargs):
        if create:
            self.save()


class MerchantUserFactory(StaffFactory):
    role = Role.MERCHANT
    username = factory.Sequence(lambda n: f"merchant-user-{n}")
    merchant = factory.SubFactory(MerchantFactory, lender=factory.SelfAttribute("..lender"))
