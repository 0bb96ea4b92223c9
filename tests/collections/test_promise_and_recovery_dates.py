"""A kept promise that leaves the loan behind keeps its case with the collector; a recovery is never dated ahead."""
import datetime
from decimal import Decimal as D

import pytest

from apps.accounts.models import Role
from apps.collections.cases_eod import cases_update, promises_review
from apps.collections.models import CollectionCase
from apps.collections.recoveries import recovery_post
from apps.collections.services import case_assign, contact_log, promise_record
from apps.core.errors import ValidationFailed
from apps.ledger.models import JournalEntry
from apps.repayments.services import repayment_post
from tests.collections.conftest import chunk
from tests.conftest import TODAY

DAY = datetime.timedelta(days=1)
pytestmark = pytest.mark.django_db


def test_recovery_cannot_be_dated_in_the_future(loan, written_off, staff):
    written_off(loan)
    future = TODAY + 30 * DAY
    with pytest.raises(ValidationFailed) as refused:
        recovery_post(loan=loan, amount=D("10.00"), source="backoffice", reference="F1",
                      actor=staff[Role.TREASURER], received_on=future)
    assert refused.value.code == "FUTURE_DATED" and refused.value.errors[0]["field"] == "received_on"
    assert not JournalEntry.objects.filter(reference=f"recovery:{loan.pk}:backoffice:F1").exists()


def test_kept_partial_promise_on_still_overdue_loan_keeps_the_case(loan, open_case, collector):
    """A kept promise of 10.00 on a loan still 12 DPD: the case stays the collector's (were it resolved, the same
    night's cases_update would open a fresh, unassigned case, and D+30's assignment would never fire again)."""
    case = open_case(dpd=10)
    case_assign(case=case, collector=collector, actor=collector)
    contact_log(case=case, actor=collector, channel="phone", outcome="reached")
    promise_record(case=case, actor=collector, amount=D("10.00"), promised_date=TODAY + DAY, today=TODAY)
    repayment_post(loan=loan, amount=D("10.00"), source="portal", reference="p", actor="m", received_on=TODAY + DAY)
    # the pipeline's order on one night: margin_calls_promises, then cases_dunning
    promises_review(chunk(TODAY + 2 * DAY))
    cases_update(chunk(TODAY + 2 * DAY))
    cases = list(CollectionCase.objects.filter(loan=loan).order_by("id").values_list("state", "assigned_to_id"))
    assert cases == [("in_progress", collector.pk)]  # not resolved, and no second case opened beside it
