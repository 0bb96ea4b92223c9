import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection

from apps.core.errors import Conflict, InvalidTransition
from apps.financing.application_services import application_submit, offer_accept
from apps.financing.disbursement import disbursement_attempt, loan_disburse
from apps.financing.models import ApplicationState, FinancingApplication
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get, merchant_exposure_get, trial_balance_all_currencies_zero
from apps.partners.models import CoLendingAgreement
from apps.repayments.models import Loan, LoanState
from tests.conftest import TODAY

D = Decimal


def test_disbursement_funds_the_loan_in_the_ledger_and_creates_its_schedule(accepted, lender):
    application = accepted("1500.00")
    cash_before = balances_by_code_get(lender=lender)[Acct.CASH]
    loan = loan_disburse(application=application, actor="treasurer")
    assert (loan.state, loan.principal, loan.lender_principal, loan.partner_principal) == (
        LoanState.ACTIVE, D("1500.00"), D("1500.00"), D("0.00"))
    balances = balances_by_code_get(lender=lender)
    assert cash_before - balances[Acct.CASH] == D("1500.00")
    assert balances[Acct.LOANS_PRINCIPAL] == D("1500.00")
    assert merchant_exposure_get(merchant=application.merchant) == D("1500.00")
    (installment,) = loan.installments.all()
    assert installment.principal_due == D("1500.00") and installment.due_date == application.offer.maturity_date
    assert FinancingApplication.objects.get(pk=application.pk).state == ApplicationState.DISBURSED
    assert trial_balance_all_currencies_zero(lender=lender)


def test_the_merchant_is_told_after_commit(accepted, django_capture_on_commit_callbacks):
    application = accepted("1000.00")
    with django_capture_on_commit_callbacks(execute=True):
        loan_disburse(application=application, actor="treasurer")
    assert len(mail.outbox) == 1 and "1,000.00 CNY is on its way" in mail.outbox[0].subject


def test_a_co_lent_loan_books_the_partner_share_as_due_to_the_bank(accepted, lender, bank_client):
    CoLendingAgreement.objects.create(lender=lender, partner_bank=bank_client.partner_bank, share=D("0.7000"),
                                      annual_rate=D("0.05"), exposure_limit=D("100000.00"), auto_accept=True,
                                      effective_from=TODAY)
    loan = loan_disburse(application=accepted("1000.00"), actor="treasurer")
    assert (loan.lender_principal, loan.partner_principal, loan.partner_bank) == (
        D("300.00"), D("700.00"), bank_client.partner_bank)
    balances = balances_by_code_get(lender=lender)
    assert balances[Acct.LOANS_PRINCIPAL] == D("1000.00") and balances[Acct.DUE_TO_PARTNER_BANKS] == D("-700.00")
    assert merchant_exposure_get(merchant=loan.merchant) == D("300.00")  # the lender's own risk


def test_a_share_the_bank_has_not_answered_holds_the_disbursement(accepted, lender, bank_client):
    CoLendingAgreement.objects.create(lender=lender, partner_bank=bank_client.partner_bank, share=D("0.5000"),
                                      annual_rate=D("0.05"), exposure_limit=D("100000.00"), effective_from=TODAY)
    application = accepted("1000.00")
    loan, waiting = disbursement_attempt(application=application, actor="treasurer")
    assert loan is None and "has not answered its share yet" in waiting
    with pytest.raises(Conflict):
        loan_disburse(application=application, actor="treasurer")
    assert not Loan.objects.exists()


def test_a_loan_is_disbursed_once(accepted):
    application = accepted("1000.00")
    loan_disburse(application=application, actor="treasurer")
    with pytest.raises(InvalidTransition, match="disbursed"):
        loan_disburse(application=application, actor="treasurer")
    assert Loan.objects.count() == 1


def _drain_cash_leaving(lender, left: Decimal) -> None:
    """Lend the lender's cash to 20 other borrowers (each within its single-borrower limit) until `left` remains."""
    from apps.ledger.services import loan_funding_post
    from tests.merchants.factories import MerchantFactory

    cash = balances_by_code_get(lender=lender)[Acct.CASH]
    for n in range(20):
        loan_funding_post(lender=lender, merchant=MerchantFactory(lender=lender), amount=(cash - left) / 20,
                          reference=f"drain-{n}", actor="test")


def test_short_cash_refuses_and_leaves_the_books_unchanged(accepted, lender):
    application = accepted("1000.00")
    _drain_cash_leaving(lender, D("500.00"))
    before = balances_by_code_get(lender=lender)
    loan, waiting = disbursement_attempt(application=application, actor="treasurer")
    assert loan is None and "cash" in waiting.lower()
    assert balances_by_code_get(lender=lender) == before
    assert FinancingApplication.objects.get(pk=application.pk).state == ApplicationState.OFFER_ACCEPTED


