"""Reads for guarantee groups: the merchant's own views, the back-office's, and group exposure."""

from decimal import Decimal

from django.db.models import Case, Count, DecimalField, Exists, F, OuterRef, Prefetch, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from apps.ledger.models import MerchantExposure
from apps.merchants.models import Merchant
from apps.repayments.models import REPAYABLE_STATES, Loan, LoanInstallment, LoanState

from .models import (
    ClaimState,
    GroupDefault,
    GroupMembership,
    GroupState,
    GuaranteeClaim,
    GuaranteeGroup,
    LoanGuarantor,
    MembershipState,
)

ZERO = Decimal("0.00")
# Loans whose guarantees still bind: a guarantor cannot leave the group while one of these is guaranteed.
LIVE_LOAN_STATES = REPAYABLE_STATES
# A member in this state makes the group "have a defaulted member" (contagion downgrade).
DEFAULTED_LOAN_STATES = (LoanState.DEFAULTED, LoanState.WRITTEN_OFF)
_MONEY = DecimalField(max_digits=20, decimal_places=2)


def _sum_money(queryset, field: str):
    """A correlated subquery summing `field` over `queryset` (already filtered by OuterRef), 0 when empty."""
    total = queryset.order_by().values(whole=Value(1)).annotate(total=Sum(field)).values("total")
    return Coalesce(Subquery(total, output_field=_MONEY), Value(ZERO), output_field=_MONEY)


# --- exposure (the regulatory single-borrower check) -------------------------------------------

def group_exposure_get(merchant) -> Decimal:
    """The exposure the single-borrower limit applies to (DESIGN.md: one borrower incl. its group).

    The merchant's outstanding principal on the lender's books (ledger MerchantExposure, the
    lender's own share, as the ledger's single-borrower check counts it) plus that of every
    other accepted member of its live guarantee group. One query; a merchant outside any group
    gets its own exposure, so this can replace merchant_exposure_get in the check.
    """
    members = GroupMembership.objects.filter(
        state=MembershipState.ACCEPTED,
        group__in=GroupMembership.objects.filter(merchant=merchant, state=MembershipState.ACCEPTED).values("group_id"),
    ).values("merchant_id")
    total = MerchantExposure.objects.filter(Q(merchant=merchant) | Q(merchant__in=members)).aggregate(
        total=Sum("principal"))["total"]
    return total if total is not None else ZERO


# --- the merchant's side (portal) --------------------------------------------------------------

def live_group_get(*, merchant) -> GuaranteeGroup | None:
    """The group the merchant is an accepted member of, if any (at most one, by constraint)."""
    return (GuaranteeGroup.objects.filter(memberships__merchant=merchant, memberships__state=MembershipState.ACCEPTED)
            .exclude(state=GroupState.DISSOLVED).first())


def group_members_list(*, group: GuaranteeGroup):
    """Accepted members and open invitations, founder first."""
    return (group.memberships.filter(state__in=[MembershipState.ACCEPTED, MembershipState.INVITED])
            .select_related("merchant", "invited_by").order_by("invited_at", "id"))


def invitations_pending_list(*, merchant):
    return (GroupMembership.objects.filter(merchant=merchant, state=MembershipState.INVITED)
            .exclude(group__state=GroupState.DISSOLVED).select_related("group", "invited_by").order_by("-invited_at", "-id"))


def guarantees_given_list(*, merchant):
    """The loans this merchant guarantees, live first, with their borrower."""
    return (LoanGuarantor.objects.filter(guarantor=merchant).select_related("loan__merchant", "group")
            .annotate(live=Q(loan__state__in=LIVE_LOAN_STATES))
            .order_by("-live", "-loan__created_at", "-loan_id"))


def guarantees_received_list(*, merchant):
    """The merchant's own loans and who guarantees them (one query for the guarantors)."""
    guarantors = Prefetch("guarantors", queryset=LoanGuarantor.objects.select_related("guarantor"))
    return (Loan.objects.filter(merchant=merchant, guarantors__isnull=False).distinct()
            .prefetch_related(guarantors).order_by("-created_at", "-id"))


def _round_paid():
    """What every guarantor has paid in a claim's round (loan, due date, basis)."""
    siblings = GuaranteeClaim.objects.filter(loan_id=OuterRef("loan_id"), due_date=OuterRef("due_date"),
                                             basis=OuterRef("basis"))
    return _sum_money(siblings, "paid")


def claims_with_round():
    """Claims annotated with `round_paid` and `remaining` (what is still to pay in the round)."""
    return GuaranteeClaim.objects.annotate(round_paid=_round_paid()).annotate(remaining=F("amount") - F("round_paid"))


_OPEN_FIRST = Case(When(state=ClaimState.OPEN, then=Value(0)), default=Value(1))


def claims_for_guarantor(*, merchant):
    return (claims_with_round().filter(guarantor=merchant).select_related("loan__merchant", "group")
            .order_by(_OPEN_FIRST, "-opened_on", "-id"))


def claim_round_paid_get(*, claim: GuaranteeClaim) -> Decimal:
    total = GuaranteeClaim.objects.filter(loan_id=claim.loan_id, due_date=claim.due_date, basis=claim.basis).aggregate(
        total=Sum("paid"))["total"]
    return total if total is not None else ZERO


