"""The data migration: existing lenders get the default products, the advance keeps the policy's terms."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("financing", "0002_loan_products")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_products_are_seeded_from_the_latest_policy_and_applications_point_at_the_advance():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    apps = _migrate(BEFORE)
    try:
        lender = apps.get_model("accounts", "Lender").objects.create(slug="legacy", name="Legacy Lender")
        policy = apps.get_model("financing", "FinancingPolicy")
        policy.objects.create(lender=lender, version=1, effective_from=datetime.date(2025, 1, 1), advance_rates={},
                              fee_rate=Decimal("0.0050"), grace_days=3, penalty_annual_rate=Decimal("0.1800"))
        policy.objects.create(lender=lender, version=2, effective_from=datetime.date(2026, 1, 1), advance_rates={},
                              fee_rate=Decimal("0.0020"), grace_days=5, penalty_annual_rate=Decimal("0.1200"))
        merchant = apps.get_model("merchants", "Merchant").objects.create(
            lender=lender, company_name="Old Shop", store_handle="old-shop", contact_name="O", contact_email="o@x.cn",
            contact_phone="+86 1", bank_name="B", bank_account_name="Old Shop", bank_account_number="622200001111")
        application = apps.get_model("financing", "FinancingApplication").objects.create(
            merchant=merchant, amount=Decimal("100.00"), currency="CNY")
        apps = _migrate(latest)
        products = apps.get_model("financing", "LoanProduct").objects.filter(lender_id=lender.pk)
        advance = products.get(code="presale_advance")
        assert (advance.fee_rate, advance.grace_days, advance.penalty_annual_rate) == (Decimal("0.0020"), 5,
                                                                                         Decimal("0.1200"))
        assert set(products.values_list("code", flat=True)) == {"presale_advance", "term_equal_installment",
                                                                 "term_equal_principal", "term_interest_only"}
        assert apps.get_model("financing", "FinancingApplication").objects.get(pk=application.pk).product_id == advance.pk
    finally:
        _migrate(latest)
