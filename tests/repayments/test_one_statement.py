"""The one-statement repayment (repayments_post_fast) writes exactly what the general path writes.

Two identical books (the benchmark's: current and overdue pre-sale advances, three-month term loans, end of day
run through yesterday) take the same payments, received today: one book through repayment_post, whose common
repayments are one statement, the other through the general path only. Every row either wrote must match —
installments, allocations, penalty accruals, the loan, the journal lines, the audit, the GL balances.
"""

import datetime
import itertools
import re
from decimal import ROUND_DOWN, Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from apps.core.audit import AuditEvent
from apps.core.errors import ReferenceReused
from apps.ledger.models import BALANCE_SLICES, AccountBalance, Acct, JournalLine
from apps.ledger.selectors import balances_by_code_get
from apps.repayments import services
from apps.repayments.management.commands.bench_repayments import Command
from apps.repayments.models import Loan, PenaltyAccrual, Repayment, RepaymentAllocation
from apps.repayments.selectors import merchant_credit_total, reconciliation_get
from tests.helpers import RowsRead, balance_slices, libpq_calls
from tests.locking import Attempt, held

_examples = itertools.count()
LOANS = 10  # g = 1..10: a term loan at 1 and 6, an overdue advance at 10, current advances otherwise

payments = st.lists(st.tuples(st.integers(0, LOANS - 1),
                              st.decimals(min_value=Decimal("0.01"), max_value=Decimal("3000.00"), places=2)),
                    min_size=1, max_size=12)


def _book(slug: str, strategy: str):
    command = Command()
    command.log = lambda *args: None
    lender, loan_ids = command._book_load(LOANS, slug=slug)
    Loan.objects.filter(pk__in=loan_ids[1::2]).update(allocation_strategy=strategy)
    return lender, list(Loan.objects.filter(pk__in=loan_ids).select_related("merchant__lender").order_by("id"))


def _state(lender, loans) -> dict:
    """Everything the payments wrote, with ids made relative to the book."""
    first = loans[0].pk
    numbered = {i.pk: (i.loan_id - first, i.number) for loan in loans for i in loan.installments.all()}
    return {
        "loans": [(loan.pk - first, loan.state, loan.penalty_accrued_through, loan.maturity_date)
                  for loan in Loan.objects.filter(pk__in=[loan.pk for loan in loans]).order_by("id")],
        "installments": [(i.loan_id - first, i.number, i.principal_due, i.interest_due, i.interest_accrued, i.fee_accrued,
                          i.penalty_accrued, i.penalty_paid, i.fee_paid, i.interest_paid, i.principal_paid)
                         for loan in loans for i in loan.installments.order_by("number")],
        "allocations": [(a.repayment.reference, numbered.get(a.installment_id), a.component, a.amount)
                        for a in RepaymentAllocation.objects.filter(repayment__loan__in=loans).select_related("repayment")],
        "penalties": [(numbered[p.installment_id], p.period_start, p.period_end, p.amount)
                      for p in PenaltyAccrual.objects.filter(loan__in=loans).order_by("id")],
        "lines": [(re.sub(r":\d+:", lambda m: f":{int(m.group(0)[1:-1]) - first}:", line.entry.reference),
                   line.entry.kind, re.sub(r"#\d+", "#", line.entry.description),
                   line.account.code, line.debit, line.credit, line.merchant_id is not None)
                  for line in JournalLine.objects.filter(entry__lender=lender).exclude(entry__reference="bench-opening")
                  .select_related("entry", "account").order_by("entry_id", "id")],
        "audit": [(e.action, e.actor_label, e.data) for e in AuditEvent.objects.filter(
            subject_type="repayments.loan", subject_id__in=[str(loan.pk) for loan in loans]).order_by("id")],
        "balances": sorted(balances_by_code_get(lender=lender).items()),
    }


def _pay(loans, plan, *, general: bool) -> None:
    post = services._repayment_post_general if general else services.repayment_post
    for n, (index, amount) in enumerate(plan):
        kwargs = {"loan": loans[index], "amount": amount, "source": "portal", "reference": f"p{n}", "actor": "m"}
        if general:
            kwargs.update(received_on=services.business_date_today(), prepayment="reduce_installment")
        try:
            post(**kwargs)
        except Exception as exc:  # noqa: BLE001 - a payment to a loan just repaid is refused in both books
            assert "LOAN_NOT_REPAYABLE" in str(getattr(exc, "code", "")) or "takes no repayments" in str(exc), exc
        loans[index].refresh_from_db()


@pytest.mark.django_db
@settings(max_examples=10, phases=[Phase.explicit, Phase.reuse, Phase.generate], deadline=None,  # no shrinking: slow
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=payments, strategy=st.sampled_from(["default", "oldest_installment_first"]))
@example(plan=[(0, Decimal("66.96")), (0, Decimal("1636.45"))], strategy="default")  # a payment, then a reshape
def test_one_statement_writes_what_the_general_path_writes(plan, strategy):
    n = next(_examples)  # the examples share the test's transaction: each loads books of its own
    one_lender, one = _book(f"one-{n}", strategy)
    general_lender, general = _book(f"general-{n}", strategy)
    _pay(one, plan, general=False)
    _pay(general, plan, general=True)
    assert _state(one_lender, one) == _state(general_lender, general)
    for lender in (one_lender, general_lender):
        assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


