import functools

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.access import staff_required
from apps.accounts.models import STAFF_ROLES, Role
from apps.accounts.views import login_view, logout_view
from apps.collections.recoveries import recovery_post
from apps.collections.selectors import case_queue_list, write_offs_pending_list
from apps.core.audit import audit_trail_for
from apps.core.calendar import business_date_today
from apps.core.feedback import call_and_tell, form_problems
from apps.financing.application_services import accepted_offer_withdraw, application_review
from apps.financing.disbursement import disbursement_attempt
from apps.financing.models import ApplicationState
from apps.financing.selectors import applications_for_lender, merchant_owed_get, referral_queue_list
from apps.ledger.models import Acct
from apps.ledger.selectors import balances_by_code_get, capital_position_from, rules_in_force_get
from apps.merchants.models import KycDocument, KycState
from apps.merchants.selectors import credit_assessment_latest, kyc_queue_list, merchants_for_lender, sales_summary_get
from apps.merchants.services import kyc_reject, kyc_verify, merchant_reinstate, merchant_suspend
from apps.repayments.calculator import calculator_context
from apps.repayments.forms import PaymentForm, ReceivedRepaymentForm
from apps.repayments.models import LoanState, RepaymentSource
from apps.repayments.selectors import (
    installment_rows,
    loan_book_counts,
    loan_outstanding,
    loan_timeline,
    loans_for_lender,
    merchant_credit_total,
    principal_outstanding_attach,
    reconciliation_get,
)
from apps.repayments.services import merchant_credit_refund, repayment_post, repayment_reverse

PAGE_SIZE = 25


def backoffice_login(request):
    return login_view(request, allowed_roles=STAFF_ROLES, face="back-office",
                      home="backoffice:home", template="backoffice/login.html")


def backoffice_logout(request):
    return logout_view(request, login_url="backoffice:login")


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


@staff_required()
def home(request):
    """What needs a person today (queues), then the book and the capital position at a glance."""
    lender = request.lender
    merchants = merchants_for_lender(lender=lender)
    balances = balances_by_code_get(lender=lender)
    return render(request, "backoffice/home.html", {
        "queue_count": kyc_queue_list(lender=lender).count(),
        "merchant_count": merchants.count(),
        "verified_count": merchants.filter(kyc_state=KycState.VERIFIED).count(),
        "referral_count": referral_queue_list(lender=lender).count(),
        "book": loan_book_counts(lender=lender),
        "principal": balances.get(Acct.LOANS_PRINCIPAL, 0),
        "live_cases": case_queue_list(lender=lender, user=request.user).count(),
        "write_offs_pending": write_offs_pending_list(lender=lender).count(),
        "position": capital_position_from(lender=lender, balances=balances, rules=rules_in_force_get(lender=lender)),
    })


@staff_required(Role.CREDIT_OFFICER)
def kyc_queue(request):
    return render(request, "backoffice/kyc_queue.html", {"page": _page(request, kyc_queue_list(lender=request.lender))})


@staff_required()
def merchant_list(request):
    queryset = merchants_for_lender(lender=request.lender).order_by("company_name", "id")
    q = request.GET.get("q", "").strip()
    state = request.GET.get("state", "")
    if q:
        queryset = queryset.filter(Q(company_name__icontains=q) | Q(store_handle__icontains=q))
    if state in KycState.values:
        queryset = queryset.filter(kyc_state=state)
    return render(request, "backoffice/merchant_list.html", {
        "page": _page(request, queryset), "q": q, "state": state, "states": KycState.choices,
    })


@staff_required()
def merchant_detail(request, merchant_id: int):
    merchant = get_object_or_404(merchants_for_lender(lender=request.lender), pk=merchant_id)
    return render(request, "backoffice/merchant_detail.html", {
        "merchant": merchant,
        "documents": merchant.kyc_documents.select_related("uploaded_by"),
        "timeline": audit_trail_for(merchant),
        "assessment": credit_assessment_latest(merchant=merchant),
        "sales": sales_summary_get(merchant=merchant),
        "users": merchant.users.all(),
        "credit_balance": merchant_credit_total(merchants=[merchant]), "refund_form": PaymentForm(),
        "can_refund": request.user.has_role(Role.TREASURER),
        "loans": merchant.loans.order_by("-created_at")[:20],
        "can_decide_kyc": request.user.has_role(Role.CREDIT_OFFICER),
        "can_suspend": request.user.has_role(Role.LENDER_ADMIN),
    })


