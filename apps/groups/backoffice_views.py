"""The lender's side of guarantee groups (included under /backoffice/groups/, names in the backoffice namespace)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import staff_required
from apps.accounts.models import Role
from apps.core.errors import DomainError
from apps.merchants.selectors import merchants_for_lender
from apps.merchants.services import merchant_limit_unfreeze

from .models import GroupState, GuaranteeGroup
from .selectors import (
    group_claims_list,
    group_contagion_get,
    group_guarantees_list,
    group_member_rows,
    groups_for_lender,
    live_group_get,
)

PAGE_SIZE = 25


def _page(request, queryset, param: str = "page"):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get(param))


@staff_required()
def group_list(request):
    queryset = groups_for_lender(lender=request.lender)
    state = request.GET.get("state", "")
    q = request.GET.get("q", "").strip()
    if state in GroupState.values:
        queryset = queryset.filter(state=state)
    if q:
        queryset = queryset.filter(name__icontains=q)
    return render(request, "groups/backoffice/group_list.html", {
        "page": _page(request, queryset.order_by("-has_default", "name", "id")), "state": state, "q": q,
        "states": GroupState.choices,
    })


@staff_required()
def group_detail(request, group_id: int):
    group = get_object_or_404(GuaranteeGroup.objects.filter(lender=request.lender).select_related("founded_by"), pk=group_id)
    members = list(group_member_rows(group=group))  # at most 10 live, plus past memberships
    live = [m for m in members if m.state == "accepted"]
    return render(request, "groups/backoffice/group_detail.html", {
        "group": group, "members": members,
        "total_exposure": sum((m.exposure for m in live), 0), "total_outstanding": sum((m.outstanding for m in live), 0),
        "contagion": group_contagion_get(group=group),
        "guarantees": _page(request, group_guarantees_list(group=group), "loans_page"),
        "claims": _page(request, group_claims_list(group=group), "claims_page"),
        "can_unfreeze": request.user.has_role(Role.LENDER_ADMIN),
    })


@staff_required(Role.LENDER_ADMIN)
@require_POST
def limit_unfreeze(request, merchant_id: int):
    merchant = get_object_or_404(merchants_for_lender(lender=request.lender), pk=merchant_id)
    try:
        merchant_limit_unfreeze(merchant=merchant, actor=request.user, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The credit limit of {merchant.company_name} is no longer frozen.")
    group = live_group_get(merchant=merchant)
    if group is not None:
        return redirect("backoffice:group", group_id=group.pk)
    return redirect("backoffice:merchant", merchant_id=merchant.pk)
