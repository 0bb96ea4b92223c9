"""The merchant's side of guarantee groups (included under /portal/group/, names in the portal namespace)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import merchant_required
from apps.core.errors import DomainError
from apps.repayments.forms import PaymentForm

from .forms import GroupCreateForm, InviteForm
from .models import ClaimState, GroupMembership, MembershipState
from .selectors import (
    claim_round_paid_get,
    claims_for_guarantor,
    group_members_list,
    guarantees_given_list,
    guarantees_received_list,
    invitations_pending_list,
    live_group_get,
)
from .services import claim_pay, group_create, group_leave, invitation_accept, invitation_decline, member_invite

PAGE_SIZE = 25


def _page(request, queryset, param: str):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get(param))


@merchant_required
def group(request, create_form=None, invite_form=None, status=200):
    merchant = request.merchant
    current = live_group_get(merchant=merchant)
    return render(request, "groups/portal/group.html", {
        "merchant": merchant, "group": current,
        "members": group_members_list(group=current) if current else [],
        "invitations": invitations_pending_list(merchant=merchant),
        "create_form": create_form or GroupCreateForm(), "invite_form": invite_form or InviteForm(),
        "given": _page(request, guarantees_given_list(merchant=merchant), "given_page"),
        "received": _page(request, guarantees_received_list(merchant=merchant), "received_page"),
        "claims": _page(request, claims_for_guarantor(merchant=merchant), "claims_page"),
    }, status=status)


@merchant_required
@require_POST
def group_create_view(request):
    form = GroupCreateForm(request.POST)
    if form.is_valid():
        try:
            created = group_create(merchant=request.merchant, name=form.cleaned_data["name"], actor=request.user)
        except DomainError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Group {created.name} created. Invite at least two more merchants to activate it.")
            return redirect("portal:group")
    return group(request, create_form=form, status=400)


@merchant_required
@require_POST
def group_invite_view(request):
    current = live_group_get(merchant=request.merchant)
    if current is None:
        messages.error(request, "You are not a member of a guarantee group.")
        return redirect("portal:group")
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invited = member_invite(group=current, inviter=request.merchant, store_handle=form.cleaned_data["store_handle"],
                                    actor=request.user)
        except DomainError as exc:
            form.add_error("store_handle", exc.message)
        else:
            messages.success(request, f"{invited.merchant.company_name} is invited.")
            return redirect("portal:group")
    return group(request, invite_form=form, status=400)


@merchant_required
@require_POST
def invitation_decide(request, membership_id: int, decision: str):
    membership = get_object_or_404(GroupMembership.objects.select_related("group", "merchant"), pk=membership_id,
                                   merchant=request.merchant, state=MembershipState.INVITED)
    service = {"accept": invitation_accept, "decline": invitation_decline}.get(decision)
    if service is None:
        return redirect("portal:group")
    try:
        service(membership=membership, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"You joined {membership.group.name}." if decision == "accept"
                         else f"Invitation to {membership.group.name} declined.")
    return redirect("portal:group")


@merchant_required
@require_POST
def group_leave_view(request):
    try:
        left = group_leave(merchant=request.merchant, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"You left {left.group.name}.")
    return redirect("portal:group")


@merchant_required
def claim_detail(request, claim_id: int):
    claim = get_object_or_404(claims_for_guarantor(merchant=request.merchant), pk=claim_id)
    form = PaymentForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                claim_pay(claim=claim, guarantor=request.merchant, amount=form.cleaned_data["amount"],
                          reference=form.cleaned_data["reference"], actor=request.user)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Payment of {form.cleaned_data['amount']:,.2f} received on loan #{claim.loan_id}.")
                return redirect("portal:group-claim", claim_id=claim.pk)
        return render(request, "groups/portal/claim.html", _claim_context(claim, form), status=400)
    return render(request, "groups/portal/claim.html", _claim_context(claim, form))


def _claim_context(claim, form) -> dict:
    return {
        "claim": claim, "form": form, "round_paid": claim_round_paid_get(claim=claim),
        "payments": claim.payments.select_related("repayment").order_by("-id"),
        "payable": claim.state == ClaimState.OPEN and claim.remaining > 0,
    }
