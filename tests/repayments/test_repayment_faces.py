"""Paying in the portal, recording in the back-office, and a partner bank posting through the API."""

import datetime
from decimal import Decimal
from unittest import mock

import pytest

from apps.accounts.models import Role
from apps.financing.disbursement import loan_disburse
from apps.ledger.models import JournalEntry
from apps.repayments.models import Loan, LoanState, Repayment
from apps.repayments.services import repayment_reverse
from tests.conftest import TODAY

D = Decimal


@pytest.fixture
def loan(accepted):
    return loan_disburse(application=accepted("1500.00"), actor="treasurer")


def test_merchant_pays_in_the_portal_and_a_double_submit_posts_once(client, merchant_user, loan):
    client.force_login(merchant_user)
    page = client.get(f"/portal/loans/{loan.pk}/").content.decode()
    assert "Pay now" in page and "1,500.00" in page
    # The double-submit reference travels hidden, with no label standing over nothing; rates read as percentages.
    assert 'type="hidden" name="reference"' in page and 'for="id_reference"' not in page
    assert f"{loan.annual_rate * 100:.2f}% a year" in page
    form = {"amount": "300.00", "reference": "browser-ref-1"}
    assert "Payment of 300.00 received." in client.post(f"/portal/loans/{loan.pk}/", form, follow=True).content.decode()
    response = client.post(f"/portal/loans/{loan.pk}/", form, follow=True)
    assert "Your payment of 300.00 was already received; nothing was taken again." in response.content.decode()
    assert Repayment.objects.filter(loan=loan).count() == 1


def test_the_portal_overview_shows_what_is_owed_what_is_next_and_what_is_overdue(client, merchant_user, loan):
    from apps.repayments.models import LoanInstallment
    from apps.repayments.services import repayment_post

    client.force_login(merchant_user)
    (installment,) = loan.installments.all()  # a pre-sale advance: one bullet
    owed = installment.principal_due + installment.interest_due + installment.fee_due
    page = client.get("/portal/").content.decode()
    assert "1,500.00" in page and "principal outstanding on 1 loan" in page
    assert f"Next: <strong>{owed:,.2f}</strong> due {installment.due_date:%Y-%m-%d}" in page and 'id="overdue-amount"' not in page
    repayment_post(loan=loan, amount=D("300.00"), source="portal", reference="p1", actor=merchant_user)
    assert f"Next: <strong>{owed - D('300.00'):,.2f}</strong>" in client.get("/portal/").content.decode()
    paid = loan.installments.get()
    assert f'<td class="num">{paid.principal_due - paid.principal_paid:,.2f}</td>' in (
        client.get("/portal/loans/").content.decode())  # the list shows what is left of each loan's principal
    LoanInstallment.objects.filter(pk=installment.pk).update(due_date=TODAY - datetime.timedelta(days=1))  # now past due
    page = client.get("/portal/").content.decode()
    assert f"{owed - D('300.00'):,.2f} is overdue" in page and 'id="next-due"' not in page


def test_loan_pages_add_paid_and_accrued_amounts_to_the_cent(client, merchant_user, staff, loan):
    from apps.repayments.models import LoanInstallment

    # Django's |add filter adds whole numbers: 0.99 + 0.20 paid showed as 0.00, and 8.46 + 1.25 accrued as 9.00.
    LoanInstallment.objects.filter(loan=loan).update(interest_accrued=D("9.45"), fee_accrued=D("1.45"),
                                                     interest_paid=D("0.99"), fee_paid=D("0.20"))
    client.force_login(merchant_user)
    portal = client.get(f"/portal/loans/{loan.pk}/").content.decode()
    client.force_login(staff[Role.TREASURER])
    backoffice = client.get(f"/backoffice/loans/{loan.pk}/").content.decode()
    for page in (portal, backoffice):
        assert '<div class="stat">9.71</div>' in page  # (9.45 − 0.99) + (1.45 − 0.20)
        assert '<td class="num">1.19</td>' in page  # the schedule's paid column


