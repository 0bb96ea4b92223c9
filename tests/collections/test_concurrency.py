"""Racing people against each other: a write-off lands once, recoveries post once per reference."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.accounts.models import Role
from apps.collections.models import Recovery, WriteOffRequest
from apps.collections.recoveries import recovery_post
from apps.collections.services import write_off_approve, write_off_request
from apps.core.errors import Conflict
from apps.ledger.models import JournalEntry
from apps.ledger.selectors import trial_balance_all_currencies_zero
from apps.repayments.selectors import reconciliation_get
from tests.accounts.factories import StaffFactory
from tests.conftest import TODAY

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)


def _race(n, work):
    barrier, errors = threading.Barrier(n), []

    def run(k):
        barrier.wait()
        try:
            work(k)
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    [t.start() for t in threads]
    [t.join(timeout=60) for t in threads]
    return errors


def test_checkers_racing_to_approve_write_the_loan_off_once(open_case, staff, lender, loan):
    case = open_case(dpd=95, state="defaulted")
    request = write_off_request(case=case, actor=staff[Role.COLLECTOR], reason="Gone", today=TODAY)
    checkers = [staff[Role.CREDIT_OFFICER], staff[Role.LENDER_ADMIN],
                *(StaffFactory(lender=lender, role=Role.CREDIT_OFFICER) for _ in range(2))]

    errors = _race(4, lambda k: write_off_approve(request=request, actor=checkers[k], today=TODAY))

    assert len(errors) == 3 and all(isinstance(e, Conflict) and e.code == "WRITE_OFF_DECIDED" for e in errors)
    assert WriteOffRequest.objects.get().state == "approved"
    assert JournalEntry.objects.filter(reference=f"write-off:{loan.pk}:principal").count() == 1
    assert trial_balance_all_currencies_zero(lender=lender)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


def test_a_recovery_sent_by_several_clients_at_once_posts_once(written_off, staff, lender, loan):
    written_off(loan)
    errors = _race(4, lambda k: recovery_post(loan=loan, amount=D("10.00"), source="backoffice", reference="same",
                                              actor=staff[Role.TREASURER]))
    assert errors == [] and Recovery.objects.count() == 1
    assert trial_balance_all_currencies_zero(lender=lender)
