"""Joint-guarantee groups (網路聯保): merchants of one lender who each guarantee the others' loans.

A group forms when a merchant creates it and invites others by store handle; it is active
(its members' new loans are guaranteed by the other members) while it has at least
MIN_ACTIVE_MEMBERS accepted members, and never has more than MAX_MEMBERS. A merchant is in
at most one live group (the database says so). Guarantees are fixed per loan at
disbursement (LoanGuarantor); when a loan is called (the dunning ladder's guarantor step) or
defaults, each guarantor gets a GuaranteeClaim for the overdue amount (joint and several:
each is liable for all of it, the lender collects it once).
"""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django_fsm import FSMField, FSMModelMixin, transition

from apps.core.money import money_field_kwargs

# The product's definition (DESIGN.md glossary: 3–10 merchants), not a tunable rule.
MIN_ACTIVE_MEMBERS = 3
MAX_MEMBERS = 10


class GroupState(models.TextChoices):
    FORMING = "forming", "Forming"
    ACTIVE = "active", "Active"
    DISSOLVED = "dissolved", "Dissolved"


def _has_enough_members(group) -> bool:
    return group.memberships.filter(state=MembershipState.ACCEPTED).count() >= MIN_ACTIVE_MEMBERS


def _has_too_few_members(group) -> bool:
    return not _has_enough_members(group)


def _has_no_members(group) -> bool:
    return not group.memberships.filter(state=MembershipState.ACCEPTED).exists()


class GuaranteeGroup(FSMModelMixin, models.Model):
    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="guarantee_groups")
    name = models.CharField(max_length=100)
    state = FSMField(default=GroupState.FORMING, choices=GroupState.choices, protected=True)
    founded_by = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(db_default=Now())
    activated_at = models.DateTimeField(null=True, blank=True)
    dissolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lender", "name"], condition=~Q(state="dissolved"),
                                    name="guarantee_group_unique_live_name"),
        ]

    def __str__(self):
        return self.name

    # Only apps.groups.services calls these (through core.transitions, which audits them).
    @transition(field=state, source=GroupState.FORMING, target=GroupState.ACTIVE, conditions=[_has_enough_members])
    def activate(self):
        from django.utils import timezone

        self.activated_at = timezone.now()

    @transition(field=state, source=GroupState.ACTIVE, target=GroupState.FORMING, conditions=[_has_too_few_members])
    def deactivate(self):
        pass

    @transition(field=state, source=GroupState.FORMING, target=GroupState.DISSOLVED, conditions=[_has_no_members])
    def dissolve(self):
        from django.utils import timezone

        self.dissolved_at = timezone.now()


class MembershipState(models.TextChoices):
    INVITED = "invited", "Invited"
    ACCEPTED = "accepted", "Member"
    DECLINED = "declined", "Declined"
    LEFT = "left", "Left"
    WITHDRAWN = "withdrawn", "Invitation withdrawn"


def _is_the_member(membership, user) -> bool:
    return getattr(user, "merchant_id", None) == membership.merchant_id


class GroupMembership(FSMModelMixin, models.Model):
    group = models.ForeignKey(GuaranteeGroup, on_delete=models.PROTECT, related_name="memberships")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="group_memberships")
    state = FSMField(default=MembershipState.INVITED, choices=MembershipState.choices, protected=True)
    invited_by = models.ForeignKey("merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", help_text="Empty for the founder")
    invited_at = models.DateTimeField(db_default=Now())
    decided_at = models.DateTimeField(null=True, blank=True, help_text="When the invitation was accepted or declined")
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["group_id", "invited_at", "id"]
        constraints = [
            # A merchant is in at most one live group.
            models.UniqueConstraint(fields=["merchant"], condition=Q(state="accepted"), name="membership_one_live_group"),
            # One open invitation or membership per group and merchant.
            models.UniqueConstraint(fields=["group", "merchant"], condition=Q(state__in=["invited", "accepted"]),
                                    name="membership_once_per_group"),
        ]
        indexes = [models.Index(fields=["group", "state"])]

    def __str__(self):
        return f"{self.merchant_id} in group {self.group_id} ({self.state})"

    @transition(field=state, source=MembershipState.INVITED, target=MembershipState.ACCEPTED, permission=_is_the_member)
    def accept(self):
        from django.utils import timezone

        self.decided_at = timezone.now()

    @transition(field=state, source=MembershipState.INVITED, target=MembershipState.DECLINED, permission=_is_the_member)
    def decline(self):
        from django.utils import timezone

        self.decided_at = timezone.now()

    @transition(field=state, source=MembershipState.ACCEPTED, target=MembershipState.LEFT, permission=_is_the_member)
    def leave(self):
        from django.utils import timezone

        self.left_at = timezone.now()

    @transition(field=state, source=MembershipState.INVITED, target=MembershipState.WITHDRAWN)
    def withdraw(self):
        pass


