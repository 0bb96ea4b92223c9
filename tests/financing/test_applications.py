import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.utils import timezone

from apps.accounts.models import Role
from apps.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from apps.financing.application_services import (
    OfferExpired,
    application_review,
    application_submit,
    offer_accept,
    offers_expire,
)
from apps.financing.disbursement import loan_disburse
from apps.financing.models import ApplicationState, FinancingApplication, Offer, Pledge
from apps.financing.selectors import borrowing_base_get
from apps.repayments.models import Loan, LoanState
from apps.repayments.selectors import payoff_quote
from apps.repayments.services import repayment_post
from tests.conftest import TODAY

D = Decimal


def _apply(merchant, orders, amount, actor="merchant"):
    return application_submit(merchant=merchant, order_ids=[o.pk for o in orders], amount=amount, actor=actor, as_of=TODAY)


def test_a_clean_application_is_approved_and_priced_without_upfront_deduction(verified, graded, open_orders):
    merchant = graded(verified, "A")
    orders = open_orders(merchant)
    application = _apply(merchant, orders, "4000.00")
    assert application.state == ApplicationState.APPROVED
    assert [(r.rule, r.outcome) for r in application.decision_results.all()] == [
        ("kyc", "pass"), ("grade", "pass"), ("limit_frozen", "pass"), ("credit_limit", "pass"), ("borrowing_base", "pass"),
        ("single_borrower", "pass"), ("lender_capacity", "pass"), ("apr_ceiling", "pass")]
    offer = Offer.objects.get(application=application)
    # 4,000 at 7% ACT/360 for 30 days + 7 grace = 37 days → 28.78 interest; fee 0.1% = 4.00, paid at maturity
    assert (offer.principal, offer.interest, offer.fee, offer.total_cost) == (D("4000.00"), D("28.78"), D("4.00"), D("32.78"))
    assert offer.maturity_date == TODAY + datetime.timedelta(days=37)
    assert offer.schedule[0]["total"] == "4032.78"
    assert offer.apr == D("0.0838")  # (4032.78 / 4000)^(365/37) − 1


def test_grade_d_is_referred_and_a_credit_officer_decides_with_a_note(verified, graded, open_orders, staff):
    merchant = graded(verified, "D")
    application = _apply(merchant, open_orders(merchant), "2000.00")
    assert application.state == ApplicationState.REFERRED
    assert "needs a credit officer's review" in application.decision_note
    with pytest.raises(Forbidden):
        application_review(application=application, actor=staff[Role.COLLECTOR], approve=True, note="ok")
    with pytest.raises(ValidationFailed, match="note is required"):
        application_review(application=application, actor=staff[Role.CREDIT_OFFICER], approve=True, note="")
    application_review(application=application, actor=staff[Role.CREDIT_OFFICER], approve=True, note="Strong sales",
                       as_of=TODAY)
    application = FinancingApplication.objects.get(pk=application.pk)
    assert application.state == ApplicationState.APPROVED and application.offer.annual_rate == D("0.1000")


def test_grade_e_is_declined_with_the_reason(verified, graded, open_orders):
    merchant = graded(verified, "E")
    orders = open_orders(merchant)
    with pytest.raises(ValidationFailed, match="support at most 0.00"):
        _apply(merchant, orders, "100.00")


@pytest.mark.parametrize("limit,state,phrase", [
    ("3500.00", ApplicationState.REFERRED, "within the review band"),
    ("2000.00", ApplicationState.REJECTED, "Above the credit limit: already owed 0.00 + requested 4,000.00"),
])
def test_the_credit_limit_refers_or_declines(verified, graded, open_orders, limit, state, phrase):
    merchant = graded(verified, "A", limit=limit)
    application = _apply(merchant, open_orders(merchant), "4000.00")
    assert application.state == state
    assert phrase in application.decision_results.get(rule="credit_limit").reason


