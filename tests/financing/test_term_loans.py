"""Term loans through applications: apply under a product, decide, offer, accept, disburse, repay monthly."""

from decimal import Decimal

import pytest

from apps.core.errors import DomainError, NotFound, ValidationFailed
from apps.financing.application_services import offer_accept, term_loan_apply
from apps.financing.disbursement import loan_disburse
from apps.financing.models import ApplicationState, FinancingApplication, LoanProduct, Pledge
from apps.financing.products import loan_products_default_ensure
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get, trial_balance_all_currencies_zero
from apps.repayments.models import LoanState
from apps.repayments.schedules import add_months
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post
from tests.conftest import TODAY

D = Decimal
# 12,000.00 over 12 months at 6% a year (0.5% a month), equal installments: the level payment is
# 12000 × 0.005 / (1 − 1.005^−12) = 1,032.7984… → 1,032.80; interest is the balance × 0.005 each month,
# ROUND_HALF_UP; the last month takes the remaining balance. Worked out with exact fractions outside the app.
EXPECTED = [("972.80", "60.00"), ("977.66", "55.14"), ("982.55", "50.25"), ("987.47", "45.33"), ("992.40", "40.40"),
            ("997.36", "35.44"), ("1002.35", "30.45"), ("1007.36", "25.44"), ("1012.40", "20.40"), ("1017.46", "15.34"),
            ("1022.55", "10.25"), ("1027.64", "5.14")]


def _apply(merchant, **overrides):
    values = dict(product="term_equal_installment", amount="12000.00", term_months=12, actor="m", as_of=TODAY)
    return term_loan_apply(merchant=merchant, **{**values, **overrides})


def _books_reconcile(lender):
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    assert trial_balance_all_currencies_zero(lender=lender)


def test_a_term_loan_is_decided_offered_disbursed_and_repaid_monthly(term_merchant, lender):
    application = _apply(term_merchant)
    assert application.state == ApplicationState.APPROVED
    verdicts = {r.rule: r for r in application.decision_results.all()}
    assert verdicts["borrowing_base"].outcome == "pass" and "not secured by orders" in verdicts["borrowing_base"].reason
    assert verdicts["credit_limit"].outcome == "pass"
    offer = application.offer
    assert [(row["principal"], row["interest"]) for row in offer.schedule] == EXPECTED
    assert [row["due_date"] for row in offer.schedule] == [str(add_months(TODAY, n)) for n in range(1, 13)]
    assert (offer.principal, offer.interest, offer.fee, offer.maturity_date) == (D("12000.00"), D("393.58"), 0,
                                                                                 add_months(TODAY, 12))
    assert D("0.0610") < offer.apr < D("0.0630")  # 0.5% a month compounds to about 6.17% a year

    offer_accept(application=application, actor="m")
    assert not Pledge.objects.filter(application=application).exists()
    loan = loan_disburse(application=application, actor="treasurer")
    assert (loan.product, loan.repayment_method, loan.allocation_strategy, loan.penalty_annual_rate, loan.day_count) == (
        "term_loan", "equal_installment", "default", D("0.1000"), "ACT/360")
    assert [(str(i.principal_due), str(i.interest_due)) for i in loan.installments.all()] == EXPECTED
    assert balances_by_code_get(lender=lender)[Acct.LOANS_PRINCIPAL] == D("12000.00")
    _books_reconcile(lender)

    for n, installment in enumerate(loan.installments.all(), start=1):
        repayment_post(loan=loan, amount=installment.principal_due + installment.interest_due, source="portal",
                       reference=f"month-{n}", actor="m", received_on=installment.due_date)
    loan.refresh_from_db()
    assert loan.state == LoanState.PAID_OFF
    balances = balances_by_code_get(lender=lender)
    assert balances[Acct.LOANS_PRINCIPAL] == 0 and balances[Acct.LOANS_INTEREST] == 0
    assert balances[Acct.INTEREST_INCOME] == D("-393.58")  # a credit balance: income earned
    _books_reconcile(lender)


@pytest.mark.parametrize("product, months, first_rows", [
    # 等额本金: 1,000.00 of principal a month, interest on the falling balance.
    ("term_equal_principal", 12, [("1000.00", "60.00"), ("1000.00", "55.00"), ("1000.00", "50.00")]),
    # Interest only: 60.00 a month, the principal with the last month.
    ("term_interest_only", 3, [("0.00", "60.00"), ("0.00", "60.00"), ("12000.00", "60.00")]),
])
def test_each_term_product_builds_its_own_schedule(term_loan, product, months, first_rows):
    loan = term_loan(product=product, months=months)
    rows = list(loan.installments.all())
    assert len(rows) == months and loan.repayment_method == product.removeprefix("term_")
    assert [(str(i.principal_due), str(i.interest_due)) for i in rows[:3]] == first_rows
    assert sum(i.principal_due for i in rows) == D("12000.00")


def test_the_credit_limit_still_decides_a_term_loan(verified, graded, six_percent):
    merchant = graded(verified, "A", limit="5000.00")
    application = _apply(merchant)
    assert application.state == ApplicationState.REJECTED
    assert "Above the credit limit" in application.decision_note and "limit 5,000.00" in application.decision_note


