"""Every state change of guarantee groups: forming, joining, leaving, and guarantors paying claims.

Locks: a group's row is locked before its memberships are read or changed, so acceptances,
departures and disbursements listing guarantors queue on it (a member cannot leave while a
loan is being disbursed with them as guarantor; an 11th acceptance cannot slip in). A claim
payment follows the money order: lender position → the borrower (merchant) → the round's
claims → the loan (taken by repayment_post).
"""

import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict, Forbidden, NotFound, ReferenceReused, ValidationFailed
from apps.core.transitions import transition_apply
from apps.ledger.locks import lender_position_lock
from apps.ledger.posting import amount_check
from apps.merchants.models import KycState, Merchant
from apps.notifications.services import notice_send
from apps.repayments.models import Loan, LoanState, Repayment, RepaymentSource
from apps.repayments.selectors import payoff_quote
from apps.repayments.services import repayment_post

from .models import (
    MAX_MEMBERS,
    MIN_ACTIVE_MEMBERS,
    ClaimState,
    GroupMembership,
    GroupState,
    GuaranteeClaim,
    GuaranteeClaimPayment,
    GuaranteeGroup,
    LoanGuarantor,
    MembershipState,
)
from .selectors import LIVE_LOAN_STATES

ZERO = Decimal("0.00")


def _group_lock(group_id: int) -> GuaranteeGroup:
    return GuaranteeGroup.objects.select_for_update().get(pk=group_id)


def _accepted_count(group: GuaranteeGroup) -> int:
    return group.memberships.filter(state=MembershipState.ACCEPTED).count()


def _require_verified(merchant: Merchant, what: str) -> None:
    if merchant.kyc_state != KycState.VERIFIED:
        raise Conflict(f"Only a KYC-verified merchant can {what}; {merchant.company_name} is "
                       f"{merchant.get_kyc_state_display().lower()}.", code="KYC_NOT_VERIFIED")


def _live_membership(merchant: Merchant) -> GroupMembership | None:
    return (GroupMembership.objects.filter(merchant=merchant, state=MembershipState.ACCEPTED)
            .exclude(group__state=GroupState.DISSOLVED).select_related("group").first())


@transaction.atomic
def group_create(*, merchant: Merchant, name: str, actor) -> GuaranteeGroup:
    """Found a group; the founder is its first accepted member. It is active once MIN_ACTIVE_MEMBERS have joined."""
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise ValidationFailed("A group needs a name of 1–100 characters.", code="GROUP_NAME_INVALID")
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    _require_verified(merchant, "found a guarantee group")
    current = _live_membership(merchant)
    if current is not None:
        raise Conflict(f"You are already a member of the group {current.group.name}; leave it first.",
                       code="ALREADY_IN_A_GROUP")
    try:
        with transaction.atomic():
            group = GuaranteeGroup.objects.create(lender=merchant.lender, name=name, founded_by=merchant)
            GroupMembership.objects.create(group=group, merchant=merchant, state=MembershipState.ACCEPTED,
                                           decided_at=timezone.now())
    except IntegrityError as exc:
        if GuaranteeGroup.objects.filter(lender=merchant.lender, name=name).exclude(state=GroupState.DISSOLVED).exists():
            raise Conflict(f"A group named {name} already exists; choose another name.", code="GROUP_NAME_TAKEN") from exc
        raise Conflict("You joined another group meanwhile; leave it first.", code="ALREADY_IN_A_GROUP") from exc
    audit_record(actor=actor, action="group_created", subject=group, to_state=group.state,
                 data={"founder": merchant.pk, "name": name})
    return group