def test_asking_for_more_than_the_selected_orders_support_is_refused(verified, graded, open_orders):
    merchant = graded(verified, "A")
    orders = open_orders(merchant)
    with pytest.raises(ValidationFailed) as exc:
        _apply(merchant, orders[:2], "1801.00")  # 2 × 1,000 × 0.90 = 1,800
    assert exc.value.code == "BORROWING_BASE_EXCEEDED" and "at most 1,800.00" in exc.value.message
    assert not FinancingApplication.objects.exists()


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1.001", ""])
def test_bad_amounts_are_refused(verified, graded, open_orders, amount):
    merchant = graded(verified, "A")
    with pytest.raises(ValidationFailed):
        _apply(merchant, open_orders(merchant, 1), amount)
    assert not FinancingApplication.objects.exists()


def test_another_merchants_orders_are_not_found(verified, graded, open_orders, other_merchant_user):
    merchant = graded(verified, "A")
    theirs = open_orders(other_merchant_user.merchant, 1)
    with pytest.raises(NotFound, match="No open order of yours"):
        _apply(merchant, open_orders(merchant, 1) + theirs, "100.00")


def test_unverified_merchants_are_declined_with_the_kyc_reason(merchant, graded, open_orders):
    merchant = graded(merchant, "A")
    application = _apply(merchant, open_orders(merchant, 1), "100.00")
    assert application.state == ApplicationState.REJECTED
    assert application.decision_results.get(rule="kyc").reason == "KYC is draft, not verified."
    assert not Offer.objects.exists()


def test_accepting_pledges_the_orders_and_reduces_the_base(verified, graded, open_orders):
    merchant = graded(verified, "A")
    orders = open_orders(merchant)
    before = borrowing_base_get(merchant=merchant, as_of=TODAY).base
    application = _apply(merchant, orders[:2], "1800.00")
    offer_accept(application=application, actor="merchant")
    assert Pledge.objects.filter(application=application, released_at__isnull=True).count() == 2
    after = borrowing_base_get(merchant=merchant, as_of=TODAY)
    assert after.owed == D("1800.00") and after.base == before - D("1800.00")
    pledged = next(r for r in after.orders if r.order.pk == orders[0].pk)
    assert not pledged.selectable and f"Pledged to application #{application.pk}" in pledged.reason
    with pytest.raises(ValidationFailed, match="Pledged to application"):
        _apply(merchant, orders[:1], "100.00")


def test_what_is_owed_falls_as_the_loan_is_repaid_and_a_paid_off_loan_owes_nothing(accepted):
    loan = loan_disburse(application=accepted("1800.00"), actor="treasurer")
    merchant = loan.merchant

    def owed():
        return borrowing_base_get(merchant=merchant, as_of=TODAY).owed

    assert owed() == D("1800.00")
    repayment_post(loan=loan, amount=D("500.00"), source="portal", reference="part", actor="m")
    assert owed() == D("1800.00") - loan.installments.get().principal_paid
    repayment_post(loan=loan, amount=payoff_quote(loan=loan, on=TODAY)["total"], source="portal", reference="rest",
                   actor="m")
    assert Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF and owed() == 0


def test_an_offer_cannot_be_accepted_twice(verified, graded, open_orders):
    merchant = graded(verified, "A")
    application = _apply(merchant, open_orders(merchant, 4)[:1], "900.00")
    offer_accept(application=application, actor="merchant")
    with pytest.raises(InvalidTransition, match="offer accepted"):
        offer_accept(application=application, actor="merchant")


def test_an_expired_offer_is_refused_and_later_expired(verified, graded, open_orders):
    merchant = graded(verified, "A")
    application = _apply(merchant, open_orders(merchant, 4)[:1], "900.00")
    Offer.objects.filter(application=application).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    with pytest.raises(OfferExpired):
        offer_accept(application=application, actor="merchant")
    assert not Pledge.objects.exists()
    assert offers_expire() == 1
    assert FinancingApplication.objects.get(pk=application.pk).state == ApplicationState.EXPIRED


def test_two_offers_on_the_same_order_cannot_both_be_accepted(verified, graded, open_orders):
    merchant = graded(verified, "A")
    order = open_orders(merchant, 4)[:1]
    first = _apply(merchant, order, "400.00")
    second = _apply(merchant, order, "400.00")  # both approved before either is accepted
    offer_accept(application=first, actor="merchant")
    with pytest.raises(Conflict) as exc:
        offer_accept(application=second, actor="merchant")
    assert exc.value.code == "ORDER_ALREADY_PLEDGED"
    assert FinancingApplication.objects.get(pk=second.pk).state == ApplicationState.APPROVED


