"""Back-office ledger pages: who may do what, what people see, CSV exports, no N+1."""

import csv
import datetime
import io

import pytest

from apps.accounts.models import Role
from apps.core.audit import audit_trail_for
from apps.core.calendar import business_date_today
from apps.ledger.context_processors import capital_breach
from apps.ledger.models import BorrowingFacility, EntryKind, JournalEntry, RuleSet
from apps.ledger.selectors import borrowings_outstanding_get, cash_get
from apps.ledger.services import drawdown_record, loan_funding_post, provision_post
from tests.merchants.factories import MerchantFactory

from .conftest import D

PAGES = ["/backoffice/ledger/", "/backoffice/ledger/trial-balance/", "/backoffice/ledger/balance-sheet/",
         "/backoffice/ledger/income-statement/", "/backoffice/ledger/journal/", "/backoffice/ledger/funding/",
         "/backoffice/ledger/rules/"]


def rows(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("url", PAGES)
def test_any_staff_may_read_merchants_may_not(client, staff, merchant_user, capitalised, url):
    client.force_login(staff[Role.COLLECTOR])
    assert client.get(url).status_code == 200
    client.force_login(merchant_user)
    assert client.get(url).status_code == 403


def test_capital_page_shows_the_position(client, staff, capitalised, facility):
    drawdown_record(facility=facility, amount=D("125000.00"), reference="dd", actor=staff[Role.TREASURER])
    client.force_login(staff[Role.CREDIT_OFFICER])
    body = client.get("/backoffice/ledger/").content.decode()
    for text in ("1,000,000.00", "125,000.00", "500,000.00", "375,000.00", "Harbour Commercial Bank", 'id="cap-gauge"',
                 "25.0% of the cap used", "50,000.00"):
        assert text in body
    assert "Borrowing cap breached" not in body


def test_breach_is_shown_loudly(client, staff, capitalised, facility):
    drawdown_record(facility=facility, amount=D("500000.00"), reference="dd", actor=staff[Role.TREASURER])
    provision_post(lender=capitalised, amount=D("1.00"), reference="p", actor=staff[Role.TREASURER])
    client.force_login(staff[Role.COLLECTOR])
    for url in PAGES:
        assert "Borrowing cap breached" in client.get(url).content.decode()


def test_context_processor_reports_breach_lazily(rf, staff, capitalised, facility, django_assert_num_queries):
    request = rf.get("/backoffice/")
    request.user = staff[Role.COLLECTOR]
    with django_assert_num_queries(0):
        context = capital_breach(request)
    assert not context["capital_breach"]
    drawdown_record(facility=facility, amount=D("500000.00"), reference="dd", actor=staff[Role.TREASURER])
    provision_post(lender=capitalised, amount=D("1.00"), reference="p", actor=staff[Role.TREASURER])
    assert capital_breach(request)["capital_breach"].in_breach


def test_treasurer_records_equity_and_a_double_submit_posts_once(client, staff, books):
    client.force_login(staff[Role.TREASURER])
    form = {"amount": "250000.00", "description": "Series A", "reference": "bo-fixed-1", "business_date": ""}
    response = client.post("/backoffice/ledger/funding/equity/", form, follow=True)
    assert "Equity injection posted." in response.content.decode()
    client.post("/backoffice/ledger/funding/equity/", form)
    assert JournalEntry.objects.filter(lender=books, kind=EntryKind.EQUITY_INJECTION).count() == 1
    assert cash_get(lender=books) == D("250000.00")
    (event,) = [e for e in audit_trail_for(JournalEntry.objects.get(reference="treasury:bo-fixed-1"))]
    assert event.action == "equity_injected" and event.actor == staff[Role.TREASURER]


def test_treasurer_opens_a_facility_and_a_drawdown_past_the_cap_is_explained(client, staff, capitalised):
    client.force_login(staff[Role.TREASURER])
    opening = {"bank_name": "Bank A", "limit": "900000", "annual_rate": "4.2", "reference": "bo-f-1"}
    client.post("/backoffice/ledger/funding/facility/", opening)
    client.post("/backoffice/ledger/funding/facility/", opening)  # submitted twice: one facility
    facility = BorrowingFacility.objects.get(lender=capitalised)
    response = client.post("/backoffice/ledger/funding/drawdown/",
                           {"facility": facility.pk, "amount": "600000.00", "reference": "bo-dd-1"}, follow=True)
    body = response.content.decode()
    assert "headroom 500,000.00" in body and "net capital 1,000,000.00" in body
    assert borrowings_outstanding_get(lender=capitalised) == 0
    client.post("/backoffice/ledger/funding/drawdown/", {"facility": facility.pk, "amount": "100000.00", "reference": "bo-dd-2"})
    client.post("/backoffice/ledger/funding/interest/", {"facility": facility.pk, "amount": "350.00", "reference": "bo-i-1"})
    client.post("/backoffice/ledger/funding/repayment/", {"facility": facility.pk, "amount": "40000.00", "reference": "bo-r-1"})
    assert borrowings_outstanding_get(lender=capitalised) == D("60000.00")
    assert cash_get(lender=capitalised) == D("1059650.00")


def test_funding_forms_need_the_treasurer_role(client, staff, capitalised, other_lender):
    client.force_login(staff[Role.CREDIT_OFFICER])
    assert client.post("/backoffice/ledger/funding/equity/", {"amount": "1.00", "reference": "x"}).status_code == 403
    client.force_login(staff[Role.TREASURER])
    foreign = BorrowingFacility.objects.create(lender=other_lender, bank_name="X", limit=D("10"), annual_rate=D("1"),
                                               currency="CNY", opened_on=datetime.date.today())
    response = client.post("/backoffice/ledger/funding/drawdown/", {"facility": foreign.pk, "amount": "1.00", "reference": "y"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    response = client.post("/backoffice/ledger/funding/equity/", {"amount": "-5", "reference": "z"})
    assert "greater than or equal to 0.01" in response.content.decode()
    assert not JournalEntry.objects.filter(reference__in=["x", "y", "z"]).exists()


def test_only_lender_admins_version_the_rules(client, staff, capitalised):
    data = {"effective_from": business_date_today().isoformat(), "borrowing_cap_ratio": "0.45", "max_lending_banks": "2",
            "single_borrower_ratio": "0.10", "reserve_coverage_min": "1.00", "apr_multiple_of_lpr": "4",
            "min_own_share_colending": "0.30", "reason": "2025 NFRA interim measures"}
    client.force_login(staff[Role.TREASURER])
    assert client.post("/backoffice/ledger/rules/", data).status_code == 403
    client.force_login(staff[Role.LENDER_ADMIN])
    body = client.post("/backoffice/ledger/rules/", data, follow=True).content.decode()
    assert "Rule set version 1 recorded" in body and "2025 NFRA interim measures" in body
    rules = RuleSet.objects.get(lender=capitalised)
    assert rules.single_borrower_ratio == D("0.10") and rules.created_by == staff[Role.LENDER_ADMIN]
    assert "12%" in client.get("/backoffice/ledger/rules/").content.decode()  # 4 × LPR 3.00%
    backdated = {**data, "effective_from": (business_date_today() - datetime.timedelta(days=1)).isoformat()}
    body = client.post("/backoffice/ledger/rules/", backdated).content.decode()
    assert "stay as they were" in body and RuleSet.objects.filter(lender=capitalised).count() == 1


def test_reports_balance_and_export_csv(client, staff, capitalised, facility, merchant):
    treasurer = staff[Role.TREASURER]
    drawdown_record(facility=facility, amount=D("100000.00"), reference="dd", actor=treasurer)
    loan_funding_post(lender=capitalised, merchant=merchant, amount=D("20000.00"), reference="loan", actor=treasurer)
    provision_post(lender=capitalised, amount=D("500.00"), reference="prov", actor=treasurer)
    client.force_login(staff[Role.COLLECTOR])
    assert 'id="tb-difference">0.00' in client.get("/backoffice/ledger/trial-balance/").content.decode()
    tb = rows(client.get("/backoffice/ledger/trial-balance/?format=csv"))
    assert tb[0] == ["code", "account", "debit", "credit"] and tb[-1] == ["", "Total", "1100500.00", "1100500.00"]
    bs = rows(client.get("/backoffice/ledger/balance-sheet/?format=csv"))
    totals = {r[2]: r[3] for r in bs}
    assert totals["Total assets"] == totals["Total liabilities and equity"] == "1099500.00"
    assert totals["Net capital"] == "999500.00"
    inc = rows(client.get("/backoffice/ledger/income-statement/?format=csv"))
    assert inc[-1] == ["total", "", "Net income", "-500.00"]
    past = rows(client.get("/backoffice/ledger/balance-sheet/?format=csv&date=2001-01-01"))
    assert {r[2]: r[3] for r in past}["Total assets"] == "0.00"
    assert client.get("/backoffice/ledger/balance-sheet/?date=not-a-date").status_code == 200
    cap = dict(rows(client.get("/backoffice/ledger/?format=csv"))[1:])
    assert cap["net_capital"] == "999500.00" and cap["in_breach"] == "False"


def test_journal_filters_and_paginates_without_n_plus_one(client, staff, capitalised, django_assert_max_num_queries):
    treasurer = staff[Role.TREASURER]
    merchants = [MerchantFactory(lender=capitalised) for _ in range(5)]
    for i in range(40):
        loan_funding_post(lender=capitalised, merchant=merchants[i % 5], amount=D("100.00"), reference=f"loan-{i:02}",
                          actor=treasurer)
    client.force_login(staff[Role.COLLECTOR])
    with django_assert_max_num_queries(8):
        body = client.get("/backoffice/ledger/journal/").content.decode()
    assert "Page 1 of 2" in body and merchants[0].company_name in body
    body = client.get("/backoffice/ledger/journal/?reference=loan-07&account=1100").content.decode()
    assert "loan-07" in body and "loan-08" not in body and "equity-1" not in body
    body = client.get("/backoffice/ledger/journal/?date_from=2001-01-01&date_to=2001-12-31").content.decode()
    assert "No journal lines match." in body
    lines = rows(client.get("/backoffice/ledger/journal/?format=csv"))
    assert len(lines) == 1 + 2 + 80
    for url in PAGES:  # a fixed handful per page, however many rows (40 entries, 5 exposures)
        with django_assert_max_num_queries(12):
            client.get(url)


def test_another_lenders_books_are_invisible(client, staff, capitalised, other_lender):
    from apps.ledger.services import equity_inject

    equity_inject(lender=other_lender, amount=D("777.00"), reference="their-equity", actor=None)
    client.force_login(staff[Role.COLLECTOR])
    assert "their-equity" not in client.get("/backoffice/ledger/journal/").content.decode()
    assert "777.00" not in client.get("/backoffice/ledger/trial-balance/").content.decode()
