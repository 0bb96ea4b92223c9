import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.paginator import Paginator
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import merchant_required
from apps.accounts.models import Lender, Role
from apps.accounts.views import login_view, logout_view
from apps.core.audit import audit_trail_for
from apps.core.calendar import business_date_today
from apps.core.errors import DomainError
from apps.core.feedback import call_and_tell
from apps.financing.application_services import application_submit, offer_accept, term_loan_apply
from apps.financing.disbursement import disbursement_attempt
from apps.financing.models import FinancingApplication, ProductKind
from apps.financing.order_rows import order_rows_validate, orders_csv_read
from apps.financing.products import loan_products_available
from apps.financing.selectors import borrowing_base_get
from apps.financing.services import orders_ingest
from apps.merchants.models import KycDocument
from apps.merchants.sales_rows import sales_csv_read, sales_rows_validate
from apps.merchants.selectors import credit_assessment_latest, sales_summary_get
from apps.merchants.services import daily_sales_import, kyc_document_upload, kyc_submit, merchant_signup
from apps.repayments.calculator import calculator_context
from apps.repayments.collateral import pledges_add
from apps.repayments.forms import RepaymentForm
from apps.repayments.models import RepaymentSource
from apps.repayments.selectors import (
    installment_rows,
    loan_outstanding,
    loans_for_merchant,
    merchant_loans_summary,
    payoff_quote,
    principal_outstanding_attach,
)
from apps.repayments.services import repayment_post

from .forms import DocumentUploadForm, OrdersCsvForm, SalesCsvForm, SignupForm, TermLoanForm


def portal_login(request):
    return login_view(request, allowed_roles=frozenset({Role.MERCHANT}), face="merchant portal",
                      home="portal:home", template="portal/login.html")


def portal_logout(request):
    return logout_view(request, login_url="portal:login")


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "password_again"}
        try:
            user = merchant_signup(lender=Lender.objects.get(slug=settings.PORTAL_LENDER_SLUG), **data)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome to OrderFin. Upload your KYC documents to get verified.")
            return redirect("portal:kyc")
    return render(request, "portal/signup.html", {"form": form}, status=400 if form.errors else 200)


@merchant_required
def home(request):
    merchant = request.merchant
    return render(request, "portal/home.html", {
        "merchant": merchant,
        "assessment": credit_assessment_latest(merchant=merchant),
        "sales": sales_summary_get(merchant=merchant),
        "loans": merchant_loans_summary(merchant=merchant, today=business_date_today()),
    })


@merchant_required
def kyc(request):
    merchant = request.merchant
    form = DocumentUploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                kyc_document_upload(merchant=merchant, kind=form.cleaned_data["kind"],
                                    upload=form.cleaned_data["file"], actor=request.user)
            except DomainError as exc:
                form.add_error("file", exc.message)
            else:
                messages.success(request, "Document uploaded.")
                return redirect("portal:kyc")
        status = 400
    return render(request, "portal/kyc.html", {
        "merchant": merchant, "form": form,
        "documents": merchant.kyc_documents.all(),
        "timeline": audit_trail_for(merchant),
    }, status=status)


@merchant_required
@require_POST
def kyc_submit_view(request):
    try:
        kyc_submit(merchant=request.merchant, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "KYC submitted. A credit officer will review it shortly.")
    return redirect("portal:kyc")


@merchant_required
def document_download(request, document_id: int):
    document = get_object_or_404(KycDocument, pk=document_id, merchant=request.merchant)
    return FileResponse(document.file.open("rb"), as_attachment=True, filename=document.original_name,
                        content_type=document.content_type)


def _csv_import(request, form, importer):
    """Run `importer(file_bytes) -> success message` for a posted CSV form.

    Returns (success, row_errors, status); domain errors land on the form's file field.
    """
    if request.method != "POST":
        return False, [], 200
    if not form.is_valid():
        return False, [], 400
    upload = form.cleaned_data["file"]
    try:
        if upload.size > settings.SALES_CSV_MAX_BYTES:
            raise DomainError(f"The file is larger than {settings.SALES_CSV_MAX_BYTES // 1048576} MB.",
                              code="UPLOAD_TOO_LARGE")
        messages.success(request, importer(upload.read()))
    except DomainError as exc:
        form.add_error("file", exc.message)
        return False, exc.errors, 400
    return True, [], 302


@merchant_required
def sales(request):
    merchant = request.merchant
    form = SalesCsvForm(request.POST or None, request.FILES or None)

    def import_sales(data: bytes) -> str:
        rows = sales_rows_validate(sales_csv_read(data), today=business_date_today(), first_row_number=2)
        assessment = daily_sales_import(merchant=merchant, rows=rows, source="csv", actor=request.user)
        return f"Imported {len(rows)} days of sales. Your risk grade is now {assessment.grade}."

    done, row_errors, status = _csv_import(request, form, import_sales)
    if done:
        return redirect("portal:sales")
    return render(request, "portal/sales.html", {
        "merchant": merchant, "form": form, "row_errors": row_errors,
        "recent": merchant.daily_sales.all()[:31], "summary": sales_summary_get(merchant=merchant),
    }, status=status)


