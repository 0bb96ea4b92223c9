"""A hypothesis state machine drives the real services and database with random funding events,
drawdowns, loan fundings, repayments, provisions and write-offs, checking after every step that
the books balance, the cap holds unless capital fell, and a refused event changed nothing."""

from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from apps.core.errors import DomainError
from apps.ledger.models import Acct, BorrowingFacility, JournalEntry, MerchantExposure
from apps.ledger.selectors import (
    balances_by_code_get,
    capital_position_get,
    merchant_exposure_get,
    trial_balance_all_currencies_zero,
)
from apps.ledger.services import (
    borrowing_interest_pay,
    borrowing_repay,
    donation_record,
    drawdown_record,
    equity_inject,
    facility_open,
    ledger_setup_ensure,
    loan_funding_post,
    loan_repayment_post,
    loan_write_off_post,
    provision_post,
)
from tests.accounts.factories import LenderFactory
from tests.merchants.factories import MerchantFactory

amounts = st.integers(min_value=1, max_value=60_000_000).map(lambda cents: Decimal(cents) / 100)
small = st.integers(min_value=1, max_value=6_000_000).map(lambda cents: Decimal(cents) / 100)
shares = st.integers(min_value=1, max_value=120)  # percent of what is outstanding; over 100 must be refused
# Events that lower net capital: the only ones allowed to put the lender in breach.
CAPITAL_REDUCING = {"provision", "write_off", "interest"}


def part(outstanding: Decimal, percent: int) -> Decimal:
    return max((outstanding * percent / 100).quantize(Decimal("0.01")), Decimal("0.01"))


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def books(self):
        self.lender = LenderFactory()
        ledger_setup_ensure(lender=self.lender)
        self.merchants = [MerchantFactory(lender=self.lender) for _ in range(3)]
        self.n = 0
        self.posted: list[tuple] = []  # (callable, kwargs) of successful events, for replays
        # Start from a funded lender with one bank line so the cap, not the setup, is what binds.
        equity_inject(lender=self.lender, amount=Decimal("1000000.00"), reference="seed-equity", actor="hypothesis")
        self.facilities = [facility_open(lender=self.lender, bank_name="Bank A", limit=Decimal("2000000.00"),
                                         annual_rate=Decimal("4.35"), actor="hypothesis")]

    def snapshot(self):
        return (
            sorted(balances_by_code_get(lender=self.lender).items()),
            JournalEntry.objects.filter(lender=self.lender).count(),
            sorted(BorrowingFacility.objects.filter(lender=self.lender).values_list("id", "drawn", "state")),
            sorted(MerchantExposure.objects.filter(lender=self.lender).values_list("merchant_id", "principal")),
        )

    def attempt(self, name, service, **kwargs):
        """Run one event; a refusal must leave the books exactly as they were."""
        self.n += 1
        kwargs.setdefault("reference", f"ev-{self.n}")
        was_in_breach = capital_position_get(lender=self.lender).in_breach
        before = self.snapshot()
        try:
            service(actor="hypothesis", **kwargs)
        except DomainError as exc:
            event(f"{name}: {exc.code}")
            assert self.snapshot() == before, f"refused {name} changed the books"
            return
        event(f"{name}: posted")
        self.posted.append((service, kwargs))
        position = capital_position_get(lender=self.lender)
        if name == "drawdown":
            assert position.borrowings <= position.cap_amount
        if position.in_breach and not was_in_breach:
            event("breach")
            assert name in CAPITAL_REDUCING, f"{name} put the lender in breach"

    @rule(amount=small)
    def inject_equity(self, amount):
        self.attempt("equity", equity_inject, lender=self.lender, amount=amount)

    @rule(amount=small)
    def donate(self, amount):
        self.attempt("donation", donation_record, lender=self.lender, amount=amount)

    @rule(bank=st.sampled_from("ABC"), limit=amounts)
    def open_facility(self, bank, limit):
        try:
            self.facilities.append(facility_open(lender=self.lender, bank_name=f"Bank {bank}", limit=limit,
                                                 annual_rate=Decimal("4.35"), actor="hypothesis"))
        except DomainError as exc:
            assert exc.code == "TOO_MANY_LENDING_BANKS"
            assert len({f.bank_name for f in self.facilities} | {f"Bank {bank}"}) > 2

    @rule(i=st.integers(0, 10), amount=amounts)
    def drawdown(self, i, amount):
        self.attempt("drawdown", drawdown_record, facility=self.facilities[i % len(self.facilities)], amount=amount)

    @rule(share=shares)
    def drawdown_near_the_cap(self, share):
        headroom = capital_position_get(lender=self.lender).headroom
        self.attempt("drawdown", drawdown_record, facility=self.facilities[0], amount=part(max(headroom, Decimal("1")), share))

    @rule(share=st.integers(1, 60))
    def provision_share_of_capital(self, share):
        capital = capital_position_get(lender=self.lender).net_capital
        self.attempt("provision", provision_post, lender=self.lender, amount=part(max(capital, Decimal("1")), share))

    @rule(i=st.integers(0, 10), share=shares)
    def repay_borrowing(self, i, share):
        facility = self.facilities[i % len(self.facilities)]
        facility.refresh_from_db()
        self.attempt("repay", borrowing_repay, facility=facility, amount=part(facility.drawn, share))

    @rule(i=st.integers(0, 10), amount=small)
    def pay_interest(self, i, amount):
        self.attempt("interest", borrowing_interest_pay, facility=self.facilities[i % len(self.facilities)], amount=amount)

    @rule(m=st.integers(0, 2), amount=small)
    def fund_loan(self, m, amount):
        self.attempt("fund", loan_funding_post, lender=self.lender, merchant=self.merchants[m], amount=amount)

    @rule(m=st.integers(0, 2), share=shares)
    def repay_loan(self, m, share):
        amount = part(merchant_exposure_get(merchant=self.merchants[m]), share)
        self.attempt("collect", loan_repayment_post, lender=self.lender, merchant=self.merchants[m], amount=amount)

    @rule(amount=amounts)
    def provision(self, amount):
        self.attempt("provision", provision_post, lender=self.lender, amount=amount)

    @rule(m=st.integers(0, 2), share=shares)
    def write_off(self, m, share):
        amount = part(merchant_exposure_get(merchant=self.merchants[m]), share)
        self.attempt("write_off", loan_write_off_post, lender=self.lender, merchant=self.merchants[m], amount=amount)

    @precondition(lambda self: self.posted)
    @rule(k=st.integers(0, 1000))
    def replay(self, k):
        """A retried request (same reference and amount) returns the original entry and changes nothing."""
        service, kwargs = self.posted[k % len(self.posted)]
        before = self.snapshot()
        service(actor="hypothesis", **kwargs)
        assert self.snapshot() == before

    @invariant()
    def books_balance(self):
        if not hasattr(self, "lender"):
            return
        assert trial_balance_all_currencies_zero(lender=self.lender)
        position = capital_position_get(lender=self.lender)
        assert position.in_breach or position.borrowings <= position.cap_amount
        drawn = BorrowingFacility.objects.filter(lender=self.lender).aggregate(s=Sum("drawn"))["s"] or 0
        assert position.borrowings == drawn
        exposure = MerchantExposure.objects.filter(lender=self.lender).aggregate(s=Sum("principal"))["s"] or 0
        principal = balances_by_code_get(lender=self.lender)[Acct.LOANS_PRINCIPAL]
        assert principal == exposure
        assert position.cash >= 0


@pytest.mark.django_db
def test_ledger_state_machine():
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=30, stateful_step_count=25, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