@transaction.atomic
def member_invite(*, group: GuaranteeGroup, inviter: Merchant, store_handle: str, actor) -> GroupMembership:
    """An accepted member invites a merchant of the same lender by store handle."""
    store_handle = (store_handle or "").strip().lower()
    if not store_handle:
        raise ValidationFailed("Enter the store handle of the merchant to invite.", code="STORE_HANDLE_REQUIRED")
    group = _group_lock(group.pk)
    if not group.memberships.filter(merchant=inviter, state=MembershipState.ACCEPTED).exists():
        raise Forbidden("Only members of the group can invite.", code="NOT_A_MEMBER")
    if group.state == GroupState.DISSOLVED:
        raise Conflict(f"The group {group.name} is dissolved.", code="GROUP_DISSOLVED")
    invitee = Merchant.objects.filter(lender=group.lender_id, store_handle=store_handle).first()
    if invitee is None:
        raise NotFound(f"No merchant with the store handle {store_handle} borrows from us.", code="MERCHANT_NOT_FOUND")
    if invitee.pk == inviter.pk:
        raise ValidationFailed("You cannot invite yourself.", code="SELF_INVITATION")
    existing = group.memberships.filter(merchant=invitee, state__in=[MembershipState.INVITED, MembershipState.ACCEPTED]).first()
    if existing is not None:
        already = "a member" if existing.state == MembershipState.ACCEPTED else "invited"
        raise Conflict(f"{invitee.company_name} is already {already}.", code="ALREADY_INVITED")
    taken = group.memberships.filter(state__in=[MembershipState.INVITED, MembershipState.ACCEPTED]).count()
    if taken >= MAX_MEMBERS:
        raise Conflict(f"A group has at most {MAX_MEMBERS} members, counting open invitations; {group.name} has {taken}.",
                       code="GROUP_FULL")
    membership = GroupMembership.objects.create(group=group, merchant=invitee, invited_by=inviter)
    audit_record(actor=actor, action="member_invited", subject=group, data={"merchant": invitee.pk, "by": inviter.pk})
    notice_send(merchant=invitee, kind=f"group-invitation-{group.pk}", business_date=business_date_today(),
                title=f"{inviter.company_name} invites you to the guarantee group {group.name}",
                body=(f"{inviter.company_name} invites you to join the joint-guarantee group {group.name}. Members guarantee "
                      "each other's loans: if one does not pay, the others are liable. Accept or decline in the portal."))
    return membership


@transaction.atomic
def invitation_accept(*, membership: GroupMembership, actor) -> GroupMembership:
    """Join the group; the group becomes active when it reaches MIN_ACTIVE_MEMBERS."""
    group = _group_lock(membership.group_id)
    merchant = membership.merchant
    if group.state == GroupState.DISSOLVED:
        raise Conflict(f"The group {group.name} is dissolved.", code="GROUP_DISSOLVED")
    _require_verified(merchant, "join a guarantee group")
    current = _live_membership(merchant)
    if current is not None and current.group_id != group.pk:
        raise Conflict(f"You are already a member of the group {current.group.name}; a merchant can be in one group only. "
                       "Leave it first.", code="ALREADY_IN_A_GROUP")
    members = _accepted_count(group)
    if members >= MAX_MEMBERS:
        raise Conflict(f"The group {group.name} already has {members} members, the most a group may have.", code="GROUP_FULL")
    try:
        with transaction.atomic():
            membership = transition_apply(instance=membership, transition="accept", actor=actor, update_fields=("decided_at",))
    except IntegrityError as exc:  # joined another group concurrently: the one-live-group constraint held
        raise Conflict("You joined another group meanwhile; a merchant can be in one group only.",
                       code="ALREADY_IN_A_GROUP") from exc
    if group.state == GroupState.FORMING and members + 1 >= MIN_ACTIVE_MEMBERS:
        transition_apply(instance=group, transition="activate", actor=actor, update_fields=("activated_at",),
                         reason=f"{members + 1} members accepted")
    return membership


def invitation_decline(*, membership: GroupMembership, actor) -> GroupMembership:
    return transition_apply(instance=membership, transition="decline", actor=actor, update_fields=("decided_at",))


