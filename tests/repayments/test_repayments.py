import datetime
from decimal import Decimal
from unittest import mock

import pytest

from apps.core.errors import Conflict, ReferenceReused
from apps.core.models import AuditEvent
from apps.financing.disbursement import loan_disburse
from apps.financing.models import Pledge
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get, merchant_exposure_get, trial_balance_all_currencies_zero
from apps.partners.models import CoLendingAgreement
from apps.repayments.models import Loan, LoanInstallment, LoanState, Repayment
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post, repayment_reverse
from tests.conftest import TODAY

D = Decimal


@pytest.fixture
def loan(accepted):
    return loan_disburse(application=accepted("1500.00"), actor="treasurer")


def _reconciles(lender, loan):
    """Sub-ledger totals equal the GL control accounts, to the cent."""
    balances = balances_by_code_get(lender=lender)
    installments = LoanInstallment.objects.filter(loan=loan)
    assert balances.get(Acct.LOANS_INTEREST, D(0)) == sum(i.interest_accrued - i.interest_paid for i in installments)
    assert balances.get(Acct.LOANS_FEES, D(0)) == sum(i.fee_accrued - i.fee_paid for i in installments)
    assert balances.get(Acct.LOANS_PRINCIPAL, D(0)) == sum(i.principal_due - i.principal_paid for i in installments)
    assert trial_balance_all_currencies_zero(lender=lender)


def test_repaying_at_maturity_pays_fee_interest_then_principal_and_closes_the_loan(loan, lender):
    installment = loan.installments.get()
    owed = installment.principal_due + installment.interest_due + installment.fee_due
    repayment = repayment_post(loan=loan, amount=owed, source="backoffice", reference="R1", actor="treasurer",
                               received_on=loan.maturity_date)
    assert [(a.component, a.amount) for a in repayment.allocations.all()] == [
        ("fee", installment.fee_due), ("interest", installment.interest_due), ("principal", D("1500.00"))]
    loan = Loan.objects.get(pk=loan.pk)
    assert loan.state == LoanState.PAID_OFF
    assert not Pledge.objects.filter(application=loan.application, released_at__isnull=True).exists()
    assert merchant_exposure_get(merchant=loan.merchant) == D("0.00")
    _reconciles(lender, loan)


def test_an_early_payoff_pays_interest_only_to_its_date(loan, lender):
    day = loan.start_date + datetime.timedelta(days=10)
    interest_to_date = (D("1500.00") * D("0.07") * 10 / 360).quantize(D("0.01"))
    fee_to_date = (D("1.50") * 10 / 37).quantize(D("0.01"))
    repayment_post(loan=loan, amount=D("1500.00") + interest_to_date + fee_to_date, source="portal", reference="P1",
                   actor="merchant", received_on=day)
    loan = Loan.objects.get(pk=loan.pk)
    assert loan.state == LoanState.PAID_OFF
    assert loan.installments.get().interest_due == interest_to_date
    _reconciles(lender, loan)


def test_an_overpayment_becomes_the_merchants_credit(loan, lender):
    repayment = repayment_post(loan=loan, amount=D("2000.00"), source="portal", reference="P1", actor="merchant",
                               received_on=loan.maturity_date)
    credit = repayment.allocations.get(component="credit").amount
    assert credit == D("2000.00") - sum(a.amount for a in repayment.allocations.exclude(component="credit"))
    assert balances_by_code_get(lender=lender)[Acct.MERCHANT_CREDIT] == -credit


def test_a_partial_payment_keeps_the_loan_open(loan, lender):
    repayment_post(loan=loan, amount=D("500.00"), source="portal", reference="P1", actor="merchant",
                   received_on=loan.start_date + datetime.timedelta(days=5))
    loan = Loan.objects.get(pk=loan.pk)
    assert loan.state == LoanState.ACTIVE
    _reconciles(lender, loan)


def test_the_same_reference_posts_once_and_a_different_amount_is_refused(loan):
    first = repayment_post(loan=loan, amount=D("100.00"), source="partner", reference="BANK-9", actor="api:bank",
                           received_on=TODAY)
    again = repayment_post(loan=loan, amount=D("100.00"), source="partner", reference="BANK-9", actor="api:bank",
                           received_on=TODAY)
    assert again.pk == first.pk and Repayment.objects.count() == 1
    with pytest.raises(ReferenceReused, match="already used") as refused:
        repayment_post(loan=loan, amount=D("101.00"), source="partner", reference="BANK-9", actor="api:bank")
    assert refused.value.status == 422


