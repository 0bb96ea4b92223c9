"""The limits at their edges: entries dated before a rules change or after today, reversals that would move a bank
facility or undo a reversal, limits that fall between two cents, and references a browser could choose."""

import datetime

import pytest

from apps.accounts.models import Role
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict, ValidationFailed
from apps.ledger.errors import CapExceeded, SingleBorrowerLimitExceeded
from apps.ledger.models import BorrowingFacility, FacilityState, JournalEntry
from apps.ledger.posting import journal_post, journal_reverse
from apps.ledger.selectors import capital_position_get
from apps.ledger.services import (
    borrowing_repay,
    drawdown_record,
    equity_inject,
    facility_close,
    facility_open,
    loan_funding_post,
    rule_set_version_create,
)
from tests.ledger.conftest import D, ref

TODAY = business_date_today()
YESTERDAY = TODAY - datetime.timedelta(days=1)


def _tighten(lender, staff, **rules):
    rule_set_version_create(lender=lender, actor=staff[Role.LENDER_ADMIN], effective_from=TODAY, reason="tighter",
                            **rules)


def test_a_drawdown_dated_before_a_tighter_cap_is_held_to_it(client, capitalised, facility, staff):
    _tighten(capitalised, staff, borrowing_cap_ratio=D("0.30"))
    with pytest.raises(CapExceeded):
        drawdown_record(facility=facility, amount=D("400000.00"), reference=ref(), actor=staff[Role.TREASURER],
                        business_date=YESTERDAY)
    client.force_login(staff[Role.TREASURER])
    client.post("/backoffice/ledger/funding/drawdown/", {"facility": facility.pk, "amount": "400000.00",
                                                         "reference": "bo-dd-back", "business_date": YESTERDAY.isoformat()})
    position = capital_position_get(lender=capitalised)
    assert position.borrowings == 0 and not position.in_breach


def test_a_funding_dated_before_a_tighter_single_borrower_rule_is_held_to_it(capitalised, staff, merchant):
    _tighten(capitalised, staff, single_borrower_ratio=D("0.02"))
    with pytest.raises(SingleBorrowerLimitExceeded, match="limit of 20,000.00"):
        loan_funding_post(lender=capitalised, merchant=merchant, amount=D("40000.00"), reference=ref(),
                          actor=staff[Role.TREASURER], business_date=YESTERDAY)


def test_an_entry_cannot_be_dated_after_today(client, books, staff):
    with pytest.raises(ValidationFailed, match="after today"):
        equity_inject(lender=books, amount=D("1000.00"), reference=ref(), actor=staff[Role.TREASURER],
                      business_date=datetime.date(2999, 1, 1))
    client.force_login(staff[Role.TREASURER])
    response = client.post("/backoffice/ledger/funding/equity/", {"amount": "1000000.00", "reference": "bo-fut",
                                                                  "business_date": "2999-12-31"})
    assert response.status_code == 200 and "after today" in response.content.decode()
    assert not JournalEntry.objects.filter(lender=books).exists()


def test_a_borrowing_entry_is_not_reversed(capitalised, facility, staff):
    treasurer = staff[Role.TREASURER]
    drawdown = drawdown_record(facility=facility, amount=D("1000.00"), reference="dd", actor=treasurer)
    repaid = borrowing_repay(facility=facility, amount=D("1000.00"), reference="rp", actor=treasurer)
    facility_close(facility=facility, actor=treasurer)
    for entry in (drawdown, repaid):
        with pytest.raises(Conflict, match="moves a bank facility"):
            journal_reverse(entry=entry, reference=ref(), actor=treasurer, reason="oops")
    assert BorrowingFacility.objects.values_list("state", "drawn").get(pk=facility.pk) == (FacilityState.CLOSED, 0)


def test_a_reversal_is_not_reversed(books, staff):
    treasurer = staff[Role.TREASURER]
    equity_inject(lender=books, amount=D("1000.00"), reference="eq", actor=treasurer)
    from apps.ledger.posting import cr, dr

    entry = journal_post(lender=books, reference="manual", actor=treasurer, lines=[dr("1000", D("5.00")), cr("3000", D("5.00"))])
    reversal = journal_reverse(entry=entry, reference="manual-rev", actor=treasurer, reason="keyed twice")
    with pytest.raises(Conflict, match="is a reversal"):
        journal_reverse(entry=reversal, reference="manual-rev-rev", actor=treasurer, reason="undo")


def test_the_cap_and_the_single_borrower_limit_never_pass_their_ratio_by_half_a_cent(books, staff, merchant):
    treasurer = staff[Role.TREASURER]
    equity_inject(lender=books, amount=D("1000.10"), reference=ref(), actor=treasurer)  # 50% = 500.05, 5% = 50.005
    position = capital_position_get(lender=books)
    assert (position.cap_amount, position.single_borrower_limit) == (D("500.05"), D("50.00"))
    with pytest.raises(SingleBorrowerLimitExceeded):
        loan_funding_post(lender=books, merchant=merchant, amount=D("50.01"), reference=ref(), actor=treasurer)
    equity_inject(lender=books, amount=D("0.01"), reference=ref(), actor=treasurer)  # 1,000.11: 50% = 500.055
    facility = facility_open(lender=books, bank_name="B", limit=D("10000.00"), annual_rate=D("4"), actor=treasurer)
    with pytest.raises(CapExceeded):
        drawdown_record(facility=facility, amount=D("500.06"), reference=ref(), actor=treasurer)
    drawdown_record(facility=facility, amount=D("500.05"), reference=ref(), actor=treasurer)


def test_a_browser_chosen_reference_cannot_take_a_system_reference(client, capitalised, staff, merchant):
    client.force_login(staff[Role.TREASURER])
    client.post("/backoffice/ledger/funding/equity/", {"amount": "1.00", "reference": "disbursement:999999:lender"})
    assert JournalEntry.objects.filter(reference="treasury:disbursement:999999:lender").exists()
    loan_funding_post(lender=capitalised, merchant=merchant, amount=D("100.00"), reference="disbursement:999999:lender",
                      actor=staff[Role.TREASURER])


def test_opening_a_facility_twice_with_one_reference_opens_one(capitalised, staff):
    opened = [facility_open(lender=capitalised, bank_name="Bank A", limit=D("900000.00"), annual_rate=D("4.2"),
                            actor=staff[Role.TREASURER], reference="treasury:f-1") for _ in range(2)]
    assert opened[0].pk == opened[1].pk and BorrowingFacility.objects.filter(lender=capitalised).count() == 1
