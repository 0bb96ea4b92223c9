"""Shared fixtures: a lender with staff of every role, merchants, API clients and tokens.

Everything runs against real PostgreSQL and Redis (DATABASE_URL, REDIS_URL).
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from apps.accounts.models import Role
from apps.core.calendar import business_date_today
from apps.financing.application_services import application_submit, offer_accept
from apps.financing.models import FinancingApplication
from apps.merchants.models import CreditAssessment, Merchant
from apps.merchants.services import (
    kyc_document_upload,
    kyc_submit,
    kyc_verify,
    scoring_policy_default_ensure,
)
from apps.partners.models import ApiClientKind
from apps.partners.services import api_client_create
from tests.accounts.factories import LenderFactory, MerchantUserFactory, StaffFactory
from tests.financing.factories import PresaleOrderFactory
from tests.helpers import PDF_BYTES, upload
from tests.partners.factories import PartnerBankFactory

PASSWORD = "correct-horse-battery-staple"
TODAY = business_date_today()  # the business date of this test run


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def lender(db, settings):
    lender = LenderFactory(slug=settings.PORTAL_LENDER_SLUG)
    scoring_policy_default_ensure(lender=lender)
    return lender


@pytest.fixture
def other_lender(db):
    lender = LenderFactory()
    scoring_policy_default_ensure(lender=lender)
    return lender


@pytest.fixture
def staff(lender):
    """staff[role] → a user of `lender` holding that role."""
    return {role: StaffFactory(lender=lender, role=role, username=f"{role}-user", password=PASSWORD)
            for role in (Role.CREDIT_OFFICER, Role.COLLECTOR, Role.TREASURER, Role.LENDER_ADMIN)}


@pytest.fixture
def merchant_user(lender):
    return MerchantUserFactory(lender=lender, username="shop-owner", password=PASSWORD)


@pytest.fixture
def merchant(merchant_user):
    return merchant_user.merchant


@pytest.fixture
def other_merchant_user(lender):
    return MerchantUserFactory(lender=lender, username="other-shop", password=PASSWORD)


def _token(client, scope: str) -> str:
    """Issue an access token as the token endpoint would (stored hashed at rest)."""
    raw = f"tok-{client.application.client_id}-{scope.replace(' ', '-')}"
    token = AccessToken(application=client.application, scope=scope,
                        expires=timezone.now() + datetime.timedelta(hours=1))
    set_token_value(token, raw)
    token.save()
    return raw


@pytest.fixture
def marketplace_client(lender, staff):
    client, _ = api_client_create(lender=lender, name="marketplace", kind=ApiClientKind.MARKETPLACE,
                                  actor=staff[Role.LENDER_ADMIN])
    return client


@pytest.fixture
def bank_client(lender, staff):
    bank = PartnerBankFactory(lender=lender)
    client, _ = api_client_create(lender=lender, name="bank", kind=ApiClientKind.PARTNER_BANK,
                                  actor=staff[Role.LENDER_ADMIN], partner_bank=bank)
    return client


@pytest.fixture
def marketplace_api(marketplace_client):
    """A DRF APIClient authenticated as the marketplace integration (all its scopes)."""
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(marketplace_client, marketplace_client.allowed_scopes)}")
    return api


@pytest.fixture
def bank_api(bank_client):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(bank_client, bank_client.allowed_scopes)}")
    return api


@pytest.fixture
def verified(merchant, merchant_user, staff):
    """A KYC-verified merchant."""
    kyc_document_upload(merchant=merchant, kind="business_licence", upload=upload("l.pdf", PDF_BYTES), actor=merchant_user)
    kyc_submit(merchant=merchant, actor=merchant_user)
    kyc_verify(merchant=merchant, actor=staff[Role.CREDIT_OFFICER])
    return Merchant.objects.get(pk=merchant.pk)


@pytest.fixture
def lender_funded(lender, staff):
    """The lender has 10,000,000.00 of paid-in capital, and the 3.00% one-year LPR is in force (ceiling 12%)."""
    from apps.ledger.models import LprRate
    from apps.ledger.services import equity_inject

    # A migration ships the LPR history, but transactional tests flush tables, so make sure of it.
    LprRate.objects.get_or_create(effective_from=datetime.date(2025, 5, 20), defaults={"one_year_rate": Decimal("3.0000")})
    equity_inject(lender=lender, amount=Decimal("10000000.00"), reference="test-equity", actor=staff[Role.TREASURER])
    return lender


@pytest.fixture
def graded(lender_funded):
    """graded(merchant, grade, limit=…) records a credit assessment as the scoring model would."""

    def grade(merchant, letter, *, limit="100000.00", sales="100000.00", refunds="0.00"):
        CreditAssessment.objects.create(
            merchant=merchant, policy=scoring_policy_default_ensure(lender=merchant.lender), as_of=TODAY, score=80,
            grade=letter, credit_limit=Decimal(limit), reasons=[], inputs={"window_sales": sales, "window_refunds": refunds},
        )
        Merchant.objects.filter(pk=merchant.pk).update(risk_grade=letter, credit_limit=Decimal(limit))
        return Merchant.objects.get(pk=merchant.pk)

    return grade


@pytest.fixture
def open_orders():
    """open_orders(merchant, n) → n eligible orders of 1,000.00 from different buyers."""

    def make(merchant, n=5, days=30):
        return [PresaleOrderFactory(merchant=merchant, buyer_id=f"buyer-{i}", paid_amount=Decimal("1000.00"),
                                    expected_ship_date=TODAY,
                                    expected_settlement_date=TODAY + datetime.timedelta(days=days))
                for i in range(n)]

    return make


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
