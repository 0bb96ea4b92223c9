"""Loan funding holds the lender position in KEY SHARE mode: fundings pass one another; exclusive holders queue;
first fundings of one merchant queue on its exposure row."""

from decimal import Decimal

import pytest

from apps.ledger.models import BorrowingFacility, JournalEntry
from apps.ledger.services import drawdown_record, equity_inject, facility_open, ledger_setup_ensure, loan_funding_post
from tests.locking import Attempt, held
from tests.merchants.factories import MerchantFactory

pytestmark = pytest.mark.django_db(transaction=True)
SHARED = "SELECT 1 FROM ledger_lenderposition WHERE lender_id = %s FOR KEY SHARE"


@pytest.fixture
def funded(lender, staff):
    ledger_setup_ensure(lender=lender)
    equity_inject(lender=lender, amount=Decimal("100000.00"), reference="equity", actor=staff["treasurer"])
    return lender


def fund(lender, merchant, reference, amount="100.00"):
    return lambda: loan_funding_post(lender=lender, merchant=merchant, amount=Decimal(amount), reference=reference, actor="t")


def test_a_funding_passes_another_in_flight_but_a_drawdown_waits_for_it(funded, staff):
    merchant = MerchantFactory(lender=funded)
    fund(funded, merchant, "first")()  # the merchant's exposure row exists from here on
    facility = facility_open(lender=funded, bank_name="Bank", limit=Decimal("1000.00"), annual_rate=Decimal("4"),
                             actor=staff["treasurer"])
    with held(SHARED, [funded.pk]):  # a loan funding of this lender, still in flight
        funding = Attempt(fund(funded, merchant, "second"))
        assert funding.finished_within(10)
        funding.join()
        drawdown = Attempt(lambda: drawdown_record(facility=facility, amount=Decimal("500.00"), reference="draw",
                                                   actor=staff["treasurer"]))
        assert not drawdown.finished_within(1)  # the cap check excludes every other holder
    drawdown.join()
    assert BorrowingFacility.objects.get(pk=facility.pk).drawn == Decimal("500.00")
    assert JournalEntry.objects.filter(lender=funded, reference__in=["first", "second", "draw"]).count() == 3


def test_first_fundings_of_a_merchant_queue_on_its_exposure_row_not_on_the_position(funded):
    with held(SHARED, [funded.pk]):  # a newcomer's first funding passes the others in flight too
        funding = Attempt(fund(funded, MerchantFactory(lender=funded), "newcomer"))
        assert funding.finished_within(10)
    funding.join()
    newcomer = MerchantFactory(lender=funded)
    in_flight = "INSERT INTO ledger_merchantexposure (lender_id, merchant_id, principal) VALUES (%s, %s, 100)"
    with held(in_flight, [funded.pk, newcomer.pk]):  # another first funding of the same merchant, not yet committed
        funding = Attempt(fund(funded, newcomer, "first"))
        assert not funding.finished_within(1)  # it waits, then checks the limit against what that one left
    funding.join()
    assert JournalEntry.objects.filter(lender=funded, reference="first").exists()
