"""Loans in collections: disbursed through the real services, then made delinquent the way end of day
would leave them (state, overdue_since, bucket set by queryset update: the EOD that sets them is its own
work)."""

import datetime
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.collections.cases_eod import cases_update
from apps.collections.models import CollectionCase
from apps.eod.chunks import Chunk
from apps.financing.application_services import application_submit, offer_accept
from apps.financing.disbursement import loan_disburse
from apps.ledger.services import equity_inject
from apps.merchants.models import CreditAssessment, Merchant
from apps.merchants.services import kyc_document_upload, kyc_submit, kyc_verify, scoring_policy_default_ensure
from apps.repayments.models import Loan, LoanInstallment
from tests.accounts.factories import MerchantUserFactory, StaffFactory
from tests.conftest import PASSWORD, TODAY
from tests.financing.factories import PresaleOrderFactory
from tests.helpers import PDF_BYTES, upload

D = Decimal


def chunk(on: datetime.date) -> Chunk:
    """Every loan, for business date `on`, as one EOD chunk."""
    return Chunk(run_id=0, business_date=on, lo=0, hi=10**12)


def bucket_of(dpd: int) -> str:
    return "current" if dpd <= 0 else "1-30" if dpd <= 30 else "31-60" if dpd <= 60 else "61-90" if dpd <= 90 else "90+"


def make_delinquent(loan: Loan, *, on: datetime.date, dpd: int, state: str = "overdue") -> Loan:
    """The loan's single installment fell due `dpd` days before `on` and is unpaid: DPD on `on` is `dpd`."""
    due = on - datetime.timedelta(days=dpd)
    Loan.objects.filter(pk=loan.pk).update(start_date=due - datetime.timedelta(days=30), maturity_date=due, state=state,
                                           overdue_since=due + datetime.timedelta(days=1), bucket=bucket_of(dpd))
    LoanInstallment.objects.filter(loan=loan).update(due_date=due, status="overdue")
    return Loan.objects.get(pk=loan.pk)


def owed_when_due(loan: Loan) -> Decimal:
    return sum((i.principal_due + i.interest_due + i.fee_due for i in LoanInstallment.objects.filter(loan=loan)), D(0))


@pytest.fixture
def loans(accepted):
    """loans(n) → n disbursed loans of 1,000.00 (two pledged orders each) of the same merchant."""

    made = []

    def make(n=1, amount="1000.00"):
        for _ in range(n):
            k = len(made)
            made.append(loan_disburse(application=accepted(amount, slice(2 * k, 2 * k + 2)), actor="treasurer"))
        return made[-n:]

    return make


@pytest.fixture
def loan(loans):
    return loans(1)[0]


@pytest.fixture
def open_case(loan):
    """open_case(on, dpd=10, state="overdue") → the loan made delinquent and its case opened by end of day on `on`."""

    def make(on=TODAY, dpd=10, state="overdue", the_loan=None):
        target = make_delinquent(the_loan or loan, on=on, dpd=dpd, state=state)
        cases_update(chunk(on))
        return CollectionCase.objects.get(loan=target, state="open")

    return make


@pytest.fixture
def collector(staff):
    return staff[Role.COLLECTOR]


@pytest.fixture
def foreign_loan(other_lender, lender_funded):
    """A disbursed loan of another lender (its own merchant, staff and capital)."""
    officer = StaffFactory(lender=other_lender, role=Role.CREDIT_OFFICER, username="foreign-officer", password=PASSWORD)
    user = MerchantUserFactory(lender=other_lender, username="foreign-shop", password=PASSWORD)
    merchant = user.merchant
    kyc_document_upload(merchant=merchant, kind="business_licence", upload=upload("l.pdf", PDF_BYTES), actor=user)
    kyc_submit(merchant=merchant, actor=user)
    kyc_verify(merchant=merchant, actor=officer)
    equity_inject(lender=other_lender, amount=D("1000000.00"), reference="foreign-equity", actor=officer)
    CreditAssessment.objects.create(merchant=merchant, policy=scoring_policy_default_ensure(lender=other_lender), as_of=TODAY,
                                    score=80, grade="A", credit_limit=D("100000.00"), reasons=[],
                                    inputs={"window_sales": "100000.00", "window_refunds": "0.00"})
    Merchant.objects.filter(pk=merchant.pk).update(risk_grade="A", credit_limit=D("100000.00"))
    orders = [PresaleOrderFactory(merchant=merchant, buyer_id=f"fb-{i}", paid_amount=D("1000.00"), expected_ship_date=TODAY,
                                  expected_settlement_date=TODAY + datetime.timedelta(days=30)) for i in range(2)]
    application = application_submit(merchant=Merchant.objects.get(pk=merchant.pk), order_ids=[o.pk for o in orders],
                                     amount="500.00", actor="m", as_of=TODAY)
    offer_accept(application=application, actor="m")
    return loan_disburse(application=application, actor="treasurer")


@pytest.fixture
def written_off(open_case, staff):
    """written_off(loan) → (case, approved request): defaulted at 95 DPD, asked by the collector, approved by the officer."""
    from apps.collections.services import write_off_approve, write_off_request

    def make(the_loan=None, on=TODAY):
        case = open_case(on=on, dpd=95, state="defaulted", the_loan=the_loan)
        request = write_off_request(case=case, actor=staff[Role.COLLECTOR], reason="Merchant vanished", today=on)
        return case, write_off_approve(request=request, actor=staff[Role.CREDIT_OFFICER], note="Agreed", today=on)

    return make


@pytest.fixture
def colending(lender, bank_client):
    """The partner bank funds 60% of every loan, accepting automatically."""
    from apps.partners.models import CoLendingAgreement

    return CoLendingAgreement.objects.create(
        lender=lender, partner_bank=bank_client.partner_bank, share=D("0.6000"), annual_rate=D("0.0600"),
        exposure_limit=D("50000.00"), effective_from=TODAY - datetime.timedelta(days=1), auto_accept=True)
