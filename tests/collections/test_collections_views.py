"""The collections screens: the queue, a case's page, write-off approvals — scoped, role-checked, paginated."""

import datetime
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.collections.cases_eod import cases_update
from apps.collections.models import CollectionCase, ContactLog, PromiseToPay, Recovery, WriteOffRequest
from apps.collections.services import case_assign, write_off_request
from apps.financing.application_services import application_submit, offer_accept
from apps.financing.disbursement import loan_disburse
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get
from apps.repayments.models import Loan
from tests.collections.conftest import chunk, make_delinquent
from tests.conftest import TODAY

D = Decimal
DAY = datetime.timedelta(days=1)
pytestmark = pytest.mark.django_db


def test_the_queue_lists_live_cases_of_the_lender_highest_priority_first(client, loans, collector, foreign_loan):
    low, high, current = loans(3)
    make_delinquent(low, on=TODAY, dpd=3)
    make_delinquent(high, on=TODAY, dpd=40)
    make_delinquent(foreign_loan, on=TODAY, dpd=50)
    cases_update(chunk(TODAY))
    client.force_login(collector)
    body = client.get("/backoffice/collections/").content.decode()
    ours = [CollectionCase.objects.get(loan=loan).pk for loan in (high, low)]
    assert body.index(f'data-case="{ours[0]}"') < body.index(f'data-case="{ours[1]}"')
    foreign = CollectionCase.objects.get(loan=foreign_loan)
    assert f'data-case="{foreign.pk}"' not in body
    assert client.get(f"/backoffice/collections/cases/{foreign.pk}/").status_code == 404
    assert client.post(f"/backoffice/collections/cases/{foreign.pk}/contacts/",
                       {"channel": "phone", "outcome": "reached"}).status_code == 404
    assert not ContactLog.objects.exists()


def test_the_queue_filters_mine_and_unassigned(client, loans, collector):
    mine, theirs = loans(2)
    for loan in (mine, theirs):
        make_delinquent(loan, on=TODAY, dpd=5)
    cases_update(chunk(TODAY))
    mine, theirs = (CollectionCase.objects.get(loan=loan).pk for loan in (mine, theirs))
    case_assign(case=CollectionCase.objects.get(pk=mine), collector=collector, actor=collector)
    client.force_login(collector)
    body = client.get("/backoffice/collections/?who=mine").content.decode()
    assert f'data-case="{mine}"' in body and f'data-case="{theirs}"' not in body
    body = client.get("/backoffice/collections/?who=unassigned").content.decode()
    assert f'data-case="{theirs}"' in body and f'data-case="{mine}"' not in body
    assert client.get("/backoffice/collections/?who=bogus&state=nonsense").status_code == 200


def test_the_queue_is_paginated_without_n_plus_one(client, verified, graded, open_orders, collector,
                                                  django_assert_max_num_queries):
    merchant = graded(verified, "A")
    for order in open_orders(merchant, 27):
        application = application_submit(merchant=merchant, order_ids=[order.pk], amount="500.00", actor="m", as_of=TODAY)
        offer_accept(application=application, actor="m")
        make_delinquent(loan_disburse(application=application, actor="t"), on=TODAY, dpd=12)
    cases_update(chunk(TODAY))
    client.force_login(collector)
    with django_assert_max_num_queries(8):
        response = client.get("/backoffice/collections/")
    assert response.status_code == 200 and "Page 1 of 2" in response.content.decode()
    with django_assert_max_num_queries(8):
        assert client.get("/backoffice/collections/?page=2&who=unassigned").status_code == 200


def test_a_collector_works_a_case_from_its_page(client, open_case, collector):
    case = open_case(dpd=10)
    client.force_login(collector)
    page = client.get(f"/backoffice/collections/cases/{case.pk}/").content.decode()
    assert 'id="dpd">10<' in page and "Log a contact" in page and "Record a promise to pay" in page

    client.post(f"/backoffice/collections/cases/{case.pk}/assign/", {"take": "1"})
    response = client.post(f"/backoffice/collections/cases/{case.pk}/contacts/",
                           {"channel": "visit", "outcome": "reached", "note": "At the warehouse"}, follow=True)
    body = response.content.decode()
    assert "Contact logged." in body and "At the warehouse" in body and "In progress" in body
    response = client.post(f"/backoffice/collections/cases/{case.pk}/promises/",
                           {"amount": "100.00", "promised_date": (TODAY - DAY).isoformat()}, follow=True)
    assert "is in the past" in response.content.decode() and not PromiseToPay.objects.exists()
    response = client.post(f"/backoffice/collections/cases/{case.pk}/promises/",
                           {"amount": "100.00", "promised_date": (TODAY + 2 * DAY).isoformat()}, follow=True)
    assert "Promise of 100.00 by" in response.content.decode()
    case.refresh_from_db()
    assert (case.state, case.assigned_to) == ("promise_to_pay", collector)