# KYC decisions: which service each action calls and which role may take it.
_DECISIONS = {
    "verify": (kyc_verify, Role.CREDIT_OFFICER, "KYC verified."),
    "reject": (kyc_reject, Role.CREDIT_OFFICER, "KYC rejected; the merchant sees your reason."),
    "suspend": (merchant_suspend, Role.LENDER_ADMIN, "Merchant suspended."),
    "reinstate": (merchant_reinstate, Role.LENDER_ADMIN, "Merchant reinstated."),
}


@staff_required()
@require_POST
def merchant_decide(request, merchant_id: int, action: str):
    merchant = get_object_or_404(merchants_for_lender(lender=request.lender), pk=merchant_id)
    if action not in _DECISIONS:
        return redirect("backoffice:merchant", merchant_id=merchant.pk)
    service, role, done = _DECISIONS[action]
    if not request.user.has_role(role):
        messages.error(request, f"Only a {Role(role).label.lower()} may {action} a merchant.")
        return redirect("backoffice:merchant", merchant_id=merchant.pk)
    reason = request.POST.get("reason", "")
    call_and_tell(request, lambda: service(merchant=merchant, actor=request.user, reason=reason), done)
    return redirect("backoffice:merchant", merchant_id=merchant.pk)


@staff_required()
def document_download(request, document_id: int):
    document = get_object_or_404(KycDocument, pk=document_id, merchant__lender=request.lender)
    return FileResponse(document.file.open("rb"), as_attachment=False, filename=document.original_name,
                        content_type=document.content_type)


@staff_required()
def application_list(request):
    queryset = applications_for_lender(lender=request.lender).select_related("offer")
    state = request.GET.get("state", "referred")
    if state in ApplicationState.values:
        queryset = queryset.filter(state=state)
    return render(request, "backoffice/application_list.html", {
        "page": _page(request, queryset.order_by("submitted_at", "id")), "state": state,
        "states": ApplicationState.choices,
    })


@staff_required()
def application_detail(request, application_id: int):
    application = get_object_or_404(applications_for_lender(lender=request.lender).select_related("offer", "product"),
                                    pk=application_id)
    merchant = application.merchant
    if request.method == "POST" and request.POST.get("decision") == "disburse":
        if not request.user.has_role(Role.TREASURER, Role.CREDIT_OFFICER):
            messages.error(request, "Only a treasurer or credit officer may disburse.")
        else:
            loan, waiting = disbursement_attempt(application=application, actor=request.user)
            if loan:
                messages.success(request, f"Loan #{loan.pk} disbursed.")
            else:
                messages.error(request, waiting)
        return redirect("backoffice:application", application_id=application.pk)
    if request.method == "POST" and request.POST.get("decision") == "withdraw_accepted":
        if not request.user.has_role(Role.CREDIT_OFFICER):
            messages.error(request, "Only a credit officer may withdraw an accepted offer.")
        else:
            call_and_tell(request, lambda: accepted_offer_withdraw(application=application, actor=request.user,
                                                                   reason=request.POST.get("note", "")),
                          "Offer withdrawn; its orders are free again.")
        return redirect("backoffice:application", application_id=application.pk)
    if request.method == "POST":
        if not request.user.has_role(Role.CREDIT_OFFICER):
            messages.error(request, "Only a credit officer may decide an application.")
        else:
            approve, note = request.POST.get("decision") == "approve", request.POST.get("note", "")
            call_and_tell(request, lambda: application_review(application=application, actor=request.user, approve=approve,
                                                              note=note), "Decision recorded.")
        return redirect("backoffice:application", application_id=application.pk)
    return render(request, "backoffice/application_detail.html", {
        "application": application, "merchant": merchant, "offer": getattr(application, "offer", None),
        "results": application.decision_results.all(), "orders": application.orders.all(),
        "sales": sales_summary_get(merchant=merchant), "assessment": credit_assessment_latest(merchant=merchant),
        "owed": merchant_owed_get(merchant=merchant), "timeline": audit_trail_for(application),
        "can_decide": request.user.has_role(Role.CREDIT_OFFICER),
        "can_disburse": request.user.has_role(Role.TREASURER, Role.CREDIT_OFFICER),
        "can_withdraw": request.user.has_role(Role.CREDIT_OFFICER),
        "share": getattr(application, "share_offer", None), "loan": getattr(application, "loan", None),
    })


