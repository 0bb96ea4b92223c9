"""A co-lent loan's interest split by the bank's rate: the posting and the reconciliation agree to the cent, and loans
that collected interest before the split changed keep reconciling."""

import datetime
import importlib
from decimal import Decimal as D
from unittest import mock

from django.db import connection

from apps.financing.disbursement import loan_disburse
from apps.partners.models import CoLendingAgreement
from apps.repayments import shares
from apps.repayments.models import Loan
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post
from tests.conftest import TODAY


def at(day):
    """Make `day` the business date."""
    return mock.patch("django.utils.timezone.localdate", return_value=day)


def _days(loan, n):
    return loan.start_date + datetime.timedelta(days=n)


def _diffs(lender):
    return {row.account: row.difference for row in reconciliation_get(lender=lender) if row.difference}


def _pay(loan, *, day, amount, ref, today):
    with at(today):
        return repayment_post(loan=loan, amount=D(amount), source="partner", reference=ref, actor="bank",
                              received_on=_days(loan, day))


def _agreement(lender, bank_client, rate="0.0500", share="0.5000"):
    return CoLendingAgreement.objects.create(lender=lender, partner_bank=bank_client.partner_bank, share=D(share),
                                             annual_rate=D(rate), exposure_limit=D("100000.00"), auto_accept=True,
                                             effective_from=TODAY)


def test_a_loan_that_collected_interest_before_the_rate_split_keeps_its_split_and_reconciles(accepted, lender, bank_client):
    """Co-lent before migration 0012, its interest collected and split by principal share as the code then did: the
    backfill gives it the loan's own rate in the bank's place (the same split), not the agreement's, which would have
    recomputed its past interest against a GL that holds the old split."""
    _agreement(lender, bank_client)
    loan = loan_disburse(application=accepted("1000.00", slice(0, 2)), actor="t")
    Loan.objects.filter(pk=loan.pk).update(partner_annual_rate=0)  # as it stood before migration 0012
    loan.refresh_from_db()
    # Interest collected before the upgrade, split as the code before 205a81b split it (principal share).
    with mock.patch("apps.repayments.services.lender_interest_part", shares.lender_part):
        _pay(loan, day=20, amount="300.00", ref="old", today=_days(loan, 20))
    assert Loan.objects.get(pk=loan.pk).installments.get().interest_paid > 0
    # The migration's backfill, as shipped.
    migration = importlib.import_module("apps.repayments.migrations.0012_loan_partner_annual_rate").Migration
    with connection.cursor() as cursor:
        cursor.execute(migration.operations[1].sql)
    loan = Loan.objects.get(pk=loan.pk)
    assert loan.partner_annual_rate == loan.annual_rate
    assert _diffs(lender) == {}
    _pay(loan, day=40, amount="400.00", ref="new", today=_days(loan, 40))  # and goes on splitting as it did
    assert _diffs(lender) == {}


def test_a_loan_co_lent_before_the_rate_split_that_collected_no_interest_takes_the_agreements_rate(
        accepted, lender, bank_client):
    _agreement(lender, bank_client)
    loan = loan_disburse(application=accepted("1000.00", slice(0, 2)), actor="t")
    Loan.objects.filter(pk=loan.pk).update(partner_annual_rate=0)  # as it stood before migration 0012
    migration = importlib.import_module("apps.repayments.migrations.0012_loan_partner_annual_rate").Migration
    with connection.cursor() as cursor:
        cursor.execute(migration.operations[1].sql)
    assert Loan.objects.get(pk=loan.pk).partner_annual_rate == D("0.0500")


def test_the_posting_and_the_reconciliation_split_interest_alike_just_under_a_half_cent(accepted, lender, bank_client):
    """1,770,673.92 lent at 5.77%, 70% of it the bank's at 1.49%, 47,534.87 of interest collected: the lender's part is
    38,942.344999999999804…, which PostgreSQL's default division precision rounded up to a half cent (38,942.35)."""
    from apps.repayments.selectors import _partner_interest_collected

    _agreement(lender, bank_client, share="0.7000")
    loan = loan_disburse(application=accepted("1000.00", slice(0, 2)), actor="t")
    Loan.objects.filter(pk=loan.pk).update(principal=D("1770673.92"), lender_principal=D("531202.18"),
                                           partner_principal=D("1239471.74"), annual_rate=D("0.0577"),
                                           partner_annual_rate=D("0.0149"))
    loan.installments.update(principal_due=D("1770673.92"), interest_due=D("47534.87"), interest_accrued=D("47534.87"),
                             interest_paid=D("47534.87"))
    loan = Loan.objects.get(pk=loan.pk)
    paid = D("47534.87")
    python_partner = paid - shares.lender_interest_part(loan, paid)
    assert _partner_interest_collected(lender) == python_partner