def test_a_resend_without_a_date_is_the_same_request_but_other_terms_or_a_reversal_refuse_it(loan):
    first = repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="P9", actor="m",
                           received_on=TODAY + datetime.timedelta(days=1))
    again = repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="P9", actor="m")
    assert again.pk == first.pk and again.replayed and not first.replayed
    with pytest.raises(ReferenceReused, match="another received on"):
        repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="P9", actor="m", received_on=TODAY)
    with pytest.raises(ReferenceReused, match="another prepayment"):
        repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="P9", actor="m",
                       prepayment="reduce_term")
    repayment_reverse(repayment=first, actor="treasurer", reason="Bounced")
    with pytest.raises(Conflict, match="was reversed") as refused:
        repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="P9", actor="m")
    assert refused.value.code == "REPAYMENT_REVERSED" and Repayment.objects.get().reversed_at is not None


def test_a_paid_off_loan_takes_no_more_repayments(loan):
    repayment_post(loan=loan, amount=D("5000.00"), source="portal", reference="P1", actor="m", received_on=loan.maturity_date)
    with pytest.raises(Conflict, match="paid off"):
        repayment_post(loan=loan, amount=D("1.00"), source="portal", reference="P2", actor="m")


def test_a_co_lent_loans_principal_is_repaid_in_proportion(accepted, lender, bank_client):
    CoLendingAgreement.objects.create(lender=lender, partner_bank=bank_client.partner_bank, share=D("0.7000"),
                                      annual_rate=D("0.05"), exposure_limit=D("100000.00"), auto_accept=True,
                                      effective_from=TODAY)
    loan = loan_disburse(application=accepted("1000.00"), actor="treasurer")
    repayment_post(loan=loan, amount=D("5000.00"), source="portal", reference="P1", actor="m", received_on=loan.maturity_date)
    assert merchant_exposure_get(merchant=loan.merchant) == D("0.00")
    assert balances_by_code_get(lender=lender)[Acct.LOANS_PRINCIPAL] == D("0.00")
    installment = loan.installments.get()
    assert loan.partner_annual_rate == D("0.0500")  # the agreement's, copied at disbursement
    # The bank earns its 5% on its 700.00: of the interest collected at the loan's rate on 1,000.00 it gets the
    # fraction (700 × 5%) ÷ (1,000 × the loan's rate); the lender keeps its own share's interest and the spread.
    whole = D("1000.00") * loan.annual_rate
    partner_interest = installment.interest_paid - (installment.interest_paid * (whole - D("35.00")) / whole).quantize(D("0.01"))
    assert 0 < partner_interest < (installment.interest_paid * D("0.7")).quantize(D("0.01"))
    # Still owed to the bank: its 700.00 of principal and its rate's interest on it.
    assert balances_by_code_get(lender=lender)[Acct.DUE_TO_PARTNER_BANKS] == -(D("700.00") + partner_interest)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    _reconciles(lender, Loan.objects.get(pk=loan.pk))


def test_a_co_lent_loans_interest_is_split_by_the_banks_rate_to_the_cent_over_many_payments(accepted, lender, bank_client):
    CoLendingAgreement.objects.create(lender=lender, partner_bank=bank_client.partner_bank, share=D("0.5000"),
                                      annual_rate=D("0.0400"), exposure_limit=D("100000.00"), auto_accept=True,
                                      effective_from=TODAY)
    loan = loan_disburse(application=accepted("1000.00"), actor="treasurer")
    before = balances_by_code_get(lender=lender)[Acct.DUE_TO_PARTNER_BANKS]
    for n in range(7):  # small payments: interest first, each split on its own, the parts summed
        repayment_post(loan=loan, amount=D("3.33"), source="portal", reference=f"P{n}", actor="m",
                       received_on=loan.maturity_date)
    paid = loan.installments.get().interest_paid
    whole = D("1000.00") * loan.annual_rate
    to_bank = paid - (paid * (whole - D("500.00") * D("0.0400")) / whole).quantize(D("0.01"))
    assert before - balances_by_code_get(lender=lender)[Acct.DUE_TO_PARTNER_BANKS] == to_bank  # no cent drifts
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


def _overdue(loan):
    """End of day marked the loan overdue since the day after its first due date."""
    first = loan.installments.order_by("number").first()
    Loan.objects.filter(pk=loan.pk).update(state=LoanState.OVERDUE, overdue_since=first.due_date
                                           + datetime.timedelta(days=1), bucket="1-30")
    return first


