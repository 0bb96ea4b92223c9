"""Seed each lender's default loan products and point existing applications at the pre-sale advance.

The pre-sale advance takes its fee, grace days and penalty rate from the lender's latest
financing policy (where they lived until now), so existing terms carry over unchanged.
The defaults are frozen here on purpose: later edits to apps.financing.products must not
change what this migration did.
"""

import datetime
from decimal import Decimal

from django.db import migrations

EFFECTIVE_FROM = datetime.date(2000, 1, 1)
TERM_PRODUCTS = [
    ("term_equal_installment", "Term loan, equal installments (等额本息)", "equal_installment", 3, 36),
    ("term_equal_principal", "Term loan, equal principal (等额本金)", "equal_principal", 3, 36),
    ("term_interest_only", "Term loan, interest-only with balloon", "interest_only", 3, 12),
]


def seed(apps, schema_editor):
    Lender = apps.get_model("accounts", "Lender")
    FinancingPolicy = apps.get_model("financing", "FinancingPolicy")
    LoanProduct = apps.get_model("financing", "LoanProduct")
    FinancingApplication = apps.get_model("financing", "FinancingApplication")
    for lender in Lender.objects.all():
        if LoanProduct.objects.filter(lender=lender).exists():
            continue
        policy = FinancingPolicy.objects.filter(lender=lender).order_by("-effective_from", "-version").first()
        advance = LoanProduct.objects.create(
            lender=lender, code="presale_advance", name="Pre-sale advance", kind="presale_advance", method="bullet",
            day_count="ACT/360", effective_from=EFFECTIVE_FROM, allocation_strategy="default",
            penalty_annual_rate=policy.penalty_annual_rate if policy else Decimal("0.1000"),
            grace_days=policy.grace_days if policy else 7,
            fee_rate=policy.fee_rate if policy else Decimal("0.0010"),
        )
        for code, name, method, shortest, longest in TERM_PRODUCTS:
            LoanProduct.objects.create(
                lender=lender, code=code, name=name, kind="term_loan", method=method, min_term_months=shortest,
                max_term_months=longest, min_amount=Decimal("1000.00"), max_amount=Decimal("2000000.00"),
                day_count="ACT/360", penalty_annual_rate=Decimal("0.1000"), effective_from=EFFECTIVE_FROM,
            )
        FinancingApplication.objects.filter(merchant__lender=lender, product__isnull=True).update(product=advance)


class Migration(migrations.Migration):
    dependencies = [("financing", "0002_loan_products")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
