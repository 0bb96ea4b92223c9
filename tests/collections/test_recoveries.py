"""Money that comes in after a write-off is recovery income, posted once per reference."""

import datetime
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.collections.models import Recovery
from apps.collections.recoveries import recovery_post
from apps.core.errors import Conflict, ReferenceReused, ValidationFailed
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get, trial_balance_all_currencies_zero
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post
from tests.conftest import TODAY

D = Decimal
pytestmark = pytest.mark.django_db


def _reconciled(lender):
    assert trial_balance_all_currencies_zero(lender=lender)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


def test_a_recovery_posts_as_recovery_income_once_per_reference(loan, written_off, lender, staff):
    _case, request = written_off(loan)
    with pytest.raises(Conflict) as exc:  # repayments stay refused on a written-off loan …
        repayment_post(loan=loan, amount=D("50.00"), source="backoffice", reference="R1", actor=staff[Role.TREASURER])
    assert exc.value.code == "LOAN_NOT_REPAYABLE"
    cash = balances_by_code_get(lender=lender)[Acct.CASH]

    recovery = recovery_post(loan=loan, amount=D("50.00"), source="backoffice", reference="R1", actor=staff[Role.TREASURER])
    again = recovery_post(loan=loan, amount=D("50.00"), source="backoffice", reference="R1", actor=staff[Role.TREASURER])
    assert again.pk == recovery.pk and Recovery.objects.count() == 1
    balances = balances_by_code_get(lender=lender)
    assert balances[Acct.CASH] - cash == D("50.00") and balances[Acct.RECOVERY_INCOME] == D("-50.00")
    assert recovery.journal_entry.reference == f"recovery:{loan.pk}:backoffice:R1"
    with pytest.raises(ReferenceReused) as exc:
        recovery_post(loan=loan, amount=D("60.00"), source="backoffice", reference="R1", actor=staff[Role.TREASURER])
    assert exc.value.code == "DUPLICATE_REFERENCE"
    _reconciled(lender)


def test_a_live_loan_takes_repayments_not_recoveries(loan, staff):
    with pytest.raises(Conflict) as exc:
        recovery_post(loan=loan, amount=D("5.00"), source="backoffice", reference="X", actor=staff[Role.TREASURER])
    assert exc.value.code == "LOAN_NOT_WRITTEN_OFF"
    assert not Recovery.objects.exists()


def test_recoveries_stop_at_what_was_owed_when_written_off(loan, written_off, staff):
    _case, request = written_off(loan)
    claim = request.claim
    recovery_post(loan=loan, amount=claim - D("1.00"), source="backoffice", reference="A", actor=staff[Role.TREASURER])
    with pytest.raises(Conflict) as exc:
        recovery_post(loan=loan, amount=D("1.01"), source="backoffice", reference="B", actor=staff[Role.TREASURER])
    assert exc.value.code == "RECOVERY_EXCEEDS_CLAIM" and "at most 1.00 more" in exc.value.message
    recovery_post(loan=loan, amount=D("1.00"), source="backoffice", reference="C", actor=staff[Role.TREASURER])


def test_the_partner_bank_gets_its_share_of_a_recovery(colending, loans, written_off, lender, staff):
    loan = loans(1)[0]
    written_off(loan)
    due_to_bank = balances_by_code_get(lender=lender)[Acct.DUE_TO_PARTNER_BANKS]
    for n in range(3):  # the split is cumulative: three thirds never drift by a cent
        recovery_post(loan=loan, amount=D("33.33"), source="backoffice", reference=f"R{n}", actor=staff[Role.TREASURER])
    balances = balances_by_code_get(lender=lender)
    assert balances[Acct.RECOVERY_INCOME] == D("-40.00")  # 40% of 99.99, rounded
    assert balances[Acct.DUE_TO_PARTNER_BANKS] - due_to_bank == D("-59.99")
    _reconciled(lender)



def test_a_recovery_is_dated_on_or_after_the_write_off_and_a_resend_keeps_its_date(loan, written_off, staff):
    written_off(loan)  # today
    treasurer = staff[Role.TREASURER]
    with pytest.raises(ValidationFailed) as exc:  # it was a repayment of the live loan
        recovery_post(loan=loan, amount=D("5.00"), source="backoffice", reference="early", actor=treasurer,
                      received_on=TODAY - datetime.timedelta(days=1))
    assert exc.value.code == "RECEIVED_BEFORE_WRITE_OFF" and f"written off on {TODAY.isoformat()}" in exc.value.message
    recovery_post(loan=loan, amount=D("5.00"), source="backoffice", reference="R", actor=treasurer, received_on=TODAY)
    with pytest.raises(ReferenceReused, match="received on"):
        recovery_post(loan=loan, amount=D("5.00"), source="backoffice", reference="R", actor=treasurer,
                      received_on=TODAY + datetime.timedelta(days=1))
    assert Recovery.objects.count() == 1