@staff_required()
def loan_list(request):
    queryset = loans_for_lender(lender=request.lender).order_by("-created_at", "-id")
    state = request.GET.get("state", "")
    q = request.GET.get("q", "").strip()
    if state in LoanState.values:
        queryset = queryset.filter(state=state)
    if q:
        match = Q(merchant__company_name__icontains=q)
        number = q.removeprefix("#")
        if number.isdigit() and len(number) <= 18:  # a loan number, within bigint
            match |= Q(pk=int(number))
        queryset = queryset.filter(match)
    page = _page(request, queryset)
    principal_outstanding_attach(page)
    return render(request, "backoffice/loan_list.html", {"page": page, "state": state, "q": q, "states": LoanState.choices})


@staff_required()
def loan_detail(request, loan_id: int):
    loan = get_object_or_404(loans_for_lender(lender=request.lender).select_related("application__product"), pk=loan_id)
    form = ReceivedRepaymentForm(request.POST or None, loan=loan)
    if request.method == "POST":
        if not request.user.has_role(Role.TREASURER):
            messages.error(request, "Only a treasurer may record a repayment.")
        elif form.is_valid():
            _payment_record(request, loan=loan, values=form.cleaned_data, prepayment=form.prepayment_choice)
        else:
            messages.error(request, form_problems(form))
        return redirect("backoffice:loan", loan_id=loan.pk)
    today = business_date_today()
    return render(request, "backoffice/loan_detail.html", {
        "loan": loan, "installments": installment_rows(loan, today),
        "outstanding": loan_outstanding(loan), "form": ReceivedRepaymentForm(loan=loan),
        "repayments": loan.repayments.prefetch_related("allocations").order_by("-received_on", "-id"),
        # A paid-off loan reopens when a payment that paid it off is reversed.
        "can_reverse": request.user.has_role(Role.TREASURER) and (loan.repayable or loan.state == LoanState.PAID_OFF),
        "timeline": loan_timeline(loan=loan),
        "can_record": request.user.has_role(Role.TREASURER),
        "recoveries": loan.recoveries.order_by("-received_on", "-id"),
        "cases": loan.collection_cases.order_by("-id"),
    })


def _payment_record(request, *, loan, values: dict, prepayment: str) -> None:
    """Record a treasurer's payment: a repayment, or on a written-off loan a recovery (recovery income)."""
    written_off = loan.state == LoanState.WRITTEN_OFF
    post = recovery_post if written_off else functools.partial(repayment_post, prepayment=prepayment)
    call_and_tell(request, lambda: post(loan=loan, amount=values["amount"], source=RepaymentSource.BACKOFFICE,
                                        reference=values["reference"], actor=request.user,
                                        received_on=values["received_on"]),
                  "Recovery recorded as recovery income." if written_off else "Repayment recorded.",
                  already=lambda _: "That payment was already recorded; nothing was posted again.")


@staff_required()
def reconciliation(request):
    rows = reconciliation_get(lender=request.lender)
    return render(request, "backoffice/reconciliation.html", {"rows": rows, "broken": [r for r in rows if r.difference]})


@staff_required(Role.TREASURER)
@require_POST
def merchant_credit_refund_view(request, merchant_id: int):
    merchant = get_object_or_404(merchants_for_lender(lender=request.lender), pk=merchant_id)
    form = PaymentForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_problems(form))
    else:
        amount = form.cleaned_data["amount"]
        call_and_tell(request, lambda: merchant_credit_refund(merchant=merchant, amount=amount, actor=request.user,
                                                              reference=form.cleaned_data["reference"]),
                      f"Refunded {amount:,.2f} of credit.",
                      already=lambda _: "That refund was already made; nothing was paid again.")
    return redirect("backoffice:merchant", merchant_id=merchant.pk)


@staff_required(Role.TREASURER)
@require_POST
def repayment_reverse_view(request, loan_id: int, repayment_id: int):
    loan = get_object_or_404(loans_for_lender(lender=request.lender), pk=loan_id)
    repayment = get_object_or_404(loan.repayments, pk=repayment_id)
    reason = request.POST.get("reason", "").strip() or "Payment bounced"
    call_and_tell(request, lambda: repayment_reverse(repayment=repayment, actor=request.user, reason=reason),
                  "Repayment reversed; later repayments were re-applied in date order.",
                  already=lambda r: f"That repayment was already reversed on {timezone.localtime(r.reversed_at):%Y-%m-%d}.")
    return redirect("backoffice:loan", loan_id=loan.pk)


@staff_required()
def calculator(request):
    context = calculator_context(request)
    return render(request, "backoffice/calculator.html", context, status=400 if context["form"].errors else 200)
