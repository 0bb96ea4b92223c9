"""Loan products as data: defaults per lender, terms that reach offers and loans, the back-office pages."""

import datetime
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.core.audit import audit_trail_for
from apps.core.errors import ValidationFailed
from apps.financing.disbursement import loan_disburse
from apps.financing.models import LoanProduct, ProductKind
from apps.financing.products import loan_product_save, loan_products_default_ensure
from apps.repayments.models import RepaymentAllocation
from apps.repayments.services import repayment_post
from tests.conftest import TODAY

D = Decimal


def _product(lender, code):
    loan_products_default_ensure(lender=lender)
    return LoanProduct.objects.get(lender=lender, code=code)


def test_every_lender_starts_with_an_advance_and_three_term_loans(lender, other_lender):
    loan_products_default_ensure(lender=lender)
    loan_products_default_ensure(lender=lender)  # idempotent
    rows = {p.code: p for p in LoanProduct.objects.filter(lender=lender)}
    assert set(rows) == {"presale_advance", "term_equal_installment", "term_equal_principal", "term_interest_only"}
    advance = rows["presale_advance"]
    assert (advance.kind, advance.method, advance.grace_days, advance.fee_rate, advance.day_count) == (
        ProductKind.PRESALE_ADVANCE, "bullet", 7, D("0.0010"), "ACT/360")
    assert (rows["term_equal_installment"].min_term_months, rows["term_equal_installment"].max_term_months) == (3, 36)
    assert not LoanProduct.objects.filter(lender=other_lender).exists()  # another lender's are its own


def test_the_advance_is_priced_and_disbursed_on_its_products_terms(accepted, lender, staff):
    advance = _product(lender, "presale_advance")
    loan_product_save(lender=lender, actor=staff[Role.LENDER_ADMIN], product=advance, grace_days=10,
                      fee_rate=D("0.0020"), day_count="ACT/365", penalty_annual_rate=D("0.1500"))
    application = accepted("1000.00")  # orders settle in 30 days
    offer = application.offer
    assert offer.maturity_date == TODAY + datetime.timedelta(days=40)  # latest settlement + the product's 10 grace days
    assert offer.fee == D("2.00") and offer.day_count == "ACT/365"
    # 1,000.00 × 7% (grade A) × 40 / 365 = 7.671… → 7.67
    assert offer.interest == D("7.67")
    loan = loan_disburse(application=application, actor="t")
    loan_product_save(lender=lender, actor=staff[Role.LENDER_ADMIN], product=advance, penalty_annual_rate=D("0.2000"))
    loan.refresh_from_db()
    assert (loan.penalty_annual_rate, loan.day_count, loan.product) == (D("0.1500"), "ACT/365", "presale_advance")


def test_a_product_picks_its_allocation_strategy_by_name(term_loan, lender, staff):
    loan_product_save(lender=lender, actor=staff[Role.LENDER_ADMIN], product=_product(lender, "term_equal_principal"),
                      allocation_strategy="oldest_installment_first", penalty_annual_rate=D("0"))
    loan = term_loan(product="term_equal_principal", months=12)
    assert loan.allocation_strategy == "oldest_installment_first"
    first, second = list(loan.installments.all())[:2]
    # Both installments past due (no penalty on this product): the default order would take both interests
    # (60.00 + 55.00) before any principal;
    # oldest-first settles installment 1 in full (1,060.00) before touching installment 2.
    repayment = repayment_post(loan=loan, amount=D("1100.00"), source="portal", reference="r", actor="m",
                               received_on=second.due_date + datetime.timedelta(days=1))
    got = [(a.installment_id, a.component, a.amount) for a in RepaymentAllocation.objects.filter(repayment=repayment)]
    assert got[:3] == [(first.pk, "interest", D("60.00")), (first.pk, "principal", D("1000.00")),
                       (second.pk, "interest", D("40.00"))]


@pytest.mark.parametrize("changes, code", [
    ({"allocation_strategy": "whatever_first"}, "ALLOCATION_STRATEGY_UNKNOWN"),
    ({"min_term_months": 12, "max_term_months": 6}, "TERM_LIMITS_INVALID"),
    ({"max_term_months": 601}, "TERM_LIMITS_INVALID"),
    ({"fee_rate": D("0.0100")}, "TERM_LOAN_NO_FEE"),
    ({"grace_days": 3}, "TERM_LOAN_NO_FEE"),
    ({"penalty_annual_rate": D("-0.01")}, "RATE_INVALID"),
    ({"day_count": "30/360"}, "DAY_COUNT_INVALID"),
    ({"min_amount": D("5000.00"), "max_amount": D("1000.00")}, "AMOUNT_LIMITS_INVALID"),
    ({"kind": "term_loan"}, "VALIDATION_ERROR"),  # kind, method and code never change
])
def test_bad_product_terms_are_refused_and_nothing_changes(lender, staff, changes, code):
    product = _product(lender, "term_equal_installment")
    with pytest.raises(ValidationFailed) as exc:
        loan_product_save(lender=lender, actor=staff[Role.LENDER_ADMIN], product=product, **changes)
    assert exc.value.code == code
    product.refresh_from_db()
    assert (product.allocation_strategy, product.max_term_months, product.fee_rate) == ("default", 36, 0)


