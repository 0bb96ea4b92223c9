"""Editing the collections policy (a new effective-dated version) and the dunning ladder; audited."""

import datetime

from django.db import transaction
from django.forms.models import model_to_dict

from apps.core.audit import audit_record
from apps.core.errors import NotFound, ValidationFailed

from .models import CollectionsPolicy, DunningStep
from .setup import collections_setup_ensure

POLICY_FIELDS = ("default_dpd", "provision_current", "provision_1_30", "provision_31_60", "provision_61_90",
                 "provision_90_plus", "priority_formula", "priority_amount_weight", "priority_dpd_weight",
                 "broken_promise_boost", "promise_max_days")
STEP_FIELDS = ("offset_days", "channels", "title", "body", "active")
CHANNELS = {"email", "sms"}


def policy_in_force(*, lender, on: datetime.date) -> CollectionsPolicy:
    collections_setup_ensure()
    return (CollectionsPolicy.objects.filter(lender=lender, effective_from__lte=on).order_by("-effective_from", "-version")
            .first() or CollectionsPolicy.objects.filter(lender=lender).order_by("effective_from", "version").first())


@transaction.atomic
def policy_version_create(*, lender, actor, effective_from: datetime.date, reason: str, **values) -> CollectionsPolicy:
    """A new version from `effective_from`; earlier versions stay for the dates they covered."""
    if not reason.strip():
        raise ValidationFailed("Say why the policy changes.", code="REASON_REQUIRED")
    current = policy_in_force(lender=lender, on=effective_from)
    latest = CollectionsPolicy.objects.select_for_update().filter(lender=lender).order_by("-version").first()
    policy = CollectionsPolicy(lender=lender, version=(latest.version if latest else 0) + 1, effective_from=effective_from,
                               reason=reason, created_by=actor,
                               **{f: values.get(f, getattr(current, f)) for f in POLICY_FIELDS})
    policy.full_clean(exclude=["lender", "created_by"])
    policy.save()
    audit_record(actor=actor, action="collections_policy_versioned", subject=policy, reason=reason,
                 data={f: str(getattr(policy, f)) for f in POLICY_FIELDS})
    return policy


@transaction.atomic
def dunning_step_update(*, lender, step_id: int, actor, **values) -> DunningStep:
    step = DunningStep.objects.select_for_update().filter(lender=lender, pk=step_id).first()
    if step is None:
        raise NotFound("No such dunning step.", code="STEP_NOT_FOUND")
    channels = {c.strip() for c in str(values.get("channels", step.channels)).split(",") if c.strip()}
    if not channels or channels - CHANNELS:
        raise ValidationFailed("Channels are a comma-separated list of email and sms.", code="INVALID_CHANNELS")
    values["channels"] = ",".join(sorted(channels))
    before = model_to_dict(step, fields=STEP_FIELDS)
    for field in STEP_FIELDS:
        if field in values:
            setattr(step, field, values[field])
    if step.offset_days == 0 or not -30 <= step.offset_days <= 365:
        raise ValidationFailed("The offset is −30 to 365 days from the due date, and not 0.", code="INVALID_OFFSET")
    if DunningStep.objects.filter(lender=lender, offset_days=step.offset_days).exclude(pk=step.pk).exists():
        raise ValidationFailed(f"Another step already fires at D{step.offset_days:+d}.", code="OFFSET_TAKEN")
    step.save()
    audit_record(actor=actor, action="dunning_step_updated", subject=step,
                 data={"before": {k: str(v) for k, v in before.items()},
                       "after": {k: str(v) for k, v in model_to_dict(step, fields=STEP_FIELDS).items()}})
    return step
