"""Net capital, the borrowing cap, facilities, loan funding limits, breach and its cure, rule sets."""

import datetime

import pytest

from apps.core.audit import audit_trail_for
from apps.core.calendar import business_date_today
from apps.core.errors import ValidationFailed
from apps.ledger.errors import (
    CapExceeded,
    DuplicateReference,
    ExceedsOutstanding,
    FacilityLimitExceeded,
    InsufficientCash,
    LenderInBreach,
    SingleBorrowerLimitExceeded,
    TooManyLendingBanks,
)
from apps.ledger.models import Acct, BorrowingFacility, JournalEntry, RuleSet
from apps.ledger.selectors import (
    apr_ceiling_get,
    balances_by_code_get,
    capital_position_get,
    merchant_exposure_get,
    net_capital_get,
    rules_in_force_get,
)
from apps.ledger.services import (
    borrowing_interest_pay,
    borrowing_repay,
    donation_record,
    drawdown_record,
    equity_inject,
    facility_close,
    facility_open,
    loan_funding_post,
    loan_repayment_post,
    loan_write_off_post,
    lpr_rate_record,
    provision_post,
    rule_set_version_create,
)
from tests.merchants.factories import MerchantFactory

from .conftest import D, ref


def books_snapshot(lender):
    return (sorted(balances_by_code_get(lender=lender).items()),
            JournalEntry.objects.filter(lender=lender).count(),
            sorted(BorrowingFacility.objects.filter(lender=lender).values_list("id", "drawn")))


def test_net_capital_counts_capital_donations_income_and_expenses(capitalised, facility, treasurer):
    donation_record(lender=capitalised, amount=D("100000.00"), reference="gift", actor=treasurer)
    assert net_capital_get(lender=capitalised) == D("1100000.00")
    drawdown_record(facility=facility, amount=D("200000.00"), reference="dd", actor=treasurer)
    assert net_capital_get(lender=capitalised) == D("1100000.00")  # borrowing is not capital
    borrowing_interest_pay(facility=facility, amount=D("1500.00"), reference="int", actor=treasurer)
    provision_post(lender=capitalised, amount=D("8500.00"), reference="prov", actor=treasurer)
    assert net_capital_get(lender=capitalised) == D("1090000.00")
    assert net_capital_get(lender=capitalised, as_of=datetime.date(2000, 1, 1)) == 0


def test_drawdown_within_the_cap_posts_and_tracks_the_facility(capitalised, facility, treasurer):
    entry = drawdown_record(facility=facility, amount=D("500000.00"), reference="dd-1", actor=treasurer)
    facility.refresh_from_db()
    assert facility.drawn == D("500000.00")
    position = capital_position_get(lender=capitalised)
    assert position.borrowings == D("500000.00") and position.headroom == 0 and not position.in_breach
    assert position.cash == D("1500000.00")
    assert [e.action for e in audit_trail_for(facility)] == ["facility_opened", "drawdown_recorded"]
    assert entry.facility == facility


def test_a_facility_event_replays_only_under_its_own_facility(capitalised, facility, treasurer):
    """A retried drawdown, bank repayment or interest payment returns its first entry; the same reference and amount
    under the other bank's facility is a different event, refused, and nothing moves on either facility."""
    other = facility_open(lender=capitalised, bank_name="Bank B", limit=D("1000.00"), annual_rate=D("4"), actor=treasurer)
    for post in (drawdown_record, borrowing_interest_pay, borrowing_repay):
        first = post(facility=facility, amount=D("10.00"), reference=f"{post.__name__}-1", actor=treasurer)
        assert post(facility=facility, amount=D("10.00"), reference=f"{post.__name__}-1", actor=treasurer) == first
        before = books_snapshot(capitalised)
        with pytest.raises(DuplicateReference, match="with Harbour Commercial Bank") as exc:
            post(facility=other, amount=D("10.00"), reference=f"{post.__name__}-1", actor=treasurer)
        assert exc.value.existing == first and books_snapshot(capitalised) == before