def test_paying_what_is_past_due_makes_an_overdue_loan_current_at_once_and_a_bounce_overdue_again(term_loan):
    loan = term_loan("12000.00", 12)
    first = _overdue(loan)
    loan = Loan.objects.get(pk=loan.pk)  # as a request reads it
    today = first.due_date + datetime.timedelta(days=5)
    with mock.patch("django.utils.timezone.localdate", return_value=today):
        repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="part", actor="m")
        assert Loan.objects.get(pk=loan.pk).state == LoanState.OVERDUE  # still behind
        left = sum(i.principal_due - i.principal_paid + i.interest_due - i.interest_paid
                   for i in loan.installments.filter(due_date__lt=today))
        rest = repayment_post(loan=loan, amount=left + loan.installments.get(number=1).penalty_accrued,
                              source="portal", reference="rest", actor="m")
        assert loan.state == Loan.objects.get(pk=loan.pk).state == LoanState.ACTIVE
        assert AuditEvent.objects.filter(action="cure", subject_id=str(loan.pk), reason="Overdue amounts repaid").exists()
        repayment_reverse(repayment=rest, actor="treasurer", reason="Bounced")
    assert Loan.objects.get(pk=loan.pk).state == LoanState.OVERDUE  # behind again, as it was last night


def test_a_loan_end_of_day_never_graded_overdue_is_left_to_end_of_day_after_a_reversal(term_loan):
    loan = term_loan("12000.00", 12)
    paid = repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="p", actor="m")
    with mock.patch("django.utils.timezone.localdate",
                    return_value=loan.installments.get(number=1).due_date + datetime.timedelta(days=3)):
        repayment_reverse(repayment=paid, actor="treasurer", reason="Bounced")
    assert Loan.objects.get(pk=loan.pk).state == LoanState.ACTIVE  # tonight's end of day marks it overdue


@pytest.mark.parametrize("days_late", [0, 1])  # received today: the one statement; a day before: the general path
def test_either_path_cures_an_overdue_loan_the_payment_catches_up(term_loan, days_late):
    loan = term_loan("12000.00", 12)
    first = _overdue(loan)
    loan = Loan.objects.get(pk=loan.pk)
    today = first.due_date + datetime.timedelta(days=5)
    with mock.patch("django.utils.timezone.localdate", return_value=today):
        payment = repayment_post(loan=loan, amount=D("1100.00"), source="portal", reference="p", actor="m",  # all due
                                 received_on=today - datetime.timedelta(days=days_late))
    assert payment.loan.state == Loan.objects.get(pk=loan.pk).state == LoanState.ACTIVE


def test_a_defaulted_loan_is_said_to_owe_only_the_interest_accrued_before_it_defaulted(term_loan, client, merchant_user):
    from apps.collections.selectors import loan_balances_get
    from apps.repayments.accrual import loan_accrue
    from apps.repayments.selectors import installment_left, merchant_loans_summary, payoff_quote

    loan = term_loan("12000.00", 12)
    first, second = loan.installments.order_by("number")[:2]
    defaulted_on = first.due_date + datetime.timedelta(days=10)
    loan_accrue(loan=loan, through=defaulted_on, actor="eod")
    Loan.objects.filter(pk=loan.pk).update(state=LoanState.DEFAULTED, defaulted_on=defaulted_on)
    loan = Loan.objects.get(pk=loan.pk)
    today = second.due_date + datetime.timedelta(days=5)  # both past due; the second accrued only ten days' interest
    second.refresh_from_db()
    assert second.interest_accrued < second.interest_due
    past_due = [i for i in loan.installments.all() if i.due_date < today]
    owed = sum(installment_left(i, non_accrual=True) for i in past_due)
    assert owed == sum(installment_left(i) for i in past_due) - (second.interest_due - second.interest_accrued)
    with mock.patch("django.utils.timezone.localdate", return_value=today):
        assert merchant_loans_summary(merchant=loan.merchant, today=today).overdue == owed
        assert loan_balances_get(loan=loan, on=today).overdue == owed
        quote = payoff_quote(loan=loan, on=today)
        assert quote["interest"] == sum(i.interest_accrued - i.interest_paid for i in loan.installments.all())
        client.force_login(merchant_user)
        page = client.get(f"/portal/loans/{loan.pk}/").content.decode()
    assert "stopped accruing when the loan defaulted on" in page
