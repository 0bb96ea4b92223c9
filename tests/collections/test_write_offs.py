"""Writing a defaulted loan off takes two people, and leaves the books balanced and reconciled."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from apps.accounts.models import Role
from apps.collections.models import CollectionCase, WriteOffRequest
from apps.collections.services import write_off_approve, write_off_reject, write_off_request
from apps.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from apps.ledger.models import Acct, JournalEntry
from apps.ledger.selectors import balances_by_code_get, merchant_exposure_get, trial_balance_all_currencies_zero
from apps.ledger.services import provision_post
from apps.repayments.accrual import loan_accrue
from apps.repayments.models import Loan, LoanInstallment
from apps.repayments.selectors import reconciliation_get
from tests.accounts.factories import StaffFactory
from tests.conftest import TODAY

D = Decimal
pytestmark = pytest.mark.django_db


def _books_hold(lender):
    assert trial_balance_all_currencies_zero(lender=lender)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender)), reconciliation_get(lender=lender)
    allowance = -balances_by_code_get(lender=lender).get(Acct.LOAN_LOSS_ALLOWANCE, D(0))
    assert allowance == sum(Loan.objects.filter(merchant__lender=lender).values_list("provision", flat=True))


def _provision(loan, amount, lender, actor):
    """What end of day's provisions step leaves: the allowance posted and held against the loan."""
    provision_post(lender=lender, amount=amount, reference=f"test-provision:{loan.pk}", actor=actor)
    Loan.objects.filter(pk=loan.pk).update(provision=amount)


@pytest.fixture
def defaulted(open_case, loan):
    case = open_case(dpd=95)
    loan_accrue(loan=loan, through=TODAY, actor="eod")  # accrued while performing, to maturity and beyond
    Loan.objects.filter(pk=loan.pk).update(state="defaulted", defaulted_on=TODAY)  # then non-accrual
    return case


def test_the_maker_cannot_check_their_own_write_off(defaulted, staff):
    admin = staff[Role.LENDER_ADMIN]
    request = write_off_request(case=defaulted, actor=admin, reason="Shop closed", today=TODAY)
    with pytest.raises(Forbidden) as exc:
        write_off_approve(request=request, actor=admin, today=TODAY)
    assert exc.value.code == "MAKER_IS_CHECKER"
    with pytest.raises(Forbidden):
        write_off_reject(request=request, actor=admin, note="no")
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database says so too
        WriteOffRequest.objects.filter(pk=request.pk).update(state="approved", checker=admin, decided_at=request.created_at)
    assert Loan.objects.get(pk=defaulted.loan_id).state == "defaulted"
    assert not JournalEntry.objects.filter(reference__startswith="write-off:").exists()


def test_a_collector_is_no_checker_and_another_lender_cannot_see_it(defaulted, staff, other_lender):
    request = write_off_request(case=defaulted, actor=staff[Role.LENDER_ADMIN], reason="Shop closed", today=TODAY)
    with pytest.raises(Forbidden) as exc:
        write_off_approve(request=request, actor=staff[Role.COLLECTOR], today=TODAY)
    assert exc.value.code == "NOT_A_CHECKER"
    with pytest.raises(NotFound):
        write_off_approve(request=request, actor=StaffFactory(lender=other_lender, role=Role.LENDER_ADMIN), today=TODAY)


def test_a_different_checker_approves_the_allowance_absorbs_it_and_the_books_balance(defaulted, staff, lender, loan, loans):
    other = loans(1)[0]  # another loan's allowance must survive this write-off untouched
    _provision(other, D("100.00"), lender, staff[Role.TREASURER])
    _provision(loan, D("1000.00"), lender, staff[Role.TREASURER])
    rows = LoanInstallment.objects.filter(loan=loan)
    accrued = sum(i.interest_accrued + i.fee_accrued + i.penalty_accrued for i in rows)
    assert all(i.interest_accrued and i.fee_accrued for i in rows)
    before = balances_by_code_get(lender=lender)

    request = write_off_request(case=defaulted, actor=staff[Role.COLLECTOR], reason="Merchant vanished", today=TODAY)
    assert request.amount == D("1000.00")
    with pytest.raises(Conflict) as exc:
        write_off_request(case=defaulted, actor=staff[Role.COLLECTOR], reason="again", today=TODAY)
    assert exc.value.code == "WRITE_OFF_PENDING"
    approved = write_off_approve(request=request, actor=staff[Role.CREDIT_OFFICER], note="Agreed", today=TODAY)

    assert (approved.state, approved.checker, approved.accruals_reversed) == ("approved", staff[Role.CREDIT_OFFICER], accrued)
    assert Loan.objects.get(pk=loan.pk).state == "written_off" and Loan.objects.get(pk=loan.pk).provision == 0
    case = CollectionCase.objects.get(pk=defaulted.pk)
    assert (case.state, case.closed_on) == ("written_off", TODAY)
    assert merchant_exposure_get(merchant=loan.merchant) == D("1000.00")  # only the other loan is left
    after = balances_by_code_get(lender=lender)
    assert after[Acct.LOAN_LOSS_ALLOWANCE] == D("-100.00")  # the other loan's allowance, intact
    assert after.get(Acct.IMPAIRMENT_EXPENSE) == before.get(Acct.IMPAIRMENT_EXPENSE)  # fully provided: no new expense
    assert after[Acct.LOANS_PRINCIPAL] == before[Acct.LOANS_PRINCIPAL] - D("1000.00")
    for receivable, income in ((Acct.LOANS_INTEREST, Acct.INTEREST_INCOME), (Acct.LOANS_FEES, Acct.FEE_INCOME),
                               (Acct.LOANS_PENALTIES, Acct.PENALTY_INCOME)):  # accrued, never collected: reversed
        assert after.get(receivable, D(0)) == after.get(income, D(0)) == 0
    _books_hold(lender)
    with pytest.raises(Conflict):
        write_off_approve(request=approved, actor=staff[Role.LENDER_ADMIN], today=TODAY)


