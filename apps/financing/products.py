"""Loan products: what a lender offers, as data (apps.financing.models.LoanProduct).

Selectors find the products a merchant may apply for; services create the defaults and let a
lender admin change a product (audited). Bad input is refused before anything is written.
"""

import datetime
from decimal import Decimal

from django.db import transaction

from apps.core.audit import audit_record
from apps.core.errors import NotFound, ValidationFailed
from apps.core.money import MAX_AMOUNT, to_decimal
from apps.repayments.allocation import strategy_check
from apps.repayments.schedules import DAY_COUNTS, MAX_ANNUAL_RATE, MAX_TERM_MONTHS

from .models import LoanProduct, ProductKind

DEFAULT_EFFECTIVE_FROM = datetime.date(2000, 1, 1)
# The defaults every lender starts with (migration 0003 seeded the same for lenders that existed then).
DEFAULT_PRODUCTS = [
    dict(code="presale_advance", name="Pre-sale advance", kind=ProductKind.PRESALE_ADVANCE, method="bullet",
         grace_days=7, fee_rate=Decimal("0.0010")),
    dict(code="term_equal_installment", name="Term loan, equal installments (等额本息)", kind=ProductKind.TERM_LOAN,
         method="equal_installment", min_term_months=3, max_term_months=36),
    dict(code="term_equal_principal", name="Term loan, equal principal (等额本金)", kind=ProductKind.TERM_LOAN,
         method="equal_principal", min_term_months=3, max_term_months=36),
    dict(code="term_interest_only", name="Term loan, interest-only with balloon", kind=ProductKind.TERM_LOAN,
         method="interest_only", min_term_months=3, max_term_months=12),
]
_TERM_DEFAULTS = dict(min_amount=Decimal("1000.00"), max_amount=Decimal("2000000.00"))
EDITABLE_FIELDS = ("name", "min_term_months", "max_term_months", "min_amount", "max_amount", "day_count",
                   "penalty_annual_rate", "grace_days", "fee_rate", "allocation_strategy", "is_active", "effective_from")


def loan_products_default_ensure(*, lender) -> None:
    """Give a lender without any product the default ones (a lender that has products keeps its choices)."""
    if LoanProduct.objects.filter(lender=lender).exists():
        return
    LoanProduct.objects.bulk_create([
        LoanProduct(lender=lender, effective_from=DEFAULT_EFFECTIVE_FROM,
                    **({**_TERM_DEFAULTS, **spec} if spec["kind"] == ProductKind.TERM_LOAN else spec))
        for spec in DEFAULT_PRODUCTS
    ], ignore_conflicts=True)  # two first applications racing: the unique code keeps one set


def loan_products_list(*, lender):
    return LoanProduct.objects.filter(lender=lender).order_by("kind", "code")


def loan_products_available(*, lender, as_of: datetime.date, kind: str | None = None):
    """Products open to new applications on `as_of` (a lender never given products gets the defaults first)."""
    loan_products_default_ensure(lender=lender)
    products = LoanProduct.objects.filter(lender=lender, is_active=True, effective_from__lte=as_of)
    return (products.filter(kind=kind) if kind else products).order_by("kind", "code")


def presale_product_get(*, lender, as_of: datetime.date) -> LoanProduct:
    """The pre-sale advance product in force (the most recently effective, if there are several)."""
    loan_products_default_ensure(lender=lender)
    product = loan_products_available(lender=lender, as_of=as_of, kind=ProductKind.PRESALE_ADVANCE) \
        .order_by("-effective_from", "-id").first()
    if product is None:
        raise ValidationFailed("No pre-sale advance product is offered at the moment.", code="PRODUCT_NOT_AVAILABLE")
    return product


def term_product_get(*, lender, product, as_of: datetime.date) -> LoanProduct:
    """A term-loan product of this lender open to applications; `product` is a LoanProduct, its id or its code.

    Another lender's product does not exist for this merchant (the same 404 as an unknown one).
    """
    loan_products_default_ensure(lender=lender)
    key = getattr(product, "pk", product)
    lookup = {"pk": key} if isinstance(key, int) or (isinstance(key, str) and key.isdigit()) else {"code": key}
    found = LoanProduct.objects.filter(lender=lender, **lookup).first() if key not in (None, "") else None
    if found is None:
        raise NotFound(f"There is no loan product {key!r}.", code="PRODUCT_NOT_FOUND")
    if found.kind != ProductKind.TERM_LOAN:
        raise ValidationFailed(f"{found.name} is not a term loan: apply for it from your orders.", code="PRODUCT_NOT_TERM_LOAN")
    if not found.is_active or found.effective_from > as_of:
        raise ValidationFailed(f"{found.name} is not offered at the moment.", code="PRODUCT_NOT_AVAILABLE")
    return found


