"""Lender admins version the collections policy and edit the dunning ladder; others only read."""

import datetime

from django.urls import reverse

from apps.accounts.models import Role
from apps.collections.models import CollectionsPolicy, DunningStep
from apps.collections.setup import collections_setup_ensure
from apps.core.audit import audit_trail_for
from apps.core.calendar import business_date_today

TODAY = business_date_today()


def _policy_post(**overrides):
    data = {"effective_from": (TODAY + datetime.timedelta(days=1)).isoformat(), "default_dpd": "60",
            "provision_current": "0", "provision_1_30": "0.05", "provision_31_60": "0.25", "provision_61_90": "0.5",
            "provision_90_plus": "1", "priority_formula": "amount_x_dpd", "priority_amount_weight": "1",
            "priority_dpd_weight": "0", "broken_promise_boost": "0.25", "promise_max_days": "30",
            "reason": "Board decision 2026-11"}
    return {**data, **overrides}


def test_admin_versions_the_policy_and_edits_a_step(client, staff, lender, other_lender):
    collections_setup_ensure()
    client.force_login(staff[Role.LENDER_ADMIN])
    page = client.get(reverse("collections:settings")).content.decode()
    assert "version 1" in page and "D+15" in page and "D-3" in page
    response = client.post(reverse("collections:policy-create"), _policy_post(), follow=True)
    assert "Policy version 2 applies from" in response.content.decode()
    policy = CollectionsPolicy.objects.get(lender=lender, version=2)
    assert policy.default_dpd == 60 and policy.created_by == staff[Role.LENDER_ADMIN]
    assert audit_trail_for(policy).get().action == "collections_policy_versioned"
    bad = client.post(reverse("collections:policy-create"), _policy_post(provision_1_30="1.5"), follow=True)
    assert CollectionsPolicy.objects.filter(lender=lender).count() == 2 and "provision_1_30" in bad.content.decode()

    step = DunningStep.objects.get(lender=lender, code="reminder")
    prefix = f"step-{step.pk}"
    client.post(reverse("collections:step-update", args=[step.pk]),
                {f"{prefix}-offset_days": "-5", f"{prefix}-channels": "sms, email", f"{prefix}-title": "Due {due_date}",
                 f"{prefix}-body": "Loan #{loan}: {amount}", f"{prefix}-active": "on"})
    step.refresh_from_db()
    assert (step.offset_days, step.channels, step.title) == (-5, "email,sms", "Due {due_date}")
    taken = client.post(reverse("collections:step-update", args=[step.pk]),
                        {f"{prefix}-offset_days": "1", f"{prefix}-channels": "email", f"{prefix}-title": "x",
                         f"{prefix}-body": "y", f"{prefix}-active": "on"}, follow=True)
    assert "already fires at D+1" in taken.content.decode()
    other = DunningStep.objects.get(lender=other_lender, code="reminder")
    response = client.post(reverse("collections:step-update", args=[other.pk]),
                           {f"step-{other.pk}-offset_days": "-4", f"step-{other.pk}-channels": "email",
                            f"step-{other.pk}-title": "x", f"step-{other.pk}-body": "y"}, follow=True)
    assert "No such dunning step" in response.content.decode()
    assert DunningStep.objects.get(pk=other.pk).offset_days == -3


def test_collectors_read_but_do_not_edit(client, staff):
    client.force_login(staff[Role.COLLECTOR])
    assert client.get(reverse("collections:settings")).status_code == 200
    assert client.post(reverse("collections:policy-create"), _policy_post()).status_code == 403