# --- contagion ---------------------------------------------------------------------------------

def group_has_defaulted_member(*, merchant) -> Loan | None:
    """A defaulted (or written-off) loan of an accepted member of the merchant's live group, the merchant's own included."""
    members = GroupMembership.objects.filter(
        state=MembershipState.ACCEPTED,
        group__in=GroupMembership.objects.filter(merchant=merchant, state=MembershipState.ACCEPTED).values("group_id"),
    ).values("merchant_id")
    return (Loan.objects.filter(merchant__in=members, state__in=DEFAULTED_LOAN_STATES).select_related("merchant")
            .order_by("defaulted_on", "id").first())


def contagion_downgrade_get(*, merchant, parameters: dict) -> tuple[int, str]:
    """How many grade notches the scoring model takes off while the merchant's group has a defaulted member, and why."""
    defaulted = group_has_defaulted_member(merchant=merchant)
    if defaulted is None:
        return 0, ""
    notches = int(parameters.get("contagion_downgrade_notches", 1))
    who = "your own" if defaulted.merchant_id == merchant.pk else f"{defaulted.merchant.company_name}'s"
    return notches, f"Contagion: {who} loan #{defaulted.pk} in your guarantee group is {defaulted.get_state_display().lower()}."


# --- the lender's side (back-office) -----------------------------------------------------------

def groups_for_lender(*, lender):
    """Every group of the lender with its headline figures, each a subquery (no N+1, no join fan-out)."""
    # A merchant has at most one accepted membership, so joining through it never counts anyone twice.
    in_group = {"merchant__group_memberships__group": OuterRef("pk"),
                "merchant__group_memberships__state": MembershipState.ACCEPTED}
    exposure = MerchantExposure.objects.filter(**in_group)
    open_claims = GuaranteeClaim.objects.filter(group=OuterRef("pk"), state=ClaimState.OPEN)
    return GuaranteeGroup.objects.filter(lender=lender).annotate(
        member_count=Count("memberships", filter=Q(memberships__state=MembershipState.ACCEPTED)),
        frozen_count=Count("memberships", filter=Q(memberships__state=MembershipState.ACCEPTED,
                                                    memberships__merchant__limit_frozen_at__isnull=False)),
        exposure=_sum_money(exposure, "principal"),
        open_claims=_sum_money(open_claims, "amount") - _sum_money(open_claims, "paid"),
        has_default=Exists(Loan.objects.filter(state__in=DEFAULTED_LOAN_STATES, **in_group)),
    )


def group_member_rows(*, group: GuaranteeGroup):
    """Every membership of the group (all states) with the member's exposure, outstanding principal and defaults."""
    merchant = OuterRef("merchant_id")
    unpaid = LoanInstallment.objects.filter(loan__merchant=merchant, loan__state__in=LIVE_LOAN_STATES)
    live_first = Case(When(state=MembershipState.ACCEPTED, then=Value(0)), When(state=MembershipState.INVITED, then=Value(1)),
                      default=Value(2))
    return group.memberships.select_related("merchant", "invited_by").annotate(
        exposure=_sum_money(MerchantExposure.objects.filter(merchant=merchant), "principal"),
        outstanding=_sum_money(unpaid, "principal_due") - _sum_money(unpaid, "principal_paid"),
        defaulted_loans=Coalesce(Subquery(
            Loan.objects.filter(merchant=merchant, state__in=DEFAULTED_LOAN_STATES).order_by()
            .values("merchant_id").annotate(n=Count("id")).values("n")), Value(0)),
    ).order_by(live_first, "invited_at", "id")


def group_guarantees_list(*, group: GuaranteeGroup):
    """The loans the group guarantees, each with its borrower and guarantors (one query for all guarantors)."""
    guarantors = Prefetch("guarantors", queryset=LoanGuarantor.objects.select_related("guarantor"))
    return (Loan.objects.filter(pk__in=LoanGuarantor.objects.filter(group=group).values("loan_id"))
            .select_related("merchant").prefetch_related(guarantors).order_by("-created_at", "-id"))


def group_claims_list(*, group: GuaranteeGroup):
    return (claims_with_round().filter(group=group).select_related("loan__merchant", "guarantor")
            .order_by(_OPEN_FIRST, "-opened_on", "-id"))


def group_contagion_get(*, group: GuaranteeGroup) -> dict:
    """Defaults recorded against the group and its totals: what the back-office shows as contagion status."""
    claims = GuaranteeClaim.objects.filter(group=group).aggregate(
        open_amount=Coalesce(Sum(F("amount") - F("paid"), filter=Q(state=ClaimState.OPEN)), Value(ZERO)),
        paid_amount=Coalesce(Sum("paid"), Value(ZERO)),
        open_count=Count("id", filter=Q(state=ClaimState.OPEN)),
    )
    return {
        "defaults": list(GroupDefault.objects.filter(group=group).select_related("loan", "merchant")[:20]),
        "frozen": list(Merchant.objects.filter(group_memberships__group=group,
                                               group_memberships__state=MembershipState.ACCEPTED,
                                               limit_frozen_at__isnull=False).order_by("company_name", "id")),
        **claims,
    }