def test_credit_officers_read_cases_but_do_not_work_them(client, open_case, staff):
    case = open_case()
    client.force_login(staff[Role.CREDIT_OFFICER])
    page = client.get(f"/backoffice/collections/cases/{case.pk}/").content.decode()
    assert "Log a contact" not in page
    assert client.post(f"/backoffice/collections/cases/{case.pk}/contacts/",
                       {"channel": "phone", "outcome": "reached"}).status_code == 403
    client.force_login(staff[Role.TREASURER])
    assert client.get("/backoffice/collections/").status_code == 403


def test_write_off_by_maker_and_checker_through_the_screens(client, open_case, staff, lender):
    case = open_case(dpd=95, state="defaulted")
    admin, officer, collector = staff[Role.LENDER_ADMIN], staff[Role.CREDIT_OFFICER], staff[Role.COLLECTOR]
    client.force_login(admin)
    client.post(f"/backoffice/collections/cases/{case.pk}/write-off/", {"reason": "Merchant vanished"})
    request = WriteOffRequest.objects.get()
    assert request.maker == admin
    listing = client.get("/backoffice/collections/write-offs/").content.decode()
    assert "You asked for this one" in listing
    response = client.post(f"/backoffice/collections/write-offs/{request.pk}/approve/", follow=True)
    assert "another person must approve it" in response.content.decode()
    assert Loan.objects.get(pk=case.loan_id).state == "defaulted"

    client.force_login(collector)
    assert client.get("/backoffice/collections/write-offs/").status_code == 403
    client.force_login(officer)
    assert "Approve write-off" in client.get("/backoffice/collections/write-offs/").content.decode()
    response = client.post(f"/backoffice/collections/write-offs/{request.pk}/approve/",
                           {"note": "Checked the file", "next": "case"}, follow=True)
    body = response.content.decode()
    assert f"Loan #{case.loan_id} written off (1,000.00 of principal)." in body and "Written off" in body
    assert Loan.objects.get(pk=case.loan_id).state == "written_off"

    client.force_login(staff[Role.TREASURER])
    response = client.post(f"/backoffice/collections/cases/{case.pk}/recoveries/",
                           {"amount": "40.00", "reference": "desk-7"}, follow=True)
    assert "Recovery of 40.00 recorded as recovery income." in response.content.decode()
    assert 'id="recovered">40.00<' in response.content.decode()
    assert balances_by_code_get(lender=lender)[Acct.RECOVERY_INCOME] == D("-40.00")


def test_a_foreign_write_off_is_not_found(client, open_case, staff, other_lender):
    from tests.accounts.factories import StaffFactory

    case = open_case(dpd=95, state="defaulted")
    request = write_off_request(case=case, actor=staff[Role.COLLECTOR], reason="Gone", today=TODAY)
    client.force_login(StaffFactory(lender=other_lender, role=Role.LENDER_ADMIN))
    assert client.post(f"/backoffice/collections/write-offs/{request.pk}/approve/").status_code == 404
    assert WriteOffRequest.objects.get().state == "pending"


def test_the_back_office_loan_page_records_a_recovery_on_a_written_off_loan(client, loan, written_off, staff, lender):
    written_off(loan)
    client.force_login(staff[Role.TREASURER])
    page = client.get(f"/backoffice/loans/{loan.pk}/").content.decode()
    assert "Record a recovery" in page
    response = client.post(f"/backoffice/loans/{loan.pk}/", {"amount": "25.00", "reference": "desk-1"}, follow=True)
    assert "Recovery recorded as recovery income." in response.content.decode()
    assert Recovery.objects.get().amount == D("25.00")
    assert balances_by_code_get(lender=lender)[Acct.RECOVERY_INCOME] == D("-25.00")
