"""Default collections policy and dunning ladder for lenders that have none (DESIGN.md defaults)."""

import datetime

from apps.accounts.models import Lender

from .models import DEFAULT_LADDER, CollectionsPolicy, DunningStep


def collections_setup_ensure() -> None:
    """Give every lender without one the default policy and ladder; safe to run again and concurrently."""
    without_policy = Lender.objects.exclude(collections_policies__isnull=False).values_list("pk", flat=True)
    CollectionsPolicy.objects.bulk_create(
        [CollectionsPolicy(lender_id=pk, version=1, effective_from=datetime.date(2000, 1, 1), reason="DESIGN.md defaults")
         for pk in without_policy], ignore_conflicts=True)
    without_ladder = Lender.objects.exclude(dunning_steps__isnull=False).values_list("pk", flat=True)
    DunningStep.objects.bulk_create(
        [DunningStep(lender_id=pk, code=code, offset_days=offset, audience=audience, channels=channels, action=action,
                     title=title, body=body)
         for pk in without_ladder for code, offset, audience, channels, action, title, body in DEFAULT_LADDER],
        ignore_conflicts=True)