def test_drawdown_past_the_cap_is_refused_with_the_numbers(capitalised, facility, treasurer):
    drawdown_record(facility=facility, amount=D("300000.00"), reference="dd-1", actor=treasurer)
    before = books_snapshot(capitalised)
    with pytest.raises(CapExceeded) as exc:
        drawdown_record(facility=facility, amount=D("200000.01"), reference="dd-2", actor=treasurer)
    message = exc.value.message
    assert "net capital 1,000,000.00" in message and "borrowings are 300,000.00" in message
    assert "headroom 200,000.00" in message and exc.value.code == "CAP_EXCEEDED"
    assert books_snapshot(capitalised) == before


def test_drawdown_above_the_facility_limit_is_refused(capitalised, treasurer):
    small = facility_open(lender=capitalised, bank_name="Bank A", limit=D("1000.00"), annual_rate=D("4"), actor=treasurer)
    with pytest.raises(FacilityLimitExceeded, match="limit of 1,000.00"):
        drawdown_record(facility=small, amount=D("1000.01"), reference=ref(), actor=treasurer)


def test_at_most_two_lending_banks(capitalised, treasurer):
    facility_open(lender=capitalised, bank_name="Bank A", limit=D("1000.00"), annual_rate=D("4"), actor=treasurer)
    second = facility_open(lender=capitalised, bank_name="Bank B", limit=D("1000.00"), annual_rate=D("4"), actor=treasurer)
    # Another line from a bank already lending is not another bank.
    facility_open(lender=capitalised, bank_name="bank  a", limit=D("500.00"), annual_rate=D("4"), actor=treasurer)
    with pytest.raises(TooManyLendingBanks, match="at most 2"):
        facility_open(lender=capitalised, bank_name="Bank C", limit=D("1000.00"), annual_rate=D("4"), actor=treasurer)
    facility_close(facility=second, actor=treasurer)
    facility_open(lender=capitalised, bank_name="Bank C", limit=D("1000.00"), annual_rate=D("4"), actor=treasurer)


def test_a_drawn_facility_cannot_be_closed_and_a_closed_one_cannot_be_drawn(capitalised, facility, treasurer):
    drawdown_record(facility=facility, amount=D("10.00"), reference="d", actor=treasurer)
    with pytest.raises(Exception, match="Repay"):
        facility_close(facility=facility, actor=treasurer)
    borrowing_repay(facility=facility, amount=D("10.00"), reference="r", actor=treasurer)
    facility_close(facility=facility, actor=treasurer)
    with pytest.raises(Exception, match="closed"):
        drawdown_record(facility=facility, amount=D("10.00"), reference="d2", actor=treasurer)


def test_repaying_more_than_drawn_is_refused(capitalised, facility, treasurer):
    drawdown_record(facility=facility, amount=D("10.00"), reference="d", actor=treasurer)
    with pytest.raises(ExceedsOutstanding):
        borrowing_repay(facility=facility, amount=D("10.01"), reference="r", actor=treasurer)


def test_breach_blocks_drawdowns_until_cured(capitalised, facility, treasurer):
    drawdown_record(facility=facility, amount=D("450000.00"), reference="dd-1", actor=treasurer)
    provision_post(lender=capitalised, amount=D("200000.00"), reference="prov-1", actor=treasurer)
    position = capital_position_get(lender=capitalised)
    assert position.net_capital == D("800000.00") and position.cap_amount == D("400000.00")
    assert position.in_breach and position.headroom == D("-50000.00")
    with pytest.raises(LenderInBreach, match="in breach"):
        drawdown_record(facility=facility, amount=D("0.01"), reference="dd-2", actor=treasurer)
    # Curing by repayment …
    borrowing_repay(facility=facility, amount=D("50000.00"), reference="rep-1", actor=treasurer)
    assert not capital_position_get(lender=capitalised).in_breach
    # … and again by capital after a write-off pushes it back into breach.
    merchant = MerchantFactory(lender=capitalised)
    loan_funding_post(lender=capitalised, merchant=merchant, amount=D("40000.00"), reference="loan-1", actor=treasurer)
    loan_write_off_post(lender=capitalised, merchant=merchant, amount=D("40000.00"), reference="wo-1", actor=treasurer)
    assert not capital_position_get(lender=capitalised).in_breach  # written off against the allowance
    provision_post(lender=capitalised, amount=D("2.00"), reference="prov-2", actor=treasurer)
    assert capital_position_get(lender=capitalised).in_breach
    equity_inject(lender=capitalised, amount=D("4.00"), reference="eq-2", actor=treasurer)
    assert not capital_position_get(lender=capitalised).in_breach
    drawdown_record(facility=facility, amount=D("1.00"), reference="dd-3", actor=treasurer)  # headroom 1.00