@transaction.atomic
def group_leave(*, merchant: Merchant, actor) -> GroupMembership:
    """Leave the group: refused while the merchant guarantees, or is guaranteed on, a live loan, or owes a claim."""
    membership = _live_membership(merchant)
    if membership is None:
        raise NotFound("You are not a member of a guarantee group.", code="NOT_A_MEMBER")
    group = _group_lock(membership.group_id)
    guaranteed = (LoanGuarantor.objects.filter(guarantor=merchant, loan__state__in=LIVE_LOAN_STATES)
                  .values_list("loan_id", flat=True).order_by("loan_id"))
    if guaranteed:
        raise Conflict(f"You guarantee live loan(s) #{', #'.join(map(str, guaranteed))}; you can leave once they are repaid.",
                       code="GUARANTEES_LIVE")
    own = (LoanGuarantor.objects.filter(loan__merchant=merchant, loan__state__in=LIVE_LOAN_STATES)
           .values_list("loan_id", flat=True).distinct().order_by("loan_id"))
    if own:
        raise Conflict(f"The group guarantees your live loan(s) #{', #'.join(map(str, own))}; you can leave once they are "
                       "repaid.", code="GUARANTEED_LOANS_LIVE")
    if GuaranteeClaim.objects.filter(guarantor=merchant, state=ClaimState.OPEN).exists():
        raise Conflict("You have open guarantee claims; pay them before leaving.", code="CLAIMS_OPEN")
    membership = transition_apply(instance=membership, transition="leave", actor=actor, update_fields=("left_at",))
    remaining = _accepted_count(group)
    if group.state == GroupState.ACTIVE and remaining < MIN_ACTIVE_MEMBERS:
        group = transition_apply(instance=group, transition="deactivate", actor=actor,
                                 reason=f"{remaining} members left; new loans are not guaranteed until "
                                        f"{MIN_ACTIVE_MEMBERS} are members again")
    if remaining == 0:
        for invitation in group.memberships.filter(state=MembershipState.INVITED):
            transition_apply(instance=invitation, transition="withdraw", actor=actor, reason="The group dissolved")
        transition_apply(instance=group, transition="dissolve", actor=actor, update_fields=("dissolved_at",),
                         reason="The last member left")
    return membership


def guarantors_attach(*, loan: Loan, actor) -> int:
    """At disbursement: the other accepted members of the borrower's active group guarantee the loan.

    Called inside loan_disburse's transaction (after the merchant lock); the group's row lock
    makes a concurrent departure wait until the guarantees exist, and then refuse.
    """
    membership = (GroupMembership.objects.filter(merchant_id=loan.merchant_id, state=MembershipState.ACCEPTED,
                                                 group__state=GroupState.ACTIVE).values_list("group_id", flat=True).first())
    if membership is None:
        return 0
    group = _group_lock(membership)
    if group.state != GroupState.ACTIVE:
        return 0
    guarantors = list(group.memberships.filter(state=MembershipState.ACCEPTED).exclude(merchant_id=loan.merchant_id)
                      .values_list("merchant_id", flat=True).order_by("merchant_id"))
    LoanGuarantor.objects.bulk_create([LoanGuarantor(loan=loan, guarantor_id=g, group=group) for g in guarantors],
                                      ignore_conflicts=True)
    audit_record(actor=actor, action="guarantors_listed", subject=loan,
                 data={"group": group.pk, "group_name": group.name, "guarantors": guarantors})
    return len(guarantors)


def _reference_of(claim: GuaranteeClaim, reference: str) -> str:
    reference = (reference or "").strip()
    if not reference or len(reference) > 64:
        raise ValidationFailed("A payment reference of 1–64 characters is required.", code="INVALID_REFERENCE")
    return f"claim-{claim.pk}:{reference}"