def test_the_database_allows_one_live_pledge_per_order(verified, graded, open_orders):
    merchant = graded(verified, "A")
    order = open_orders(merchant, 4)[0]
    application = _apply(merchant, [order], "100.00")
    Pledge.objects.create(order=order, application=application)
    with pytest.raises(IntegrityError):
        Pledge.objects.create(order=order, application=application)


def test_a_released_order_can_back_a_new_application(verified, graded, open_orders):
    from apps.financing.application_services import pledges_release

    merchant = graded(verified, "A")
    orders = open_orders(merchant, 4)
    first = _apply(merchant, orders[:1], "500.00")
    offer_accept(application=first, actor="merchant")
    assert pledges_release(application=first, actor="system:repayments", reason="Loan repaid") == 1
    second = _apply(merchant, orders[:1], "500.00")
    offer_accept(application=second, actor="merchant")
    assert Pledge.objects.filter(order=orders[0], released_at__isnull=True).get().application == second


def test_the_single_borrower_limit_declines_with_the_numbers(verified, graded, open_orders, lender, staff):
    from apps.ledger.services import loan_funding_post

    merchant = graded(verified, "A", limit="900000.00")
    # 10,000,000 of capital → a 500,000.00 single-borrower limit; the merchant already owes 499,500.00.
    loan_funding_post(lender=lender, merchant=merchant, amount=D("499500.00"), reference="earlier-loan", actor="test")
    application = _apply(merchant, open_orders(merchant, 4)[:2], "1000.00")
    assert application.state == ApplicationState.REJECTED
    assert application.decision_results.get(rule="single_borrower").reason == (
        "Over the single-borrower limit: exposure 499,500.00 + requested 1,000.00 = 500,500.00; "
        "single-borrower limit 500,000.00.")


def test_short_lender_cash_refers_the_application(verified, graded, open_orders, lender):
    from apps.ledger.services import loan_funding_post
    from tests.merchants.factories import MerchantFactory

    merchant = graded(verified, "A")
    for n in range(20):  # lend all but 500.00 of the 10,000,000.00 elsewhere
        loan_funding_post(lender=lender, merchant=MerchantFactory(lender=lender), amount=D("499975.00"),
                          reference=f"elsewhere-{n}", actor="test")
    application = _apply(merchant, open_orders(merchant, 4)[:2], "1000.00")
    assert application.state == ApplicationState.REFERRED
    assert application.decision_results.get(rule="lender_capacity").reason == (
        "The lender has 500.00 cash for a 1,000.00 advance; funding must be arranged.")


def test_an_offer_above_the_apr_ceiling_is_declined(verified, graded, open_orders, lender):
    from apps.financing.models import FinancingPolicy

    FinancingPolicy.objects.create(lender=lender, version=2, effective_from=TODAY - datetime.timedelta(days=1),
                                   advance_rates={"A": "0.90"}, annual_rates={"A": "0.2400"})
    merchant = graded(verified, "A")
    application = _apply(merchant, open_orders(merchant, 4)[:2], "1000.00")
    assert application.state == ApplicationState.REJECTED
    reason = application.decision_results.get(rule="apr_ceiling").reason
    assert reason.startswith("Above the cost ceiling: APR 2") and "ceiling of 12.00% (4 × LPR)" in reason
    assert not Offer.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_racing_acceptances_never_pledge_an_order_twice(lender_funded, verified, graded, open_orders):
    import threading

    from django.db import connection

    merchant = graded(verified, "A")
    order = open_orders(merchant, 4)[:1]
    applications = [_apply(merchant, order, "300.00") for _ in range(8)]
    outcomes, barrier = [], threading.Barrier(8)

    def accept(application):
        barrier.wait()
        try:
            offer_accept(application=application, actor="racer")
            outcomes.append("accepted")
        except Conflict:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(a,)) for a in applications]
    [t.start() for t in threads]
    [t.join(timeout=60) for t in threads]
    assert sorted(outcomes) == ["accepted"] + ["refused"] * 7
    assert Pledge.objects.filter(order=order[0], released_at__isnull=True).count() == 1
