import datetime
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import Role
from apps.core.calendar import business_date_today
from apps.financing.disbursement import loan_disburse
from apps.repayments.models import LoanInstallment
from apps.repayments.selectors import payoff_quote
from apps.repayments.services import repayment_post

D = Decimal


@pytest.fixture
def busy_loan(accepted):
    loan = loan_disburse(application=accepted("1500.00"), actor="treasurer")
    repayment_post(loan=loan, amount=D("400.00"), source="portal", reference="p1", actor="m",
                   received_on=loan.start_date + datetime.timedelta(days=9))
    return loan


def test_reconcile_reports_zero_differences_after_real_activity(busy_loan):
    out = StringIO()
    call_command("reconcile", "--date", str(busy_loan.start_date), "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["differences"] == 0 and all(D(r["difference"]) == 0 for r in report["rows"])


def test_reconcile_checks_today_and_refuses_another_date(busy_loan):
    out = StringIO()
    call_command("reconcile", "--json", stdout=out)
    assert json.loads(out.getvalue())["date"] == business_date_today().isoformat()
    with pytest.raises(CommandError, match="current balances only"):
        call_command("reconcile", "--date", str(business_date_today() - datetime.timedelta(days=1)), stdout=StringIO())


def test_reconcile_fails_loudly_when_the_sub_ledger_drifts(busy_loan, client, staff):
    LoanInstallment.objects.filter(loan=busy_loan).update(principal_paid=D("1.00"))  # a bug writing the sub-ledger
    with pytest.raises(CommandError, match="do not reconcile"):
        call_command("reconcile", stdout=StringIO())
    client.force_login(staff[Role.CREDIT_OFFICER])
    assert "control account(s) do not reconcile" in client.get("/backoffice/reconciliation/").content.decode()


def test_a_payoff_quote_charges_interest_only_to_its_date(busy_loan):
    day = busy_loan.start_date + datetime.timedelta(days=20)
    quote = payoff_quote(loan=busy_loan, on=day)
    installment = busy_loan.installments.get()
    assert quote["total"] == quote["principal"] + quote["interest"] + quote["fee"]
    assert quote["interest"] < installment.interest_due
    repayment_post(loan=busy_loan, amount=quote["total"], source="portal", reference="payoff", actor="m", received_on=day)
    busy_loan.refresh_from_db()
    assert busy_loan.state == "paid_off"