def test_loan_funding_refused_without_cash(books, treasurer, merchant):
    equity_inject(lender=books, amount=D("100.00"), reference="eq", actor=treasurer)
    loan_funding_post(lender=books, merchant=merchant, amount=D("5.00"), reference="l1", actor=treasurer)
    with pytest.raises(InsufficientCash, match="Cash at bank is 95.00"):
        loan_funding_post(lender=books, merchant=merchant, amount=D("95.01"), reference="l2", actor=treasurer)


def test_loan_funding_refused_past_the_single_borrower_limit(capitalised, treasurer, merchant):
    loan_funding_post(lender=capitalised, merchant=merchant, amount=D("30000.00"), reference="l1", actor=treasurer)
    before = books_snapshot(capitalised)
    with pytest.raises(SingleBorrowerLimitExceeded) as exc:
        loan_funding_post(lender=capitalised, merchant=merchant, amount=D("20000.01"), reference="l2", actor=treasurer)
    assert "single-borrower limit of 50,000.00" in exc.value.message and "headroom 20,000.00" in exc.value.message
    assert books_snapshot(capitalised) == before
    assert merchant_exposure_get(merchant=merchant) == D("30000.00")
    loan_funding_post(lender=capitalised, merchant=MerchantFactory(lender=capitalised), amount=D("50000.00"),
                      reference="l3", actor=treasurer)


def test_repayment_and_write_off_move_exposure_and_books(capitalised, treasurer, merchant):
    loan_funding_post(lender=capitalised, merchant=merchant, amount=D("10000.00"), reference="l1", actor=treasurer)
    loan_repayment_post(lender=capitalised, merchant=merchant, amount=D("4000.00"), reference="p1", actor=treasurer)
    with pytest.raises(ExceedsOutstanding):
        loan_repayment_post(lender=capitalised, merchant=merchant, amount=D("6000.01"), reference="p2", actor=treasurer)
    provision_post(lender=capitalised, amount=D("1000.00"), reference="prov", actor=treasurer)
    loan_write_off_post(lender=capitalised, merchant=merchant, amount=D("6000.00"), reference="wo", actor=treasurer)
    balances = balances_by_code_get(lender=capitalised)
    assert merchant_exposure_get(merchant=merchant) == 0 and balances[Acct.LOANS_PRINCIPAL] == 0
    assert balances[Acct.LOAN_LOSS_ALLOWANCE] == 0  # used up first …
    assert balances[Acct.IMPAIRMENT_EXPENSE] == D("6000.00")  # … the rest straight to expense
    assert net_capital_get(lender=capitalised) == D("994000.00")


def test_another_lenders_merchant_is_refused(capitalised, other_lender, treasurer):
    stranger = MerchantFactory(lender=other_lender)
    with pytest.raises(ValidationFailed, match="another lender"):
        loan_funding_post(lender=capitalised, merchant=stranger, amount=D("1.00"), reference="x", actor=treasurer)


def test_replayed_loan_funding_posts_once(capitalised, treasurer, merchant):
    first = loan_funding_post(lender=capitalised, merchant=merchant, amount=D("100.00"), reference="disb-1", actor=treasurer)
    assert loan_funding_post(lender=capitalised, merchant=merchant, amount=D("100.00"), reference="disb-1",
                             actor=treasurer) == first
    with pytest.raises(DuplicateReference):
        loan_repayment_post(lender=capitalised, merchant=merchant, amount=D("100.00"), reference="disb-1", actor=treasurer)
    assert merchant_exposure_get(merchant=merchant) == D("100.00")