@pytest.mark.parametrize("overrides, error, code", [
    ({"amount": "0"}, ValidationFailed, "AMOUNT_INVALID"),
    ({"amount": "-100.00"}, ValidationFailed, "AMOUNT_INVALID"),
    ({"amount": "12000.001"}, ValidationFailed, "AMOUNT_INVALID"),
    ({"amount": "1e30"}, ValidationFailed, "AMOUNT_INVALID"),
    ({"amount": "twelve"}, ValidationFailed, "AMOUNT_INVALID"),
    ({"amount": "999.99"}, ValidationFailed, "AMOUNT_OUTSIDE_PRODUCT_LIMITS"),  # the product lends from 1,000.00
    ({"amount": "2000000.01"}, ValidationFailed, "AMOUNT_OUTSIDE_PRODUCT_LIMITS"),
    ({"term_months": 2}, ValidationFailed, "TERM_OUTSIDE_PRODUCT_LIMITS"),  # 3–36 months
    ({"term_months": 37}, ValidationFailed, "TERM_OUTSIDE_PRODUCT_LIMITS"),
    ({"term_months": "12"}, ValidationFailed, "TERM_INVALID"),
    ({"term_months": None}, ValidationFailed, "TERM_INVALID"),
    ({"product": "no_such_product"}, NotFound, "PRODUCT_NOT_FOUND"),
    ({"product": 987654}, NotFound, "PRODUCT_NOT_FOUND"),
    ({"product": "presale_advance"}, ValidationFailed, "PRODUCT_NOT_TERM_LOAN"),
])
def test_bad_input_is_refused_and_nothing_is_written(term_merchant, overrides, error, code):
    with pytest.raises(error) as exc:
        _apply(term_merchant, **overrides)
    assert exc.value.code == code and exc.value.status in (400, 404)
    assert not FinancingApplication.objects.exists()


def test_another_lenders_product_does_not_exist_for_the_merchant(term_merchant, other_lender):
    loan_products_default_ensure(lender=other_lender)
    foreign = LoanProduct.objects.get(lender=other_lender, code="term_equal_installment")
    with pytest.raises(NotFound):
        _apply(term_merchant, product=foreign.pk)
    with pytest.raises(NotFound):
        _apply(term_merchant, product=foreign)
    assert not FinancingApplication.objects.exists()


def test_a_withdrawn_product_takes_no_applications(term_merchant, lender):
    loan_products_default_ensure(lender=lender)
    LoanProduct.objects.filter(lender=lender, code="term_equal_installment").update(is_active=False)
    with pytest.raises(ValidationFailed) as exc:
        _apply(term_merchant)
    assert exc.value.code == "PRODUCT_NOT_AVAILABLE" and not FinancingApplication.objects.exists()


def test_an_unverified_merchant_is_told_why(merchant, six_percent):
    with pytest.raises(DomainError) as exc:
        _apply(merchant)
    assert exc.value.code == "MERCHANT_NOT_ELIGIBLE" and "verified KYC" in exc.value.message
    assert not FinancingApplication.objects.exists()


def test_the_merchant_applies_in_the_portal_and_accepts(client, merchant_user, term_merchant, lender):
    client.force_login(merchant_user)
    page = client.get("/portal/term-loans/").content.decode()
    assert "Term loan, equal installments" in page and "3–36 months" in page
    product = LoanProduct.objects.get(lender=lender, code="term_equal_installment")
    response = client.post("/portal/term-loans/", {"product": product.pk, "amount": "12000.00", "term_months": 12})
    application = FinancingApplication.objects.get()
    assert response.status_code == 302 and response.url == f"/portal/applications/{application.pk}/"
    page = client.get(response.url).content.decode()
    assert "over 12 months" in page and "1,032.80" in page and "nothing is deducted upfront" in page
    accepted = client.post(response.url, follow=True).content.decode()
    assert "Offer accepted and 12,000.00 disbursed in full" in accepted
    loan_page = client.get(f"/portal/loans/{application.loan.pk}/").content.decode()
    assert "Same installment, fewer months" in loan_page and "Lower installments, same number of months" in loan_page


@pytest.mark.parametrize("form, message", [
    ({"amount": "12000.00", "term_months": "48"}, "runs from 3 to 36 months; you asked for 48"),
    ({"amount": "-1", "term_months": "12"}, "greater than or equal to 0.01"),
    ({"amount": "12000.00", "term_months": "twelve"}, "Enter a whole number"),
])
def test_portal_form_errors_write_nothing(client, merchant_user, term_merchant, lender, form, message):
    client.force_login(merchant_user)
    loan_products_default_ensure(lender=lender)
    product = LoanProduct.objects.get(lender=lender, code="term_equal_installment")
    response = client.post("/portal/term-loans/", {"product": product.pk, **form})
    assert response.status_code == 400 and message in response.content.decode()
    assert not FinancingApplication.objects.exists()


def test_the_portal_offers_only_this_lenders_term_products(client, merchant_user, term_merchant, lender, other_lender):
    loan_products_default_ensure(lender=lender)
    loan_products_default_ensure(lender=other_lender)
    client.force_login(merchant_user)
    for product in (LoanProduct.objects.get(lender=other_lender, code="term_equal_installment"),
                    LoanProduct.objects.get(lender=lender, code="presale_advance")):
        response = client.post("/portal/term-loans/", {"product": product.pk, "amount": "12000.00", "term_months": 12})
        assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not FinancingApplication.objects.exists()


def test_the_back_office_shows_the_product_and_term(client, staff, term_merchant):
    from apps.accounts.models import Role

    application = _apply(term_merchant)
    client.force_login(staff[Role.CREDIT_OFFICER])
    page = client.get(f"/backoffice/applications/{application.pk}/").content.decode()
    assert "Term loan, equal installments (等额本息), 12 months" in page