def test_an_unprovided_loan_is_topped_up_before_it_is_written_off(defaulted, staff, lender, loan):
    request = write_off_request(case=defaulted, actor=staff[Role.COLLECTOR], reason="Fraud", today=TODAY)
    write_off_approve(request=request, actor=staff[Role.LENDER_ADMIN], today=TODAY)
    balances = balances_by_code_get(lender=lender)
    assert balances[Acct.IMPAIRMENT_EXPENSE] == D("1000.00")
    assert balances.get(Acct.LOAN_LOSS_ALLOWANCE, D(0)) == 0
    assert JournalEntry.objects.filter(reference=f"write-off:{loan.pk}:provision").exists()
    _books_hold(lender)


def test_a_write_off_needs_a_defaulted_loan_and_a_reason(open_case, staff):
    case = open_case(dpd=40)
    with pytest.raises(ValidationFailed):
        write_off_request(case=case, actor=staff[Role.COLLECTOR], reason="", today=TODAY)
    with pytest.raises(Conflict) as exc:
        write_off_request(case=case, actor=staff[Role.COLLECTOR], reason="Hopeless", today=TODAY)
    assert exc.value.code == "LOAN_NOT_DEFAULTED"


def test_approval_is_refused_when_the_principal_moved_since_the_request(defaulted, staff, loan):
    request = write_off_request(case=defaulted, actor=staff[Role.COLLECTOR], reason="Gone", today=TODAY)
    LoanInstallment.objects.filter(loan=loan).update(principal_paid=D("10.00"))  # money landed in between
    with pytest.raises(Conflict) as exc:
        write_off_approve(request=request, actor=staff[Role.CREDIT_OFFICER], today=TODAY)
    assert exc.value.code == "WRITE_OFF_AMOUNT_CHANGED" and "990.00" in exc.value.message
    assert Loan.objects.get(pk=loan.pk).state == "defaulted"
    assert not JournalEntry.objects.filter(reference__startswith=f"write-off:{loan.pk}:").exists()


def test_a_rejected_request_posts_nothing_and_may_be_asked_again(defaulted, staff):
    request = write_off_request(case=defaulted, actor=staff[Role.COLLECTOR], reason="Gone", today=TODAY)
    with pytest.raises(ValidationFailed):
        write_off_reject(request=request, actor=staff[Role.CREDIT_OFFICER], note="")
    rejected = write_off_reject(request=request, actor=staff[Role.CREDIT_OFFICER], note="Guarantor still pays")
    assert rejected.state == "rejected" and rejected.decision_note == "Guarantor still pays"
    assert write_off_request(case=defaulted, actor=staff[Role.COLLECTOR], reason="Guarantor stopped", today=TODAY)


def test_a_co_lent_loans_partner_share_is_borne_by_the_bank(colending, loans, written_off, lender):
    loan = loans(1)[0]
    assert (loan.lender_principal, loan.partner_principal) == (D("400.00"), D("600.00"))
    before = balances_by_code_get(lender=lender)
    _case, request = written_off(loan)
    assert request.partner_amount == D("600.00")
    after = balances_by_code_get(lender=lender)
    assert after[Acct.DUE_TO_PARTNER_BANKS] - before[Acct.DUE_TO_PARTNER_BANKS] == D("600.00")  # owed 600 less
    assert after[Acct.IMPAIRMENT_EXPENSE] == D("400.00")  # the lender loses only its own share
    _books_hold(lender)


def test_the_database_keeps_one_pending_request_per_loan(defaulted, staff):
    request = write_off_request(case=defaulted, actor=staff[Role.COLLECTOR], reason="Gone", today=TODAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        WriteOffRequest.objects.create(lender=request.lender, loan=request.loan, case=request.case, amount=D("1.00"),
                                       reason="dup", maker=staff[Role.COLLECTOR])