def test_a_defaulted_loan_can_be_paid_from_its_page(client, merchant_user, loan):
    Loan.objects.filter(pk=loan.pk).update(state=LoanState.DEFAULTED, defaulted_on=TODAY)
    client.force_login(merchant_user)
    page = client.get(f"/portal/loans/{loan.pk}/").content.decode()
    assert "Pay now" in page and "Payoff quote" in page
    response = client.post(f"/portal/loans/{loan.pk}/", {"amount": "100.00", "reference": "d1"}, follow=True)
    assert "Payment of 100.00 received." in response.content.decode()


def test_another_merchants_loan_is_not_found(client, other_merchant_user, loan):
    client.force_login(other_merchant_user)
    assert client.get(f"/portal/loans/{loan.pk}/").status_code == 404
    assert client.post(f"/portal/loans/{loan.pk}/", {"amount": "1.00", "reference": "x"}).status_code == 404


def test_a_bad_amount_is_explained_and_nothing_posts(client, merchant_user, loan):
    client.force_login(merchant_user)
    response = client.post(f"/portal/loans/{loan.pk}/", {"amount": "-5", "reference": "r"})
    assert response.status_code == 400 and "greater than or equal to 0.01" in response.content.decode()
    assert not Repayment.objects.exists()


def test_treasurer_records_a_repayment_and_the_timeline_shows_the_loans_story(client, staff, loan):
    client.force_login(staff[Role.COLLECTOR])
    client.post(f"/backoffice/loans/{loan.pk}/", {"amount": "100.00", "reference": "c1"})
    assert not Repayment.objects.exists()
    client.force_login(staff[Role.TREASURER])
    response = client.post(f"/backoffice/loans/{loan.pk}/", {"amount": "5000.00", "reference": "t1"}, follow=True)
    body = response.content.decode()
    assert "Repayment recorded." in body and "Paid off" in body and "credit" in body
    for event in ("Submit", "Accept offer", "Activate", "Pay off", "Loan funding", "Loan repayment"):
        assert event in body  # state changes, and the disbursement and repayment entries
    assert Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF


def test_the_dashboard_shows_the_book_and_the_capital_position(client, staff, loan, other_lender,
                                                               django_assert_max_num_queries):
    from apps.ledger.selectors import capital_position_get
    from tests.accounts.factories import StaffFactory

    Loan.objects.filter(pk=loan.pk).update(state=LoanState.OVERDUE)  # as end of day would mark it
    client.force_login(staff[Role.COLLECTOR])
    with django_assert_max_num_queries(14):  # sessions, user, then a query or two per figure
        page = client.get("/backoffice/").content.decode()
    position = capital_position_get(lender=loan.merchant.lender)
    assert 'id="book-outstanding">1<' in page and 'id="book-overdue">1<' in page and "1,500.00 of principal" in page
    assert f'id="cap-headroom">{position.headroom:,.2f}<' in page and "Borrowing headroom" in page
    client.force_login(StaffFactory(lender=other_lender, role=Role.LENDER_ADMIN))  # another lender sees its own book
    assert 'id="book-outstanding">0<' in client.get("/backoffice/").content.decode()


def test_the_loan_list_shows_what_is_outstanding_and_finds_a_loan_by_merchant_or_number(client, staff, loan,
                                                                                       django_assert_max_num_queries):
    from apps.repayments.services import repayment_post

    repayment_post(loan=loan, amount=D("300.00"), source="portal", reference="p1", actor="m")
    left = loan.installments.get().principal_due - loan.installments.get().principal_paid
    client.force_login(staff[Role.COLLECTOR])
    with django_assert_max_num_queries(8):  # the page of loans, then one query for all their outstanding principal
        page = client.get("/backoffice/loans/").content.decode()
    assert f'<td class="num">{left:,.2f}</td>' in page
    for q in (loan.merchant.company_name[:4].lower(), f"#{loan.pk}", str(loan.pk)):
        assert f"#{loan.pk}</a>" in client.get("/backoffice/loans/", {"q": q}).content.decode(), q
    for q in ("no such shop", "9" * 30):  # a number past bigint is a name that matches nothing, not an error
        response = client.get("/backoffice/loans/", {"q": q})
        assert response.status_code == 200 and "No loans." in response.content.decode()