@pytest.mark.django_db(transaction=True)
def test_out_of_any_transaction_as_requests_post_it_the_statement_writes_what_the_general_path_writes():
    """Above, the test's transaction puts the statement in a savepoint on psycopg's cursor; a request's repayment is
    its own transaction and goes to libpq in one call (apps.core.db). The same rows, including a replay's refusal."""
    one_lender, one = _book("one-alone", "default")
    general_lender, general = _book("general-alone", "default")
    plan = [(1, Decimal("10.00")), (9, Decimal("130.00")), (0, Decimal("66.96")), (1, Decimal("25.50")),
            (0, Decimal("1636.45")), (5, Decimal("12.34"))]
    with libpq_calls() as libpq:
        _pay(one, plan, general=False)
    assert libpq.call_count >= len(plan) - 1  # (the reshape gives way to the general path)
    _pay(general, plan, general=True)
    assert _state(one_lender, one) == _state(general_lender, general)
    posted = services.repayment_post(loan=one[2], amount=Decimal("11.00"), source="portal", reference="last", actor="m")
    columns = [field.attname for field in Repayment._meta.concrete_fields]
    stored = Repayment.objects.get(pk=posted.pk)
    assert [getattr(posted, c) for c in columns] == [getattr(stored, c) for c in columns] and posted.loan is one[2]
    with pytest.raises(ReferenceReused):
        services.repayment_post(loan=one[1], amount=Decimal("10.01"), source="portal", reference="p0", actor="m")
    assert services.repayment_post(loan=one[1], amount=Decimal("10.00"), source="portal", reference="p0",
                                   actor="m").reference == "p0"
    assert all(row.difference == 0 for row in reconciliation_get(lender=one_lender))


@pytest.mark.django_db
def test_a_common_repayment_is_one_statement_and_the_rest_give_way():
    _, loans = _book("count", "default")
    advance, term = loans[1], loans[0]
    general = mock.patch.object(services, "_repayment_post_general", wraps=services._repayment_post_general)
    with general as spy:
        # The accrual of the day, the allocation, both entries: one statement; a replay reads the first one back.
        for queries in (1, 2):
            with CaptureQueriesContext(connection) as captured:
                services.repayment_post(loan=advance, amount=Decimal("10.00"), source="portal", reference="small",
                                        actor="m")
            # (the test runs inside a transaction, so the statement is in a savepoint)
            assert len([q for q in captured if "SAVEPOINT" not in str(q["sql"])]) == queries
        assert spy.call_count == 0
        services.repayment_post(loan=term, amount=Decimal("4000.00"), source="portal", reference="prepays", actor="m")
        services.repayment_post(loan=advance, amount=Decimal("999999.00"), source="portal", reference="pays-off", actor="m")
    assert spy.call_count == 2  # the reshape and the payoff went the general way
    assert term.schedule_revisions.count() == 1
    advance.refresh_from_db()
    assert advance.state == "paid_off"
    assert merchant_credit_total(merchants=[advance.merchant]) > 0


@pytest.mark.django_db
def test_a_repayment_reads_its_own_installments_not_the_book_s():
    """The statement's plan is generic (planned once for any loan): it must reach the loan's installments by key.
    It once joined the paid amounts to every installment in the book, so each repayment slowed as the book grew."""
    Command()._book_load(600, slug="crowd")  # ~840 other installments, analysed
    _, loans = _book("alone", "default")
    for n, loan in enumerate(loans):
        with RowsRead("repayments_loaninstallment") as installments:
            services.repayment_post(loan=loan, amount=Decimal("10.00"), source="portal", reference=f"r{n}", actor="m")
        assert installments.count <= 40, loan.repayment_method  # the book holds ~850


def _slices(lender) -> dict[tuple[str, int], Decimal]:
    return {(b.account.code, b.slice): b.balance
            for b in AccountBalance.objects.filter(account__lender=lender).select_related("account")}


