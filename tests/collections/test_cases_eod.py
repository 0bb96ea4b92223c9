"""End-of-day collection steps, called directly on one chunk as the pipeline would."""

import datetime
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.collections.cases_eod import cases_update, collectors_assign, legal_referral, promises_review
from apps.collections.models import CollectionCase, CollectionsPolicy, DunningEvent, DunningStep, PromiseToPay
from apps.collections.services import case_close, contact_log, promise_record
from apps.core.models import AuditEvent
from apps.core.money import quantize
from apps.repayments.models import Loan
from apps.repayments.services import repayment_post
from tests.accounts.factories import StaffFactory
from tests.collections.conftest import chunk, make_delinquent, owed_when_due
from tests.conftest import TODAY

D = Decimal
DAY = datetime.timedelta(days=1)
pytestmark = pytest.mark.django_db


def _audits(case, action):
    return list(AuditEvent.objects.filter(subject_type="collections.collectioncase", subject_id=str(case.pk), action=action))


def test_a_case_opens_for_each_delinquent_loan_once_with_its_priority(loans):
    overdue, defaulted, current = loans(3)
    make_delinquent(overdue, on=TODAY, dpd=10)
    make_delinquent(defaulted, on=TODAY, dpd=95, state="defaulted")

    assert cases_update(chunk(TODAY)) == 4  # two opened, two refreshed
    case = CollectionCase.objects.get(loan=overdue)
    assert (case.state, case.opened_on, case.dpd, case.refreshed_on) == ("open", TODAY, 10, TODAY)
    assert case.overdue_amount == owed_when_due(overdue)
    assert case.priority == case.overdue_amount * 10  # the default formula: overdue amount × DPD
    assert CollectionCase.objects.get(loan=defaulted).dpd == 95
    assert not CollectionCase.objects.filter(loan=current).exists()
    (opened,) = _audits(case, "case_opened")
    assert (opened.actor_label, opened.to_state) == ("system:eod", "open")

    assert cases_update(chunk(TODAY)) == 0  # the same date again changes nothing
    assert cases_update(chunk(TODAY + DAY)) == 2  # the next day only refreshes
    assert CollectionCase.objects.get(loan=overdue).dpd == 11
    assert CollectionCase.objects.count() == 2


def test_the_chunk_bounds_are_respected(loans):
    first, second = loans(2)
    make_delinquent(first, on=TODAY, dpd=5)
    make_delinquent(second, on=TODAY, dpd=5)
    cases_update(chunk(TODAY).__class__(run_id=0, business_date=TODAY, lo=second.pk, hi=second.pk + 1))
    assert list(CollectionCase.objects.values_list("loan_id", flat=True)) == [second.pk]


def test_the_policy_chooses_the_priority_formula(lender, open_case):
    CollectionsPolicy.objects.create(lender=lender, version=1, effective_from=TODAY - DAY, priority_formula="weighted",
                                     priority_amount_weight=D("0.5"), priority_dpd_weight=D("100"))
    case = open_case(dpd=20)
    assert case.priority == quantize(case.overdue_amount * D("0.5") + 2000)


def test_a_case_resolves_when_its_loan_is_current_again_and_a_new_spell_opens_a_new_case(loan, open_case):
    case = open_case(dpd=3)
    Loan.objects.filter(pk=loan.pk).update(state="active", overdue_since=None, bucket="current")
    assert cases_update(chunk(TODAY + DAY)) == 1
    case.refresh_from_db()
    assert (case.state, case.closed_on) == ("resolved", TODAY + DAY)
    (resolved,) = _audits(case, "resolve")
    assert (resolved.from_state, resolved.to_state, resolved.reason) == ("open", "resolved", "Loan is current again")
    assert cases_update(chunk(TODAY + DAY)) == 0

    make_delinquent(loan, on=TODAY + 5 * DAY, dpd=1)
    cases_update(chunk(TODAY + 5 * DAY))
    assert CollectionCase.objects.filter(loan=loan).count() == 2


def test_a_case_closed_by_hand_is_not_reopened_for_the_same_spell(loan, open_case, collector):
    case = open_case(dpd=3)
    case_close(case=case, actor=collector, reason="Handed to an outside agency", today=TODAY)
    assert cases_update(chunk(TODAY + DAY)) == 0
    assert not CollectionCase.objects.filter(loan=loan, state="open").exists()


def test_a_broken_promise_puts_the_case_back_in_progress_higher_in_the_queue(open_case, collector):
    case = open_case(dpd=10)
    base = case.priority
    contact_log(case=case, actor=collector, channel="phone", outcome="reached")
    promise = promise_record(case=case, actor=collector, amount=D("300.00"), promised_date=TODAY + 3 * DAY, today=TODAY)

    assert promises_review(chunk(TODAY + 3 * DAY)) == 0  # not yet: the promised date is still open
    assert promises_review(chunk(TODAY + 4 * DAY)) == 2  # the promise and its case
    promise.refresh_from_db()
    case.refresh_from_db()
    assert (promise.state, promise.received, promise.judged_on) == ("broken", D("0.00"), TODAY + 4 * DAY)
    assert (case.state, case.broken_promises, case.dpd) == ("in_progress", 1, 14)
    assert case.priority == quantize(case.overdue_amount * 14 * D("1.25")) > base
    (broken,) = _audits(case, "promise_broken")
    assert (broken.from_state, broken.to_state) == ("promise_to_pay", "in_progress")
    assert "Promised 300.00" in broken.reason and "0.00 received" in broken.reason

    assert promises_review(chunk(TODAY + 4 * DAY)) == 0
    assert cases_update(chunk(TODAY + 4 * DAY)) == 0  # the refresh agrees with the boosted priority