@pytest.mark.django_db(transaction=True)
def test_racing_disbursements_never_lend_more_cash_than_there_is(lender_funded, verified, graded, open_orders, lender):
    merchant = graded(verified, "A", limit="100000.00")
    orders = open_orders(merchant, 8)
    applications = []
    for i in range(8):
        application = application_submit(merchant=merchant, order_ids=[orders[i].pk], amount="800.00", actor="m")
        offer_accept(application=application, actor="m")
        applications.append(application)
    _drain_cash_leaving(lender, D("3000.00"))  # room for three of the eight 800.00 loans
    results, barrier = [], threading.Barrier(8)

    def disburse(application):
        barrier.wait()
        try:
            results.append(disbursement_attempt(application=application, actor="racer")[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=disburse, args=(a,)) for a in applications]
    [t.start() for t in threads]
    [t.join(timeout=60) for t in threads]
    assert sum(1 for r in results if r) == 3 and len(results) == 8
    assert balances_by_code_get(lender=lender)[Acct.CASH] == D("600.00")
    assert trial_balance_all_currencies_zero(lender=lender)


def test_a_loan_disbursed_days_after_its_offer_runs_from_the_day_the_money_went_out(accepted, lender):
    import datetime
    from unittest import mock

    from apps.core.audit import audit_trail_for
    from apps.ledger.models import JournalEntry
    from apps.repayments.selectors import payoff_quote

    application = accepted("1000.00")
    offer = application.offer
    later = TODAY + datetime.timedelta(days=10)
    with mock.patch("django.utils.timezone.localdate", return_value=later):
        loan = loan_disburse(application=application, actor="treasurer")
        quote = payoff_quote(loan=loan, on=later)
    assert (loan.start_date, loan.maturity_date) == (later, offer.maturity_date)  # still due when its orders settle
    assert quote["interest"] == 0 and quote["fee"] == 0  # nothing owed for the days before the money went out
    installment = loan.installments.get()
    days, offered_days = (offer.maturity_date - later).days, (offer.maturity_date - offer.start_date).days
    assert installment.interest_due < offer.interest and installment.fee_due == round(offer.fee * days / offered_days, 2)
    assert loan.apr * 100 <= 24 and loan.apr != offer.apr  # priced again: the fee over fewer days
    assert set(JournalEntry.objects.filter(reference__startswith=f"disbursement:{application.pk}:")
               .values_list("business_date", flat=True)) == {later}
    assert "terms_dated_from_disbursement" in [e.action for e in audit_trail_for(loan)]


def test_a_term_loan_disbursed_late_runs_its_months_from_that_day(term_merchant):
    import datetime
    from unittest import mock

    from apps.financing.application_services import term_loan_apply
    from apps.repayments.schedules import add_months

    application = term_loan_apply(merchant=term_merchant, product="term_equal_installment", amount="12000.00",
                                  term_months=12, actor="m", as_of=TODAY)
    offer_accept(application=application, actor="m")
    later = TODAY + datetime.timedelta(days=5)
    with mock.patch("django.utils.timezone.localdate", return_value=later):
        loan = loan_disburse(application=application, actor="treasurer")
    rows = list(loan.installments.order_by("number"))
    assert rows[0].due_date == add_months(later, 1) and loan.maturity_date == add_months(later, 12)
    assert sum(r.interest_due for r in rows) == application.offer.interest  # the same months, the same price


def test_a_product_edited_after_acceptance_does_not_change_a_late_disbursed_loan(accepted):
    import datetime
    from unittest import mock

    from apps.financing.models import LoanProduct

    application = accepted("1000.00")
    offer = application.offer
    # The lender admin edits the advance product after the merchant accepted (new applications only).
    LoanProduct.objects.filter(pk=application.product_id).update(grace_days=30, day_count="ACT/365")
    later = TODAY + datetime.timedelta(days=2)
    with mock.patch("django.utils.timezone.localdate", return_value=later):
        loan = loan_disburse(application=application, actor="treasurer")
    # The accepted contract: its day count, due when the offer said, no more interest than offered for fewer days.
    assert (loan.day_count, loan.maturity_date) == (offer.day_count, offer.maturity_date)
    assert loan.installments.get().interest_due <= offer.interest


def test_the_merchant_and_staff_see_that_a_late_loan_runs_from_its_disbursement(accepted, client, staff):
    import datetime
    from unittest import mock

    from apps.accounts.models import Role, User

    application = accepted("1000.00")
    later = TODAY + datetime.timedelta(days=4)
    with mock.patch("django.utils.timezone.localdate", return_value=later):
        loan_disburse(application=application, actor="treasurer")
    said = f"the loan runs from {later.isoformat()}"
    client.force_login(User.objects.filter(merchant=application.merchant).first())
    assert said in client.get(f"/portal/applications/{application.pk}/").content.decode()
    client.force_login(staff[Role.CREDIT_OFFICER])
    assert said in client.get(f"/backoffice/applications/{application.pk}/").content.decode()
