"""Back-office ledger pages: capital position, reports with CSV, the journal, funding forms, rule sets.

Any staff may read; treasurers record funding events; lender admins version the rules.
"""

import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render

from apps.accounts.access import staff_required
from apps.accounts.models import Role
from apps.core.calendar import business_date_today
from apps.core.errors import DomainError

from . import services
from .forms import AsOfForm, CapitalForm, FacilityForm, FacilityMoneyForm, JournalFilterForm, PeriodForm, RuleSetForm
from .selectors import (
    apr_ceiling_get,
    balance_sheet_get,
    capital_position_get,
    exposures_top_list,
    facilities_list,
    income_statement_get,
    journal_lines_list,
    lpr_in_force_get,
    rule_set_versions_list,
    rules_in_force_get,
    trial_balance_get,
)

PAGE_SIZE = 50


def _csv(filename: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


def _page(request, template: str, context: dict, position=None):
    """Render a ledger page; the breach banner is fed from the position the page already computed."""
    position = position or capital_position_get(lender=request.lender)
    context.setdefault("capital_breach", position if position.in_breach else None)
    return render(request, template, context)


@staff_required()
def capital(request):
    position = capital_position_get(lender=request.lender, with_facilities=True)
    exposures = exposures_top_list(lender=request.lender, position=position)
    if _wants_csv(request):
        rows = [("net_capital", position.net_capital), ("bank_borrowings", position.borrowings),
                ("cap_ratio", position.cap_ratio), ("cap_amount", position.cap_amount), ("headroom", position.headroom),
                ("in_breach", position.in_breach), ("cash", position.cash), ("lending_capacity", position.lending_capacity),
                ("single_borrower_limit", position.single_borrower_limit)]
        rows += [(f"exposure:{e.merchant_name}", e.principal) for e in exposures]
        return _csv(f"capital-{business_date_today()}.csv", ["item", "value"], rows)
    return _page(request, "ledger/capital.html", {
        "position": position, "exposures": exposures, "facilities": facilities_list(lender=request.lender),
        "apr_ceiling": apr_ceiling_get(lender=request.lender), "lpr": lpr_in_force_get(),
    }, position)


def _as_of(request):
    form = AsOfForm(request.GET or None)
    as_of = form.cleaned_data.get("date") if form.is_valid() else None
    return form, as_of or business_date_today()


@staff_required()
def trial_balance(request):
    form, as_of = _as_of(request)
    report = trial_balance_get(lender=request.lender, as_of=as_of)
    if _wants_csv(request):
        rows = [(r.code, r.name, r.debit, r.credit) for r in report.rows]
        rows.append(("", "Total", report.total_debit, report.total_credit))
        return _csv(f"trial-balance-{as_of}.csv", ["code", "account", "debit", "credit"], rows)
    return _page(request, "ledger/trial_balance.html", {"form": form, "report": report, "as_of": as_of})


@staff_required()
def balance_sheet(request):
    form, as_of = _as_of(request)
    report = balance_sheet_get(lender=request.lender, as_of=as_of)
    if _wants_csv(request):
        rows = [(section, r.code, r.name, r.amount) for section, items in
                (("assets", report.assets), ("liabilities", report.liabilities), ("equity", report.equity)) for r in items]
        rows += [("equity", "", "Current-period earnings", report.current_earnings),
                 ("total", "", "Total assets", report.total_assets),
                 ("total", "", "Total liabilities and equity", report.total_liabilities + report.total_equity),
                 ("memo", "", "Net capital", report.net_capital)]
        return _csv(f"balance-sheet-{as_of}.csv", ["section", "code", "account", "amount"], rows)
    return _page(request, "ledger/balance_sheet.html", {"form": form, "report": report, "as_of": as_of})


@staff_required()
def income_statement(request):
    form = PeriodForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    date_to = data.get("date_to") or business_date_today()
    date_from = data.get("date_from") or date_to.replace(month=1, day=1)
    report = income_statement_get(lender=request.lender, date_from=date_from, date_to=date_to)
    if _wants_csv(request):
        rows = [(section, r.code, r.name, r.amount) for section, items in
                (("income", report.income), ("expenses", report.expenses)) for r in items]
        rows.append(("total", "", "Net income", report.net_income))
        return _csv(f"income-statement-{date_from}-{date_to}.csv", ["section", "code", "account", "amount"], rows)
    return _page(request, "ledger/income_statement.html", {"form": form, "report": report})


@staff_required()
def journal(request):
    form = JournalFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    lines = journal_lines_list(lender=request.lender, date_from=data.get("date_from"), date_to=data.get("date_to"),
                               account_code=data.get("account", ""), reference=data.get("reference", ""))
    if _wants_csv(request):
        rows = ((line.entry.business_date, line.entry.reference, line.entry.get_kind_display(), line.account.code,
                 line.account.name, line.debit, line.credit, line.currency, line.merchant or "", line.entry.created_by)
                for line in lines.iterator(chunk_size=2000))
        return _csv("journal.csv", ["date", "reference", "kind", "code", "account", "debit", "credit", "currency",
                                    "merchant", "posted_by"], rows)
    page = Paginator(lines, PAGE_SIZE).get_page(request.GET.get("page"))
    return _page(request, "ledger/journal.html", {"form": form, "page": page})


# --- funding forms ----------------------------------------------------------------------------

def _capital_event(service):
    def post(lender, actor, data):
        return service(lender=lender, amount=data["amount"], reference=data["reference"], actor=actor,
                       business_date=data.get("business_date"), description=data.get("description") or service.__doc__[:60])
    return post


def _facility_event(service):
    def post(lender, actor, data):
        return service(facility=data["facility"], amount=data["amount"], reference=data["reference"], actor=actor,
                       business_date=data.get("business_date"))
    return post


def _facility_open(lender, actor, data):
    return services.facility_open(lender=lender, bank_name=data["bank_name"], limit=data["limit"],
                                  annual_rate=data["annual_rate"], actor=actor, reference=data["reference"])


# kind → (title, form, service adapter, success message)
FUNDING_EVENTS = {
    "equity": ("Record an equity injection", CapitalForm, _capital_event(services.equity_inject), "Equity injection posted."),
    "donation": ("Record a donation", CapitalForm, _capital_event(services.donation_record), "Donation posted."),
    "facility": ("Open a borrowing facility", FacilityForm, _facility_open, "Facility recorded."),
    "drawdown": ("Draw down a facility", FacilityMoneyForm, _facility_event(services.drawdown_record), "Drawdown posted."),
    "repayment": ("Repay bank borrowings", FacilityMoneyForm, _facility_event(services.borrowing_repay), "Repayment posted."),
    "interest": ("Pay interest on borrowings", FacilityMoneyForm, _facility_event(services.borrowing_interest_pay),
                 "Interest payment posted."),
}


@staff_required()
def funding(request):
    return _page(request, "ledger/funding.html", {
        "facilities": facilities_list(lender=request.lender), "events": [(k, v[0]) for k, v in FUNDING_EVENTS.items()],
        "can_record": request.user.has_role(Role.TREASURER),
    })


@staff_required(Role.TREASURER)
def funding_event(request, kind: str):
    if kind not in FUNDING_EVENTS:
        return redirect("ledger:funding")
    title, form_class, post, done = FUNDING_EVENTS[kind]
    extra = {"lender": request.lender} if form_class is FacilityMoneyForm else {}
    form = form_class(request.POST or None, **extra)
    if request.method == "POST" and form.is_valid():
        try:
            post(request.lender, request.user, form.cleaned_data)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, done)
            return redirect("ledger:capital")
    return _page(request, "ledger/funding_form.html", {"form": form, "title": title, "kind": kind})


# --- rule sets --------------------------------------------------------------------------------

@staff_required()
def rules(request):
    if request.method == "POST" and not request.user.has_role(Role.LENDER_ADMIN):
        raise PermissionDenied("Only a lender admin may change the rules.")
    current = rules_in_force_get(lender=request.lender)
    form = RuleSetForm(request.POST or None, initial={
        name: getattr(current, name) for name in services.RULE_FIELDS})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = services.rule_set_version_create(
                lender=request.lender, actor=request.user, effective_from=data["effective_from"], reason=data["reason"],
                **{name: data[name] for name in services.RULE_FIELDS})
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Rule set version {version.version} recorded, in force from {version.effective_from}.")
            return redirect("ledger:rules")
    return _page(request, "ledger/rules.html", {
        "current": current, "versions": rule_set_versions_list(lender=request.lender), "form": form,
        "can_edit": request.user.has_role(Role.LENDER_ADMIN), "lpr": lpr_in_force_get(),
        "apr_ceiling": apr_ceiling_get(lender=request.lender),
    })
