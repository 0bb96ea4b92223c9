"""Working a case: contacts, promises, assignment, closing — each checked, audited and tenant-scoped."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from apps.accounts.models import Role
from apps.collections.models import CollectionCase, CollectionsPolicy, ContactLog, PromiseToPay
from apps.collections.services import case_assign, case_close, contact_log, promise_record
from apps.core.audit import audit_trail_for
from apps.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.accounts.factories import StaffFactory
from tests.collections.conftest import owed_when_due
from tests.conftest import TODAY

D = Decimal
DAY = datetime.timedelta(days=1)
pytestmark = pytest.mark.django_db


def test_the_first_contact_starts_work_on_the_case_and_is_on_its_history(open_case, collector):
    case = open_case()
    contact_log(case=case, actor=collector, channel="phone", outcome="reached", note="Says the buyer paid late")
    case.refresh_from_db()
    assert case.state == "in_progress"
    trail = [(e.action, e.from_state, e.to_state, e.actor_label) for e in audit_trail_for(case)]
    assert trail[-2:] == [("start", "open", "in_progress", "collector-user"), ("contact_logged", "", "", "collector-user")]
    assert audit_trail_for(case).last().reason == "Phone: Reached the merchant — Says the buyer paid late"


@pytest.mark.parametrize("kwargs, code", [
    ({"channel": "pigeon", "outcome": "reached"}, "INVALID_CHANNEL"),
    ({"channel": "phone", "outcome": "maybe"}, "INVALID_OUTCOME"),
])
def test_a_bad_contact_is_refused_and_nothing_is_written(open_case, collector, kwargs, code):
    case = open_case()
    with pytest.raises(ValidationFailed) as exc:
        contact_log(case=case, actor=collector, **kwargs)
    assert exc.value.code == code
    assert not ContactLog.objects.exists() and CollectionCase.objects.get(pk=case.pk).state == "open"


def test_only_collectors_and_admins_work_cases(open_case, staff):
    case = open_case()
    with pytest.raises(Forbidden):
        contact_log(case=case, actor=staff[Role.CREDIT_OFFICER], channel="phone", outcome="reached")
    contact_log(case=case, actor=staff[Role.LENDER_ADMIN], channel="visit", outcome="no_answer")


def test_another_lenders_staff_cannot_touch_the_case(open_case, other_lender):
    case = open_case()
    foreign = StaffFactory(lender=other_lender, role=Role.LENDER_ADMIN)
    for attempt in (lambda: contact_log(case=case, actor=foreign, channel="phone", outcome="reached"),
                    lambda: promise_record(case=case, actor=foreign, amount=D("1.00"), promised_date=TODAY),
                    lambda: case_close(case=case, actor=foreign, reason="x"),
                    lambda: case_assign(case=case, collector=None, actor=foreign)):
        with pytest.raises(NotFound):
            attempt()


def test_a_promise_moves_the_case_to_promise_to_pay(open_case, collector):
    case = open_case()
    promise = promise_record(case=case, actor=collector, amount=D("200.00"), promised_date=TODAY + 7 * DAY, today=TODAY)
    case.refresh_from_db()
    assert (case.state, promise.state, promise.paid_before) == ("promise_to_pay", "open", D("0.00"))
    assert [e.action for e in audit_trail_for(case)][-2:] == ["start", "promise"]
    with pytest.raises(Conflict) as exc:
        promise_record(case=case, actor=collector, amount=D("1.00"), promised_date=TODAY, today=TODAY)
    assert exc.value.code == "PROMISE_OPEN" and "200.00" in exc.value.message


@pytest.mark.parametrize("amount, days, code", [
    (D("0.00"), 1, "INVALID_AMOUNT"),
    (D("-5.00"), 1, "INVALID_AMOUNT"),
    (D("1.005"), 1, "INVALID_AMOUNT"),
    (D("100.00"), -1, "PROMISE_DATE_PAST"),
    (D("100.00"), 31, "PROMISE_TOO_FAR"),
    (D("99999.00"), 1, "PROMISE_EXCEEDS_OWED"),
])
def test_a_bad_promise_is_refused_with_a_clear_code_and_changes_nothing(open_case, collector, amount, days, code):
    case = open_case()
    with pytest.raises(ValidationFailed) as exc:
        promise_record(case=case, actor=collector, amount=amount, promised_date=TODAY + days * DAY, today=TODAY)
    assert exc.value.code == code
    assert not PromiseToPay.objects.exists() and CollectionCase.objects.get(pk=case.pk).state == "open"


def test_the_promise_horizon_is_the_policys(lender, open_case, collector):
    CollectionsPolicy.objects.create(lender=lender, version=1, effective_from=TODAY - DAY, promise_max_days=45)
    case = open_case()
    promise_record(case=case, actor=collector, amount=owed_when_due(case.loan), promised_date=TODAY + 45 * DAY, today=TODAY)


def test_admins_assign_collectors_of_their_lender_and_collectors_take_unassigned_cases(lender, open_case, staff,
                                                                                       other_lender):
    case = open_case()
    admin, collector = staff[Role.LENDER_ADMIN], staff[Role.COLLECTOR]
    other = StaffFactory(lender=lender, role=Role.COLLECTOR, username="other-collector")
    with pytest.raises(ValidationFailed):
        case_assign(case=case, collector=staff[Role.TREASURER], actor=admin)
    with pytest.raises(ValidationFailed):
        case_assign(case=case, collector=StaffFactory(lender=other_lender, role=Role.COLLECTOR), actor=admin)
    case_assign(case=case, collector=collector, actor=collector)  # takes it
    with pytest.raises(Forbidden) as exc:
        case_assign(case=case, collector=other, actor=other)  # cannot take it from a colleague
    assert exc.value.code == "ASSIGNMENT_FORBIDDEN"
    case_assign(case=case, collector=other, actor=admin)
    case.refresh_from_db()
    assert case.assigned_to == other and case.assigned_at is not None
    assert [e.reason for e in audit_trail_for(case) if e.action == "case_assigned"] == [
        "Assigned to collector-user", "Assigned to other-collector"]


def test_a_closed_case_takes_no_more_work(open_case, collector):
    case = open_case()
    with pytest.raises(ValidationFailed):
        case_close(case=case, actor=collector, reason="  ")
    case_close(case=case, actor=collector, reason="Disputed in court", today=TODAY)
    case.refresh_from_db()
    assert (case.state, case.closed_on) == ("closed", TODAY)
    with pytest.raises(Conflict) as exc:
        contact_log(case=case, actor=collector, channel="phone", outcome="reached")
    assert exc.value.code == "CASE_NOT_LIVE"


def test_the_state_field_is_protected_and_the_database_keeps_one_live_case_per_loan(open_case):
    case = open_case()
    with pytest.raises(AttributeError):
        case.state = "closed"
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionCase.objects.create(lender=case.lender, loan=case.loan, opened_on=TODAY)
    with pytest.raises(IntegrityError), transaction.atomic():  # a live case has no end date
        CollectionCase.objects.filter(pk=case.pk).update(closed_on=TODAY)


def test_the_database_keeps_one_open_promise_per_case(open_case, collector):
    case = open_case()
    promise_record(case=case, actor=collector, amount=D("10.00"), promised_date=TODAY, today=TODAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        PromiseToPay.objects.create(case=case, amount=D("5.00"), promised_date=TODAY, paid_before=0, created_by=collector)