def test_loan_list_is_tenant_scoped(client, staff, loan, other_lender):
    from tests.accounts.factories import StaffFactory

    client.force_login(StaffFactory(lender=other_lender, role=Role.LENDER_ADMIN))
    assert f"#{loan.pk}" not in client.get("/backoffice/loans/").content.decode()
    assert client.get(f"/backoffice/loans/{loan.pk}/").status_code == 404


def test_a_bank_lists_only_the_loans_it_co_funds_and_posts_repayments_once(bank_api, loan, colent_loan):
    listed = bank_api.get("/api/v1/loans/").json()
    assert [row["id"] for row in listed["results"]] == [colent_loan.pk]
    body = {"amount": "200.00", "currency": "CNY", "reference": "HB-77", "received_on": str(TODAY)}
    first = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", body, format="json")
    assert first.status_code == 201 and first.json()["allocations"][0]["component"] in ("fee", "interest", "principal")
    again = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", body, format="json")
    assert again.status_code == 200 and again.json() == first.json() and Repayment.objects.count() == 1
    other = bank_api.post(f"/api/v1/loans/{loan.pk}/repayments/", {**body, "reference": "HB-78"}, format="json")
    assert other.status_code == 404  # a loan the bank does not fund


@pytest.mark.parametrize("changes,says", [({"amount": "201.00"}, "another amount"),
                                          ({"received_on": str(TODAY + datetime.timedelta(days=1))}, "another received on"),
                                          ({"prepayment": "reduce_term"}, "another prepayment")])
def test_a_bank_resending_a_reference_with_other_terms_is_refused(bank_api, colent_loan, changes, says):
    body = {"amount": "200.00", "currency": "CNY", "reference": "HB-77", "received_on": str(TODAY)}
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY + datetime.timedelta(days=2)):
        assert bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", body, format="json").status_code == 201
        response = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", {**body, **changes}, format="json")
    assert response.status_code == 422 and response.json()["code"] == "DUPLICATE_REFERENCE"
    assert says in response.json()["detail"] and Repayment.objects.count() == 1


def test_a_bank_resending_a_reversed_repayment_is_told_nothing_was_posted(bank_api, colent_loan):
    body = {"amount": "200.00", "currency": "CNY", "reference": "HB-77", "received_on": str(TODAY)}
    first = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", body, format="json")
    repayment_reverse(repayment=Repayment.objects.get(pk=first.json()["id"]), actor="treasurer", reason="Bounced")
    entries = JournalEntry.objects.count()
    response = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", body, format="json")
    assert response.status_code == 409 and response.json()["code"] == "REPAYMENT_REVERSED"
    assert "Bounced" in response.json()["detail"] and JournalEntry.objects.count() == entries


@pytest.mark.parametrize("changes,field", [({"currency": "USD"}, "currency"), ({"amount": "-1"}, "amount"),
                                           ({"received_on": "2999-01-01"}, "received_on"), ({"amount": 12.5}, "amount")])
def test_bad_bank_repayments_are_refused_clearly(bank_api, colent_loan, changes, field):
    body = {"amount": "200.00", "currency": "CNY", "reference": "HB-1", "received_on": str(TODAY), **changes}
    response = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", body, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == field
    assert not Repayment.objects.exists()


def test_the_loan_timeline_includes_its_accruals_and_reversals(loan):
    import datetime

    from apps.repayments.accrual import loan_accrue
    from apps.repayments.selectors import loan_timeline
    from apps.repayments.services import repayment_post, repayment_reverse

    loan_accrue(loan=loan, through=loan.start_date + datetime.timedelta(days=3), actor="eod")
    payment = repayment_post(loan=loan, amount=D("50.00"), source="portal", reference="p", actor="m",
                             received_on=loan.start_date + datetime.timedelta(days=3))
    repayment_reverse(repayment=payment, actor="treasurer", reason="Bounced")
    actions = [event.action for event in loan_timeline(loan=loan)]
    assert "Accrual of interest, fees and penalties" in actions and "Loan funding" in actions
    assert "Reversal" in actions and "repayment_reversed" in actions