@transaction.atomic
def claim_pay(*, claim: GuaranteeClaim, guarantor: Merchant, amount, reference: str, actor,
              received_on: datetime.date | None = None) -> GuaranteeClaimPayment:
    """A guarantor pays (part of) a claim: the money is a repayment of the defaulter's loan.

    At most what is left of the claim's round (what all guarantors were called for, less what
    any of them paid) and never more than the loan owes. Idempotent by `reference`: the same
    payment sent again returns the first; the same reference with another amount is refused.
    When the round is fully paid, this claim is paid and the other guarantors' claims close.
    """
    if claim.guarantor_id != guarantor.pk:
        raise NotFound("No such claim of yours.", code="CLAIM_NOT_FOUND")
    amount = amount_check(amount)
    repayment_reference = _reference_of(claim, reference)
    received_on = received_on or business_date_today()
    loan = Loan.objects.select_related("merchant__lender").get(pk=claim.loan_id)
    lender_position_lock(loan.merchant.lender)
    Merchant.objects.select_for_update().get(pk=loan.merchant_id)
    round_claims = list(GuaranteeClaim.objects.select_for_update()
                        .filter(loan_id=claim.loan_id, due_date=claim.due_date, basis=claim.basis).order_by("id"))
    claim = next(c for c in round_claims if c.pk == claim.pk)
    existing = (Repayment.objects.filter(loan=loan, source=RepaymentSource.GUARANTOR, reference=repayment_reference)
                .select_related("guarantee_payment").first())
    if existing is not None:
        if existing.amount != amount:
            raise ReferenceReused(f"Reference {reference} was already used for {existing.amount:,.2f}.")
        return existing.guarantee_payment
    if claim.state != ClaimState.OPEN:
        raise Conflict(f"This claim is {claim.get_state_display().lower()}; nothing is left to pay on it.",
                       code="CLAIM_NOT_OPEN")
    remaining = claim.amount - sum((c.paid for c in round_claims), ZERO)
    if amount > remaining:
        raise ValidationFailed(f"At most {remaining:,.2f} is left to pay on this claim; you offered {amount:,.2f}.",
                               code="CLAIM_AMOUNT_EXCEEDED")
    if loan.state not in LIVE_LOAN_STATES:
        raise Conflict(f"Loan #{loan.pk} is {loan.get_state_display().lower()}; it takes no payments.",
                       code="LOAN_NOT_REPAYABLE")
    owed = payoff_quote(loan=loan, on=received_on)["total"]
    if amount > owed:
        raise ValidationFailed(f"Loan #{loan.pk} owes {owed:,.2f} in all; you offered {amount:,.2f}.",
                               code="CLAIM_AMOUNT_EXCEEDED")
    repayment = repayment_post(loan=loan, amount=amount, source=RepaymentSource.GUARANTOR, reference=repayment_reference,
                               actor=actor, received_on=received_on)
    payment = GuaranteeClaimPayment.objects.create(claim=claim, repayment=repayment)
    GuaranteeClaim.objects.filter(pk=claim.pk).update(paid=F("paid") + amount)
    audit_record(actor=actor, action="guarantee_claim_paid", subject=claim,
                 data={"amount": str(amount), "repayment": repayment.pk, "loan": loan.pk, "reference": reference})
    if amount == remaining:  # the round is settled
        for c in round_claims:
            if c.state != ClaimState.OPEN:
                continue
            if c.pk == claim.pk or c.paid > 0:
                transition_apply(instance=c, transition="settle", actor=actor, update_fields=("closed_at",),
                                 reason="The claim's round is paid in full")
            else:
                transition_apply(instance=c, transition="close", actor=actor, update_fields=("closed_at", "close_reason"),
                                 reason="Paid by another guarantor", method_kwargs={"reason": "Paid by another guarantor"})
    if Loan.objects.filter(pk=loan.pk, state=LoanState.PAID_OFF).exists():
        for c in GuaranteeClaim.objects.filter(loan=loan, state=ClaimState.OPEN).order_by("id"):
            transition_apply(instance=c, transition="close", actor=actor, update_fields=("closed_at", "close_reason"),
                             reason="The loan is repaid", method_kwargs={"reason": "The loan is repaid"})
    return payment