@pytest.mark.django_db(transaction=True)
def test_a_repayment_takes_balance_slices_no_one_holds_and_never_waits_for_one():
    """Every repayment of a lender moves the same balances. Each takes the first slice of each that no other
    transaction holds and that can take its movement (SKIP LOCKED), so repayments running at once commit side by
    side instead of one after another; an account it does not move is not locked (ledger 0016, repayments 0017)."""
    lender, loans = _book("slices", "default")
    _pay(loans, [(1, Decimal("10.00"))], general=True)  # the day accrued; receivables spread over their slices
    before = _slices(lender)
    hold = ("SELECT 1 FROM ledger_accountbalance b JOIN ledger_account a ON a.id = b.account_id"
            " WHERE a.lender_id = %s AND (b.slice = 0 OR a.code = %s) FOR UPDATE OF b")
    with held(hold, [lender.pk, Acct.FEE_INCOME]):  # slice 0 of every balance, and every slice of one that won't move
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # a wait fails the test instead of hanging it
        try:
            services.repayment_post(loan=loans[1], amount=Decimal("10.00"), source="portal", reference="free", actor="m")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    after = _slices(lender)
    moved = {key: after[key] - before[key] for key in after if after[key] != before[key]}
    assert moved[(Acct.CASH, 1)] == Decimal("10.00") and sum(moved.values()) == 0
    assert {slice_ for _, slice_ in moved} == {1}
    assert not loans[1].schedule_revisions.exists() and RepaymentAllocation.objects.filter(repayment__reference="free")


@pytest.mark.django_db(transaction=True)
def test_when_only_a_held_slice_can_take_a_movement_the_repayment_waits_for_it():
    """No free slice can take the movement: the call is made again in wait mode (repayments 0017), which waits for
    the slice that can, in account order, and takes it; it neither fails nor spreads the balance."""
    lender, loans = _book("wait", "default")
    _pay(loans, [(1, Decimal("10.00"))], general=False)  # the day accrued
    interest = AccountBalance.objects.filter(account__lender=lender, account__code=Acct.LOANS_INTEREST)
    total = sum(interest.values_list("balance", flat=True))
    interest.exclude(slice=0).update(balance=0)
    interest.filter(slice=0).update(balance=total)  # all of it in slice 0, a state one-slice takes can approach
    with held("SELECT 1 FROM ledger_accountbalance WHERE id = %s FOR UPDATE", [interest.get(slice=0).pk]):
        attempt = Attempt(lambda: services.repayment_post(loan=loans[2], amount=Decimal("10.00"), source="portal",
                                                          reference="waits", actor="m"))
        assert not attempt.finished_within(1.5)
    attempt.join()
    slices = balance_slices(lender, Acct.LOANS_INTEREST)
    assert slices[0] < total and slices[1:] == [0] * (BALANCE_SLICES - 1)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


@pytest.mark.django_db
def test_a_movement_no_single_slice_can_take_spreads_the_balance_over_its_slices():
    """Interest of 204.46 in the book, 25.55 a slice: paying the overdue advance's 120.00 of interest needs more than
    any slice holds, so every slice is locked, the account checked as a whole and its new total spread evenly."""
    lender, loans = _book("spread", "default")
    assert max(balance_slices(lender, Acct.LOANS_INTEREST)) < Decimal("100.00")
    services.repayment_post(loan=loans[9], amount=Decimal("100.00"), source="portal", reference="spreads", actor="m")
    slices = balance_slices(lender, Acct.LOANS_INTEREST)
    total = sum(slices)
    share = (total / BALANCE_SLICES).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    assert slices[1:] == [share] * (BALANCE_SLICES - 1) and slices[0] == total - share * (BALANCE_SLICES - 1)
    assert total == balances_by_code_get(lender=lender)[Acct.LOANS_INTEREST] > 0
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


@pytest.mark.django_db(transaction=True)
def test_giving_way_releases_the_statement_s_locks_inside_a_caller_s_transaction():
    """Inside a caller's transaction the statement runs in a savepoint: giving way undoes its writes."""
    from django.db import transaction

    _, loans = _book("savepoint", "default")
    term = loans[0]
    with transaction.atomic():
        services.repayment_post(loan=term, amount=Decimal("4000.00"), source="portal", reference="prepays", actor="m")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM repayments_repayment WHERE loan_id = %s", [term.pk])
            assert cursor.fetchone()[0] == 1
    assert term.schedule_revisions.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("days", [1, 17, 45, 100])
def test_the_one_loan_accrual_writes_what_end_of_day_writes(days):
    """repayments_loan_accrue (a repayment's accrual) against end of day's set-based statements, on twin books."""
    from apps.core.calendar import business_date_today
    from apps.repayments.accrual import interest_accrue_range, loan_accrual_lines, penalties_accrue_range

    through = business_date_today() + datetime.timedelta(days=days)  # across due dates, into penalty
    one_lender, one = _book(f"accrue-one-{days}", "default")
    eod_lender, eod = _book(f"accrue-eod-{days}", "default")
    for loan in one:
        loan_accrual_lines(loan=loan, through=through)
    interest_accrue_range(lo=eod[0].pk, hi=eod[-1].pk + 1, through=through)
    penalties_accrue_range(lo=eod[0].pk, hi=eod[-1].pk + 1, through=through)
    one_state, eod_state = _state(one_lender, one), _state(eod_lender, eod)
    assert one_state["installments"] == eod_state["installments"]
    assert sorted(one_state["penalties"]) == sorted(eod_state["penalties"]) and one_state["loans"] == eod_state["loans"]
    assert one_state["penalties"] or days < 30  # the overdue advance accrued penalty