def test_rule_set_versions_are_effective_dated_and_audited(capitalised, facility, staff):
    admin = staff["lender_admin"]
    today = business_date_today()
    assert rules_in_force_get(lender=capitalised).borrowing_cap_ratio == D("0.50")
    v1 = rule_set_version_create(lender=capitalised, actor=admin, effective_from=today, reason="board decision",
                                 borrowing_cap_ratio=D("0.40"))
    v2 = rule_set_version_create(lender=capitalised, actor=admin, effective_from=today + datetime.timedelta(days=30),
                                 reason="2025 NFRA measures", single_borrower_ratio=D("0.10"))
    assert (v1.version, v2.version) == (1, 2)
    assert v2.borrowing_cap_ratio == D("0.40")  # carried over from the version it follows
    assert rules_in_force_get(lender=capitalised).single_borrower_ratio == D("0.05")
    assert rules_in_force_get(lender=capitalised, on=today + datetime.timedelta(days=30)).single_borrower_ratio == D("0.10")
    with pytest.raises(CapExceeded, match="40%"):
        drawdown_record(facility=facility, amount=D("400000.01"), reference=ref(), actor=admin)
    (event,) = audit_trail_for(v1)
    assert event.data["changes"] == {"borrowing_cap_ratio": ["0.50", "0.40"]} and event.actor == admin
    with pytest.raises(ValidationFailed):
        rule_set_version_create(lender=capitalised, actor=admin, effective_from=today, reason="x", borrowing_cap_ratio=D("1.5"))
    with pytest.raises(ValidationFailed, match="stay as they were") as exc:  # the past is not rewritten
        rule_set_version_create(lender=capitalised, actor=admin, effective_from=today - datetime.timedelta(days=1),
                                reason="looser last week", borrowing_cap_ratio=D("0.60"))
    assert exc.value.code == "RULES_BACKDATED"
    assert RuleSet.objects.filter(lender=capitalised).count() == 2


def test_apr_ceiling_is_a_multiple_of_the_lpr_in_force(books, staff):
    assert apr_ceiling_get(lender=books, on=datetime.date(2025, 6, 1)) == D("12.0000")
    assert apr_ceiling_get(lender=books, on=datetime.date(2025, 1, 1)) == D("12.4000")
    rate = lpr_rate_record(effective_from=datetime.date(2026, 12, 22), one_year_rate=D("2.90"), actor=staff["lender_admin"])
    assert apr_ceiling_get(lender=books, on=datetime.date(2026, 12, 22)) == D("11.6000")
    assert apr_ceiling_get(lender=books, on=datetime.date(2026, 12, 21)) == D("12.0000")
    assert [e.action for e in audit_trail_for(rate)] == ["lpr_recorded"]
    with pytest.raises(ValidationFailed):
        lpr_rate_record(effective_from=datetime.date(2027, 1, 1), one_year_rate=D("-1"), actor=None)


def test_the_state_read_with_the_lock_matches_the_separate_reads(capitalised, treasurer, merchant):
    from django.db import transaction

    from apps.ledger.selectors import chart_get, position_lock_state_get

    loan_funding_post(lender=capitalised, merchant=merchant, amount=D("1234.56"), reference="f-1", actor=treasurer)
    rule_set_version_create(lender=capitalised, actor=treasurer, effective_from=business_date_today(), reason="tighter",
                            single_borrower_ratio=D("0.04"))
    with transaction.atomic():
        state = position_lock_state_get(lender=capitalised, reference="f-1", merchant_id=merchant.pk)
        fresh = position_lock_state_get(lender=capitalised, reference="f-2", merchant_id=None)
    assert state.balances == balances_by_code_get(lender=capitalised) and state.chart == chart_get(lender=capitalised)
    assert state.reference_posted and state.exposure == D("1234.56") == merchant_exposure_get(merchant=merchant)
    rules = rules_in_force_get(lender=capitalised)
    assert (state.rules.version, state.rules.borrowing_cap_ratio, state.rules.single_borrower_ratio) == (
        rules.version, rules.borrowing_cap_ratio, rules.single_borrower_ratio)
    assert not fresh.reference_posted and fresh.exposure is None