class LoanGuarantor(models.Model):
    """A member of the borrower's active group guaranteeing one loan, fixed at disbursement."""

    loan = models.ForeignKey("repayments.Loan", on_delete=models.PROTECT, related_name="guarantors")
    guarantor = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="guarantees")
    group = models.ForeignKey(GuaranteeGroup, on_delete=models.PROTECT, related_name="guarantees")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["loan_id", "guarantor_id"]
        constraints = [models.UniqueConstraint(fields=["loan", "guarantor"], name="loan_guarantor_once")]
        indexes = [models.Index(fields=["guarantor", "loan"]), models.Index(fields=["group", "loan"])]

    def __str__(self):
        return f"merchant {self.guarantor_id} guarantees loan {self.loan_id}"


class ClaimBasis(models.TextChoices):
    DUNNING = "dunning", "Called by the dunning ladder"
    DEFAULT = "default", "Loan defaulted"


class ClaimState(models.TextChoices):
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    CLOSED = "closed", "Closed"


class GuaranteeClaim(FSMModelMixin, models.Model):
    """What one guarantor is called to pay for one loan in one claim round.

    A round is (loan, due date, basis): every guarantor of the loan gets a claim for the same
    overdue amount, and what any of them pays counts for the whole round (joint and several
    liability: the lender collects the amount once). `paid` is what this guarantor paid.
    Paid: the round is settled and this guarantor paid towards it. Closed: nothing is owed on
    it any more (the borrower cured the loan, another guarantor settled it).
    """

    loan = models.ForeignKey("repayments.Loan", on_delete=models.PROTECT, related_name="guarantee_claims")
    guarantor = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="guarantee_claims")
    group = models.ForeignKey(GuaranteeGroup, on_delete=models.PROTECT, related_name="claims")
    basis = models.CharField(max_length=8, choices=ClaimBasis.choices)
    due_date = models.DateField(help_text="The oldest unpaid due date the claim is about")
    dunning_event = models.ForeignKey("collections.DunningEvent", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="guarantee_claims")
    amount = models.DecimalField(**money_field_kwargs())
    paid = models.DecimalField(default=0, db_default=0, **money_field_kwargs())
    state = FSMField(default=ClaimState.OPEN, choices=ClaimState.choices, protected=True)
    opened_on = models.DateField(help_text="Business date it was opened")
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.TextField(blank=True, db_default="")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-opened_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "guarantor", "due_date", "basis"], name="guarantee_claim_once_per_round"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="guarantee_claim_amount_positive"),
            models.CheckConstraint(condition=Q(paid__gte=0) & Q(paid__lte=models.F("amount")),
                                   name="guarantee_claim_paid_within_amount"),
        ]
        indexes = [models.Index(fields=["guarantor", "state"]), models.Index(fields=["group", "state"]),
                   models.Index(fields=["loan", "state"])]

    def __str__(self):
        return f"Claim on merchant {self.guarantor_id} for loan {self.loan_id}: {self.amount} ({self.state})"

    @transition(field=state, source=ClaimState.OPEN, target=ClaimState.PAID)
    def settle(self):
        from django.utils import timezone

        self.closed_at = timezone.now()

    @transition(field=state, source=ClaimState.OPEN, target=ClaimState.CLOSED)
    def close(self, reason: str):
        from django.utils import timezone

        self.closed_at = timezone.now()
        self.close_reason = reason


class GuaranteeClaimPayment(models.Model):
    """A guarantor's payment on a claim: the repayment it became on the defaulter's loan."""

    claim = models.ForeignKey(GuaranteeClaim, on_delete=models.PROTECT, related_name="payments")
    repayment = models.OneToOneField("repayments.Repayment", on_delete=models.PROTECT, related_name="guarantee_payment")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"repayment {self.repayment_id} on claim {self.claim_id}"


class GroupDefault(models.Model):
    """A member's loan defaulted: the record that its contagion (freeze, review, claims) was applied once."""

    group = models.ForeignKey(GuaranteeGroup, on_delete=models.PROTECT, related_name="defaults")
    loan = models.OneToOneField("repayments.Loan", on_delete=models.PROTECT, related_name="group_default")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    defaulted_on = models.DateField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-defaulted_on", "-id"]

    def __str__(self):
        return f"loan {self.loan_id} of merchant {self.merchant_id} defaulted on {self.defaulted_on}"