def product_limits_check(*, product: LoanProduct, amount: Decimal, term_months=None) -> None:
    """Amount and (term loans) term within the product's limits; raises ValidationFailed naming the limits."""
    if product.min_amount is not None and amount < product.min_amount or \
            product.max_amount is not None and amount > product.max_amount:
        raise ValidationFailed(
            f"{product.name} lends from {product.min_amount or Decimal('0.01'):,.2f} to "
            f"{product.max_amount or MAX_AMOUNT:,.2f}; you asked for {amount:,.2f}.", code="AMOUNT_OUTSIDE_PRODUCT_LIMITS")
    if not product.is_term_loan:
        return
    if isinstance(term_months, bool) or not isinstance(term_months, int):
        raise ValidationFailed(f"The term must be a whole number of months, not {term_months!r}.", code="TERM_INVALID")
    if not product.min_term_months <= term_months <= product.max_term_months:
        raise ValidationFailed(f"{product.name} runs from {product.min_term_months} to {product.max_term_months} months; "
                               f"you asked for {term_months}.", code="TERM_OUTSIDE_PRODUCT_LIMITS")


def _validated_terms(kind: str, values: dict) -> dict:
    """The database CHECKs say the same; this says it to people, before anything is written."""
    for name in ("penalty_annual_rate", "fee_rate", "min_amount", "max_amount"):
        if values[name] is not None:  # an unsaved product's defaults are strings
            values[name] = to_decimal(values[name])
    if not values["name"] or not isinstance(values["effective_from"], datetime.date):
        raise ValidationFailed("A product needs a name and the date it takes effect.", code="VALIDATION_ERROR")
    strategy_check(values["allocation_strategy"])
    if values["day_count"] not in DAY_COUNTS:
        raise ValidationFailed(f"The day count must be one of {', '.join(DAY_COUNTS)}.", code="DAY_COUNT_INVALID")
    if not Decimal(0) <= values["penalty_annual_rate"] < MAX_ANNUAL_RATE:
        raise ValidationFailed("The penalty rate is a yearly fraction: 0.1000 is 10%.", code="RATE_INVALID")
    if not Decimal(0) <= values["fee_rate"] < 1:
        raise ValidationFailed("The fee rate is a fraction of the principal: 0.0010 is 0.1%.", code="RATE_INVALID")
    low, high = values.get("min_amount"), values.get("max_amount")
    if low is not None and low <= 0 or low is not None and high is not None and low > high:
        raise ValidationFailed("The amount limits must be positive, the lowest no more than the highest.",
                               code="AMOUNT_LIMITS_INVALID")
    if kind == ProductKind.TERM_LOAN:
        shortest, longest = values.get("min_term_months"), values.get("max_term_months")
        if shortest is None or longest is None or not 1 <= shortest <= longest <= MAX_TERM_MONTHS:
            raise ValidationFailed(f"A term loan needs a term range within 1–{MAX_TERM_MONTHS} months.",
                                   code="TERM_LIMITS_INVALID")
        if values["grace_days"] or values["fee_rate"]:
            raise ValidationFailed("Term loans carry no fee and no grace days.", code="TERM_LOAN_NO_FEE")
    elif values.get("min_term_months") is not None or values.get("max_term_months") is not None:
        raise ValidationFailed("A pre-sale advance falls due with its orders: it has no term in months.",
                               code="TERM_LIMITS_INVALID")
    return values


@transaction.atomic
def loan_product_save(*, lender, actor, product: LoanProduct | None = None, kind: str | None = None,
                      method: str | None = None, code: str | None = None, **values) -> LoanProduct:
    """Create a product (kind, method and code given) or change an existing one's terms; audited either way.

    Kind, method and code never change on an existing product: applications and loans refer to them.
    """
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Not a product term: {', '.join(sorted(unknown))}.", code="VALIDATION_ERROR")
    if product is None:
        if kind not in ProductKind.values or not code:
            raise ValidationFailed("A new product needs a code and a kind.", code="VALIDATION_ERROR")
        if LoanProduct.objects.filter(lender=lender, code=code).exists():
            raise ValidationFailed(f"A product with code {code!r} exists already.", code="PRODUCT_CODE_TAKEN")
        product = LoanProduct(lender=lender, code=code, kind=kind, method=method)
        if (kind == ProductKind.PRESALE_ADVANCE) != (method == "bullet"):
            raise ValidationFailed("A pre-sale advance is a bullet; a term loan is repaid monthly.", code="METHOD_INVALID")
    else:
        if kind is not None or method is not None or code is not None:
            raise ValidationFailed("A product's code, kind and method never change: add a new product instead.",
                                   code="VALIDATION_ERROR")
        product = LoanProduct.objects.select_for_update().get(pk=product.pk, lender=lender)
    before = {name: str(getattr(product, name)) for name in EDITABLE_FIELDS}
    merged = {name: values.get(name, getattr(product, name)) for name in EDITABLE_FIELDS}
    for name, value in _validated_terms(product.kind, merged).items():
        setattr(product, name, value)
    creating = product.pk is None
    product.save()
    changed = {name: [before[name], str(getattr(product, name))] for name in EDITABLE_FIELDS
               if creating or before[name] != str(getattr(product, name))}
    summary = "Created" if creating else "; ".join(f"{name}: {old} → {new}" for name, (old, new) in changed.items())
    audit_record(actor=actor, action="loan_product_created" if creating else "loan_product_changed", subject=product,
                 reason=summary or "No change", data=changed)
    return product