def test_a_bank_reads_one_loan_it_co_funds_with_its_schedule_and_what_is_owed(bank_api, loan, colent_loan):
    bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", {"amount": "200.00", "currency": "CNY",
                  "reference": "HB-5", "received_on": str(TODAY)}, format="json")
    body = bank_api.get(f"/api/v1/loans/{colent_loan.pk}/").json()
    installment = colent_loan.installments.get()
    assert body["id"] == colent_loan.pk and body["outstanding"]["principal"] == str(installment.principal_due
                                                                                   - installment.principal_paid)
    assert [(row["number"], row["principal_paid"], row["status"]) for row in body["installments"]] == \
        [(1, str(installment.principal_paid), "due")]
    assert body["payoff"]["on"] == str(TODAY) and D(body["payoff"]["total"]) >= D(body["outstanding"]["principal"])
    assert bank_api.get(f"/api/v1/loans/{loan.pk}/").status_code == 404  # not its loan


def test_an_unknown_api_address_is_a_problem_json_404(bank_api):
    response = bank_api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "NOT_FOUND" and "/api/docs/" in response.json()["detail"]


@pytest.mark.parametrize("amount", ["1000000000000.00", "-5.00", "1e2", " 5.00 ", "+5", "NaN", "5.", "\uff15.00", True])
def test_an_amount_out_of_range_or_not_a_plain_decimal_is_refused_field_by_field(bank_api, colent_loan, amount):
    response = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", {"amount": amount, "currency": "CNY",
                             "reference": "HB-6", "received_on": str(TODAY)}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "amount"


def test_the_timeline_shows_the_cash_a_co_lent_repayment_brought_and_penalty_taken_back(colent_loan):
    from apps.repayments.accrual import loan_accrue
    from apps.repayments.selectors import loan_timeline
    from apps.repayments.services import repayment_post

    due = colent_loan.installments.get().due_date
    loan_accrue(loan=colent_loan, through=due + datetime.timedelta(days=12), actor="eod")  # penalty since the due date
    with mock.patch("django.utils.timezone.localdate", return_value=due + datetime.timedelta(days=13)):
        repayment_post(loan=colent_loan, amount=D("300.00"), source="partner", reference="late", actor="bank",
                       received_on=due + datetime.timedelta(days=5))
    reasons = [event.reason for event in loan_timeline(loan=colent_loan)]
    paid = [r for r in reasons if "(entry repayment:" in r and ":partner:late" in r]
    assert len(paid) == 1 and "— 300.00 (" in paid[0]  # not 300.00 plus the bank's share of the interest
    assert any(f"(entry penalty-unwind:{colent_loan.pk}:partner:late" in r for r in reasons)


def _record(client, loan, **fields):
    return client.post(f"/backoffice/loans/{loan.pk}/", {"amount": "100.00", "reference": "bo", **fields}, follow=True)


def test_the_treasurer_records_a_payment_as_of_the_day_the_bank_received_it(client, staff, loan):
    client.force_login(staff[Role.TREASURER])
    received = TODAY + datetime.timedelta(days=3)
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY + datetime.timedelta(days=10)):
        assert 'name="received_on"' in client.get(f"/backoffice/loans/{loan.pk}/").content.decode()
        future = _record(client, loan, received_on=str(TODAY + datetime.timedelta(days=11)))
        assert "Received on: A payment cannot be received on a day that has not come yet." in future.content.decode()
        assert "Repayment recorded." in _record(client, loan, received_on=str(received)).content.decode()
        again = _record(client, loan, received_on=str(received)).content.decode()  # a double submit
    assert "already recorded; nothing was posted again" in again
    assert Repayment.objects.get().received_on == received


