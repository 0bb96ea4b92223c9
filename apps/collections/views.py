"""Back-office collections screens: the collector queue, a case's page, write-offs awaiting a checker.

Collectors and lender admins work cases; credit officers (and admins) read them and decide
write-offs — never their own; treasurers record recoveries on written-off loans. Every page
is scoped to the signed-in person's lender: another lender's case is a 404.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import staff_required
from apps.accounts.models import Role
from apps.core.calendar import business_date_today
from apps.core.feedback import call_and_tell, form_problems
from apps.repayments.forms import PaymentForm
from apps.repayments.models import LoanState, RepaymentSource

from . import services
from .forms import AssignForm, ContactForm, PromiseForm, ReasonForm
from .models import LIVE_CASE_STATES, CaseState, WriteOffRequest
from .recoveries import recovery_post
from .selectors import (
    QUEUE_WHO,
    case_queue_list,
    case_timeline,
    cases_for_lender,
    collectors_for_lender,
    loan_balances_get,
    loan_recovered_total,
    write_off_approved_get,
    write_offs_pending_list,
)

PAGE_SIZE = 25
READERS = (Role.COLLECTOR, Role.CREDIT_OFFICER, Role.TREASURER)
LIVE_CHOICES = [(s.value, s.label) for s in CaseState if s in LIVE_CASE_STATES]


@staff_required(Role.COLLECTOR, Role.CREDIT_OFFICER)
def queue(request):
    who = request.GET.get("who") if request.GET.get("who") in dict(QUEUE_WHO) else "all"
    state = request.GET.get("state") if request.GET.get("state") in dict(LIVE_CHOICES) else ""
    cases = case_queue_list(lender=request.lender, user=request.user, who=who, state=state)
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "collections/queue.html", {
        "page": page, "who": who, "whos": QUEUE_WHO, "state": state, "states": LIVE_CHOICES,
        "pending_write_offs": write_offs_pending_list(lender=request.lender).count()
        if request.user.has_role(Role.CREDIT_OFFICER) else None,
    })


def _case(request, case_id: int):
    return get_object_or_404(cases_for_lender(lender=request.lender), pk=case_id)


@staff_required(*READERS)
def case_detail(request, case_id: int):
    case = _case(request, case_id)
    loan = case.loan
    today = business_date_today()
    user = request.user
    written_off = loan.state == LoanState.WRITTEN_OFF
    write_off = write_off_approved_get(loan=loan) if written_off else None
    recovered = loan_recovered_total(loan=loan) if written_off else None
    return render(request, "collections/case.html", {
        "case": case, "loan": loan, "merchant": loan.merchant, "today": today,
        "balances": loan_balances_get(loan=loan, on=today),
        "contacts": case.contacts.select_related("by"),
        "promises": case.promises.select_related("created_by"),
        "write_offs": case.write_off_requests.select_related("maker", "checker"),
        "timeline": case_timeline(case=case),
        "contact_form": ContactForm(), "promise_form": PromiseForm(), "reason_form": ReasonForm(),
        "assign_form": AssignForm(collectors=collectors_for_lender(lender=request.lender),
                                  initial={"collector": case.assigned_to_id}),
        "recovery_form": PaymentForm(),
        "can_work": user.has_role(Role.COLLECTOR) and case.is_live,
        "can_reassign": user.has_role(Role.LENDER_ADMIN) and case.is_live,
        "can_request_write_off": user.has_role(Role.COLLECTOR) and loan.state == LoanState.DEFAULTED
        and case.state in (*LIVE_CASE_STATES, CaseState.CLOSED),
        "can_check": user.has_role(Role.CREDIT_OFFICER),
        "can_recover": user.has_role(Role.TREASURER) and written_off,
        "write_off": write_off, "recovered": recovered,
        "claim_left": write_off.claim - recovered if write_off else None,
    })


@staff_required(Role.COLLECTOR)
@require_POST
def case_assign_view(request, case_id: int):
    case = _case(request, case_id)
    if request.POST.get("take"):
        collector = request.user
    else:
        form = AssignForm(request.POST, collectors=collectors_for_lender(lender=request.lender))
        if not form.is_valid():
            messages.error(request, form_problems(form))
            return redirect("collections:case", case_id=case.pk)
        collector = form.cleaned_data["collector"]
    done = f"Assigned to {collector.get_username()}." if collector else "Back in the unassigned queue."
    call_and_tell(request, lambda: services.case_assign(case=case, collector=collector, actor=request.user), done)
    return redirect("collections:case", case_id=case.pk)


@staff_required(Role.COLLECTOR)
@require_POST
def contact_log_view(request, case_id: int):
    case = _case(request, case_id)
    form = ContactForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_problems(form))
    else:
        call_and_tell(request, lambda: services.contact_log(case=case, actor=request.user, **form.cleaned_data),
                      "Contact logged.")
    return redirect("collections:case", case_id=case.pk)


@staff_required(Role.COLLECTOR)
@require_POST
def promise_view(request, case_id: int):
    case = _case(request, case_id)
    form = PromiseForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_problems(form))
    else:
        data = form.cleaned_data
        call_and_tell(request, lambda: services.promise_record(case=case, actor=request.user, amount=data["amount"],
                                                               promised_date=data["promised_date"]),
                      f"Promise of {data['amount']:,.2f} by {data['promised_date']:%Y-%m-%d} recorded.")
    return redirect("collections:case", case_id=case.pk)


@staff_required(Role.COLLECTOR)
@require_POST
def case_close_view(request, case_id: int):
    case = _case(request, case_id)
    reason = request.POST.get("reason", "")
    call_and_tell(request, lambda: services.case_close(case=case, actor=request.user, reason=reason), "Case closed.")
    return redirect("collections:case", case_id=case.pk)


@staff_required(Role.COLLECTOR)
@require_POST
def write_off_request_view(request, case_id: int):
    case = _case(request, case_id)
    reason = request.POST.get("reason", "")
    call_and_tell(request, lambda: services.write_off_request(case=case, actor=request.user, reason=reason),
                  "Write-off requested; a credit officer or admin other than you must approve it.")
    return redirect("collections:case", case_id=case.pk)


@staff_required(Role.TREASURER)
@require_POST
def recovery_view(request, case_id: int):
    case = _case(request, case_id)
    form = PaymentForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_problems(form))
    else:
        call_and_tell(request, lambda: recovery_post(loan=case.loan, amount=form.cleaned_data["amount"], actor=request.user,
                                                     source=RepaymentSource.BACKOFFICE,
                                                     reference=form.cleaned_data["reference"]),
                      f"Recovery of {form.cleaned_data['amount']:,.2f} recorded as recovery income.",
                      already=lambda _: "That recovery was already recorded; nothing was posted again.")
    return redirect("collections:case", case_id=case.pk)


@staff_required(Role.CREDIT_OFFICER)
def write_off_list(request):
    page = Paginator(write_offs_pending_list(lender=request.lender), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "collections/write_offs.html", {"page": page})


@staff_required(Role.CREDIT_OFFICER)
@require_POST
def write_off_decide(request, request_id: int, decision: str):
    write_off = get_object_or_404(WriteOffRequest.objects.filter(lender=request.lender), pk=request_id)
    note = request.POST.get("note", "")
    if decision == "approve":
        call_and_tell(request, lambda: services.write_off_approve(request=write_off, actor=request.user, note=note),
                      f"Loan #{write_off.loan_id} written off ({write_off.amount:,.2f} of principal).")
    elif decision == "reject":
        call_and_tell(request, lambda: services.write_off_reject(request=write_off, actor=request.user, note=note),
                      "Write-off rejected.")
    if request.POST.get("next") == "case":
        return redirect("collections:case", case_id=write_off.case_id)
    return redirect("collections:write-offs")
