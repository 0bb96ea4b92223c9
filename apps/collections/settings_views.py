"""Back-office: the collections policy (versions) and the dunning ladder; lender admins edit them."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import staff_required
from apps.accounts.models import Role
from apps.core.calendar import business_date_today
from apps.core.errors import DomainError

from .models import CollectionsPolicy, DunningStep
from .settings import POLICY_FIELDS, dunning_step_update, policy_in_force, policy_version_create


class PolicyForm(forms.ModelForm):
    class Meta:
        model = CollectionsPolicy
        fields = ("effective_from", *POLICY_FIELDS, "reason")
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"}), "reason": forms.Textarea(attrs={"rows": 2})}


class StepForm(forms.ModelForm):
    class Meta:
        model = DunningStep
        fields = ("offset_days", "channels", "title", "body", "active")
        widgets = {"body": forms.Textarea(attrs={"rows": 2})}


@staff_required()
def collections_settings(request):
    lender = request.lender
    current = policy_in_force(lender=lender, on=business_date_today())
    steps = DunningStep.objects.filter(lender=lender).order_by("offset_days")
    return render(request, "collections/settings.html", {
        "current": current, "versions": CollectionsPolicy.objects.filter(lender=lender).select_related("created_by"),
        "steps": [(step, StepForm(instance=step, prefix=f"step-{step.pk}")) for step in steps],
        "policy_form": PolicyForm(initial={**{f: getattr(current, f) for f in POLICY_FIELDS},
                                           "effective_from": business_date_today()}),
        "can_edit": request.user.has_role(Role.LENDER_ADMIN),
    })


@require_POST
@staff_required(Role.LENDER_ADMIN)
def policy_create_view(request):
    form = PolicyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("collections:settings")
    data = form.cleaned_data
    try:
        policy = policy_version_create(lender=request.lender, actor=request.user, effective_from=data["effective_from"],
                                       reason=data["reason"], **{f: data[f] for f in POLICY_FIELDS})
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Policy version {policy.version} applies from {policy.effective_from:%Y-%m-%d}.")
    return redirect("collections:settings")


@require_POST
@staff_required(Role.LENDER_ADMIN)
def step_update_view(request, step_id: int):
    form = StepForm(request.POST, prefix=f"step-{step_id}")
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("collections:settings")
    try:
        step = dunning_step_update(lender=request.lender, step_id=step_id, actor=request.user, **form.cleaned_data)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Step {step.code} saved.")
    return redirect("collections:settings")