def test_every_staff_member_reads_the_products(client, staff, lender):
    client.force_login(staff[Role.COLLECTOR])
    page = client.get("/backoffice/products/").content.decode()
    assert "presale_advance" in page and "Term loan, equal principal" in page and "3–36 months" in page
    product = LoanProduct.objects.get(lender=lender, code="term_equal_installment")
    assert client.get(f"/backoffice/products/{product.pk}/").status_code == 403
    assert client.post(f"/backoffice/products/{product.pk}/", {"name": "x"}).status_code == 403


def _form(product, **changes):
    values = {"name": product.name, "min_term_months": product.min_term_months, "max_term_months": product.max_term_months,
              "min_amount": product.min_amount, "max_amount": product.max_amount, "day_count": product.day_count,
              "penalty_annual_rate": product.penalty_annual_rate, "grace_days": product.grace_days,
              "fee_rate": product.fee_rate, "allocation_strategy": product.allocation_strategy, "is_active": "on",
              "effective_from": product.effective_from.isoformat()}
    return {k: "" if v is None else v for k, v in {**values, **changes}.items()}


def test_an_admin_changes_a_product_through_the_form_and_it_is_audited(client, staff, lender):
    product = _product(lender, "term_equal_installment")
    client.force_login(staff[Role.LENDER_ADMIN])
    response = client.post(f"/backoffice/products/{product.pk}/", _form(product, max_term_months=24,
                                                                       penalty_annual_rate="0.1200"), follow=True)
    assert "saved" in response.content.decode()
    product.refresh_from_db()
    assert (product.max_term_months, product.penalty_annual_rate) == (24, D("0.1200"))
    event = audit_trail_for(product).get()
    assert event.action == "loan_product_changed" and "max_term_months: 36 → 24" in event.reason
    assert event.actor_label == staff[Role.LENDER_ADMIN].username


def test_a_bad_form_is_explained_and_changes_nothing(client, staff, lender):
    product = _product(lender, "term_equal_installment")
    client.force_login(staff[Role.LENDER_ADMIN])
    response = client.post(f"/backoffice/products/{product.pk}/", _form(product, fee_rate="0.0100"))
    assert response.status_code == 400 and "Term loans carry no fee" in response.content.decode()
    response = client.post(f"/backoffice/products/{product.pk}/", _form(product, penalty_annual_rate="lots"))
    assert response.status_code == 400 and "Enter a number" in response.content.decode()
    product.refresh_from_db()
    assert product.fee_rate == 0 and not audit_trail_for(product).exists()


def test_an_admin_adds_a_product(client, staff, lender):
    loan_products_default_ensure(lender=lender)
    client.force_login(staff[Role.LENDER_ADMIN])
    form = {"code": "term_short", "kind": "term_loan", "method": "equal_principal", "name": "Short term loan",
            "min_term_months": 1, "max_term_months": 6, "min_amount": "500.00", "max_amount": "50000.00",
            "day_count": "ACT/365", "penalty_annual_rate": "0.0900", "grace_days": 0, "fee_rate": "0",
            "allocation_strategy": "default", "is_active": "on", "effective_from": TODAY.isoformat()}
    assert client.post("/backoffice/products/new/", form).status_code == 302
    created = LoanProduct.objects.get(lender=lender, code="term_short")
    assert (created.method, created.day_count, created.max_term_months) == ("equal_principal", "ACT/365", 6)
    again = client.post("/backoffice/products/new/", form)
    assert again.status_code == 400 and "exists already" in again.content.decode()


def test_another_lenders_product_is_not_found(client, staff, other_lender):
    foreign = _product(other_lender, "term_equal_installment")
    client.force_login(staff[Role.LENDER_ADMIN])
    assert client.get(f"/backoffice/products/{foreign.pk}/").status_code == 404
    assert client.post(f"/backoffice/products/{foreign.pk}/", _form(foreign, name="Mine now")).status_code == 404
    foreign.refresh_from_db()
    assert foreign.name != "Mine now"