def test_a_kept_promise_that_catches_the_loan_up_resolves_the_case(loan, open_case, collector):
    case = open_case(dpd=10)
    repayment_post(loan=loan, amount=D("100.00"), source="portal", reference="before", actor="m", received_on=TODAY)
    promise = promise_record(case=case, actor=collector, amount=D("250.00"), promised_date=TODAY + DAY, today=TODAY)
    assert promise.paid_before == D("100.00")  # money before the promise does not count towards it
    everything = owed_when_due(loan)  # more than is left: the loan is repaid (the rest is the merchant's credit)
    repayment_post(loan=loan, amount=everything, source="portal", reference="after", actor="m", received_on=TODAY + DAY)

    assert promises_review(chunk(TODAY + 2 * DAY)) == 2
    promise.refresh_from_db()
    case.refresh_from_db()
    assert (promise.state, promise.received) == ("kept", everything)
    assert (case.state, case.closed_on, case.broken_promises) == ("resolved", TODAY + 2 * DAY, 0)
    assert _audits(case, "promise_kept")


def test_a_promise_whose_case_already_resolved_is_judged_without_moving_the_case(loan, open_case, collector):
    case = open_case(dpd=10)
    promise_record(case=case, actor=collector, amount=D("250.00"), promised_date=TODAY + 5 * DAY, today=TODAY)
    Loan.objects.filter(pk=loan.pk).update(state="active", overdue_since=None)
    cases_update(chunk(TODAY + DAY))
    assert promises_review(chunk(TODAY + 6 * DAY)) == 1
    assert PromiseToPay.objects.get().state == "broken"
    assert CollectionCase.objects.get(pk=case.pk).state == "resolved"


def _step(lender, action, offset):
    return DunningStep.objects.create(lender=lender, code=f"step{offset}", offset_days=offset, action=action,
                                      title="t", body="b")


def _fire(step, loan, on):
    return DunningEvent.objects.create(loan=loan, step=step, due_date=on - step.offset_days * DAY, business_date=on,
                                       dpd=step.offset_days, amount=D("1.00"))


def test_collectors_get_cases_fewest_live_cases_first(lender, staff, loans):
    a = staff[Role.COLLECTOR]
    b = StaffFactory(lender=lender, role=Role.COLLECTOR, username="collector-b")
    StaffFactory(lender=lender, role=Role.COLLECTOR, username="collector-gone", is_active=False)
    step, other = _step(lender, "assign_collector", 30), _step(lender, "", 7)
    all_loans = loans(4)
    for each in all_loans:
        make_delinquent(each, on=TODAY, dpd=30)
    cases_update(chunk(TODAY))
    busy = CollectionCase.objects.get(loan=all_loans[0])
    CollectionCase.objects.filter(pk=busy.pk).update(assigned_to=a)  # a already has one live case
    for each in all_loans:
        _fire(step, each, TODAY)
    _fire(other, all_loans[0], TODAY)

    assert collectors_assign(chunk(TODAY), step) == 3
    loads = {u.username: CollectionCase.objects.filter(assigned_to=u).count() for u in (a, b)}
    assert loads == {a.username: 2, b.username: 2}
    assert CollectionCase.objects.get(pk=busy.pk).assigned_to == a  # an assigned case keeps its collector
    (audit,) = _audits(CollectionCase.objects.filter(assigned_to=b).first(), "case_assigned")
    assert audit.reason == "Assigned to collector-b (dunning step step30)"
    assert collectors_assign(chunk(TODAY), step) == 0
    assert collectors_assign(chunk(TODAY + DAY), step) == 0  # only events fired on the business date count


def test_the_ladder_opens_the_case_it_acts_on_when_end_of_day_has_not_yet(lender, staff, loan):
    make_delinquent(loan, on=TODAY, dpd=40)
    step = _step(lender, "assign_collector", 30)
    _fire(step, loan, TODAY)
    assert collectors_assign(chunk(TODAY), step) == 2  # opened, then assigned
    assert CollectionCase.objects.get(loan=loan).assigned_to == staff[Role.COLLECTOR]


def test_a_legal_referral_is_marked_once(lender, open_case):
    case = open_case(dpd=60)
    step = _step(lender, "legal_referral", 60)
    _fire(step, case.loan, TODAY)
    assert legal_referral(chunk(TODAY), step) == 1
    case.refresh_from_db()
    assert case.legal_referred_on == TODAY and _audits(case, "legal_referred")
    assert legal_referral(chunk(TODAY), step) == 0