def test_each_bad_amount_gets_its_own_message(client, staff, loan):
    client.force_login(staff[Role.TREASURER])
    for amount, says in (("1000000000000.00", "less than or equal to 999999999999.99"),
                         ("1.001", "no more than 2 decimal places"), ("abc", "Enter a number")):
        assert "Amount: " in (body := _record(client, loan, amount=amount).content.decode()) and says in body
    assert not Repayment.objects.exists()


def test_a_defaulted_loan_takes_a_repayment_in_the_back_office_and_it_can_be_reversed_there(client, staff, loan):
    Loan.objects.filter(pk=loan.pk).update(state=LoanState.DEFAULTED, defaulted_on=TODAY)
    client.force_login(staff[Role.TREASURER])
    assert "Record a repayment" in client.get(f"/backoffice/loans/{loan.pk}/").content.decode()
    page = _record(client, loan).content.decode()
    assert "Repayment recorded." in page and Repayment.objects.count() == 1
    assert f'action="/backoffice/loans/{loan.pk}/repayments/{Repayment.objects.get().pk}/reverse/"' in page


def test_reversing_twice_says_it_was_already_reversed(client, staff, loan):
    client.force_login(staff[Role.TREASURER])
    _record(client, loan)
    url = f"/backoffice/loans/{loan.pk}/repayments/{Repayment.objects.get().pk}/reverse/"
    late_evening_utc = datetime.datetime(2026, 12, 4, 20, 30, tzinfo=datetime.UTC)  # 12-05 in Shanghai
    with mock.patch("django.utils.timezone.now", return_value=late_evening_utc):
        assert "Repayment reversed" in client.post(url, {"reason": "Bounced"}, follow=True).content.decode()
    assert "already reversed on 2026-12-05." in client.post(url, {"reason": "Bounced"}, follow=True).content.decode()


@pytest.mark.parametrize("asked,says", [("2000-01-01", "is for a day from today"), ("9999-12-31", "is for a day from today"),
                                        ("soon", "must be a date")])
def test_a_payoff_quote_for_a_day_it_cannot_be_says_so_and_quotes_today(client, merchant_user, loan, asked, says):
    client.force_login(merchant_user)
    body = client.get(f"/portal/loans/{loan.pk}/", {"quote_date": asked}).content.decode()
    assert says in body and f"To close the loan on {TODAY:%Y-%m-%d}" in body


def test_a_payoff_quote_for_a_later_day_is_for_that_day(client, merchant_user, loan):
    client.force_login(merchant_user)
    later = TODAY + datetime.timedelta(days=20)
    body = client.get(f"/portal/loans/{loan.pk}/", {"quote_date": str(later)}).content.decode()
    assert f"To close the loan on {later:%Y-%m-%d}" in body and "this is today" not in body


def test_the_timeline_shows_what_undoing_a_co_lent_payment_moved_not_the_banks_interest_share_too(colent_loan):
    from apps.repayments.selectors import loan_timeline
    from apps.repayments.services import repayment_post

    due = colent_loan.installments.get().due_date
    with mock.patch("django.utils.timezone.localdate", return_value=due + datetime.timedelta(days=10)):
        repayment_post(loan=colent_loan, amount=D("300.00"), source="partner", reference="later", actor="bank")
        repayment_post(loan=colent_loan, amount=D("200.00"), source="partner", reference="earlier", actor="bank",
                       received_on=due + datetime.timedelta(days=2))
    undone = [e.reason for e in loan_timeline(loan=colent_loan) if e.reason.startswith("Reversal of repayment:")]
    assert undone and all("— 300.00 (" in reason for reason in undone)


def test_an_api_address_without_its_slash_is_a_problem_json_404_that_says_so_not_a_redirect(bank_api, colent_loan):
    response = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments", {"amount": "1.00"}, format="json")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert f"did you mean /api/v1/loans/{colent_loan.pk}/repayments/" in response.json()["detail"]
    assert not Repayment.objects.exists()