@merchant_required
def orders(request):
    merchant = request.merchant
    form = OrdersCsvForm(request.POST or None, request.FILES or None)

    def import_orders(data: bytes) -> str:
        rows = order_rows_validate(orders_csv_read(data), currency=merchant.lender.base_currency, first_row_number=2)
        result = orders_ingest(merchant=merchant, rows=rows, source="csv", actor=request.user, first_row_number=2)
        return f"Imported {result['created']} new orders ({result['unchanged']} already known)."

    done, row_errors, status = _csv_import(request, form, import_orders)
    if done:
        return redirect("portal:orders")
    base = borrowing_base_get(merchant=merchant, as_of=business_date_today())
    return render(request, "portal/orders.html", {
        "merchant": merchant, "form": form, "row_errors": row_errors, "base": base,
        "page": Paginator(base.orders, 50).get_page(request.GET.get("page")),
    }, status=status)


@merchant_required
@require_POST
def apply(request):
    try:
        application = application_submit(merchant=request.merchant, order_ids=request.POST.getlist("order"),
                                         amount=request.POST.get("amount", ""), actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("portal:orders")
    return redirect("portal:application", application_id=application.pk)


@merchant_required
def term_loans(request):
    """Apply for a term loan: a product, an amount and a term within its limits; no orders are pledged."""
    today = business_date_today()
    products = loan_products_available(lender=request.merchant.lender, as_of=today, kind=ProductKind.TERM_LOAN)
    form = TermLoanForm(request.POST or None, products=products)
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        try:
            application = term_loan_apply(merchant=request.merchant, product=values["product"], amount=values["amount"],
                                          term_months=values["term_months"], actor=request.user, as_of=today)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("portal:application", application_id=application.pk)
    return render(request, "portal/term_loans.html", {
        "form": form, "products": products, "base": borrowing_base_get(merchant=request.merchant, as_of=today),
    }, status=400 if form.errors else 200)


@merchant_required
def applications(request):
    queryset = request.merchant.applications.select_related("offer").order_by("-created_at", "-id")
    return render(request, "portal/applications.html", {"page": Paginator(queryset, 25).get_page(request.GET.get("page"))})


@merchant_required
def application_detail(request, application_id: int):
    application = get_object_or_404(
        FinancingApplication.objects.select_related("offer", "loan", "product"), pk=application_id, merchant=request.merchant
    )
    if request.method == "POST":
        try:
            offer_accept(application=application, actor=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("portal:application", application_id=application.pk)
        loan, waiting = disbursement_attempt(application=application, actor=request.user)
        if loan:
            messages.success(request, f"Offer accepted and {loan.principal:,.2f} disbursed in full to your bank account.")
        else:
            messages.success(request, f"Offer accepted: your orders are pledged. Disbursement is pending: {waiting}")
        return redirect("portal:application", application_id=application.pk)
    return render(request, "portal/application_detail.html", {
        "application": application, "offer": getattr(application, "offer", None),
        "results": application.decision_results.all(), "orders": application.orders.all(),
        "loan": getattr(application, "loan", None),
    })


@merchant_required
def loans(request):
    page = Paginator(loans_for_merchant(merchant=request.merchant), 25).get_page(request.GET.get("page"))
    principal_outstanding_attach(page)
    return render(request, "portal/loans.html", {"page": page})


@merchant_required
def loan_detail(request, loan_id: int):
    loan = get_object_or_404(loans_for_merchant(merchant=request.merchant).select_related("application__product"),
                             pk=loan_id)
    form = RepaymentForm(request.POST or None, loan=loan)
    if request.method == "POST" and "pledge" in request.POST:
        try:
            count = pledges_add(loan=loan, order_ids=request.POST.getlist("order"), actor=request.user,
                                as_of=business_date_today())
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{count} order(s) pledged to this loan.")
        return redirect("portal:loan", loan_id=loan.pk)
    if request.method == "POST" and form.is_valid():
        amount = form.cleaned_data["amount"]
        call_and_tell(request, lambda: repayment_post(loan=loan, amount=amount, source=RepaymentSource.PORTAL,
                                                      reference=form.cleaned_data["reference"], actor=request.user,
                                                      prepayment=form.prepayment_choice),
                      f"Payment of {amount:,.2f} received.",
                      already=lambda r: f"Your payment of {r.amount:,.2f} was already received; nothing was taken again.")
        return redirect("portal:loan", loan_id=loan.pk)
    today = business_date_today()
    installments = installment_rows(loan, today)
    quote_on = _quote_date(request, today)
    return render(request, "portal/loan_detail.html", {
        "loan": loan, "installments": installments, "form": form,
        "outstanding": loan_outstanding(loan), "quote": payoff_quote(loan=loan, on=quote_on),
        "margin_call": loan.margin_calls.filter(state="open").first(),
        "pledgeable": [r for r in borrowing_base_get(merchant=request.merchant, as_of=today).orders if r.selectable],
        "repayments": loan.repayments.prefetch_related("allocations").order_by("-received_on", "-id"),
    }, status=400 if form.errors else 200)


QUOTE_HORIZON = datetime.timedelta(days=366)  # how far ahead a payoff quote goes


def _quote_date(request, today: datetime.date) -> datetime.date:
    """The day the merchant asks a payoff quote for: today up to a year ahead; otherwise today's, and why."""
    raw = request.GET.get("quote_date")
    try:
        asked = datetime.date.fromisoformat(raw) if raw else today
    except ValueError:
        messages.error(request, "The payoff date must be a date (YYYY-MM-DD); this is today's quote.")
        return today
    if not today <= asked <= today + QUOTE_HORIZON:
        messages.error(request, f"A payoff quote is for a day from today to {today + QUOTE_HORIZON:%Y-%m-%d}, not "
                                f"{asked:%Y-%m-%d}; this is today's quote.")
        return today
    return asked


@merchant_required
def calculator(request):
    context = calculator_context(request)
    return render(request, "portal/calculator.html", context, status=400 if context["form"].errors else 200)
