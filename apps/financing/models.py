from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import RETURN_VALUE, FSMField, FSMModelMixin, transition

from apps.core.money import money_field_kwargs
from apps.repayments.models import RepaymentMethod


class OrderState(models.TextChoices):
    PAID = "paid", "Paid"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    SETTLED = "settled", "Settled"
    REFUNDED = "refunded", "Refunded"
    CANCELLED = "cancelled", "Cancelled"
    DISPUTED = "disputed", "Disputed"


OPEN_ORDER_STATES = (OrderState.PAID, OrderState.SHIPPED, OrderState.DELIVERED)
DEFAULT_ADVANCE_RATES = {"A": "0.90", "B": "0.80", "C": "0.70", "D": "0.50", "E": "0.00"}
DEFAULT_ANNUAL_RATES = {"A": "0.0700", "B": "0.0800", "C": "0.0900", "D": "0.1000", "E": "0.1100"}


class PresaleOrder(FSMModelMixin, models.Model):
    """A buyer-paid order whose money the marketplace holds in escrow until delivery."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="presale_orders")
    external_id = models.CharField(max_length=64, help_text="The marketplace's order id")
    buyer_id = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**money_field_kwargs())
    paid_amount = models.DecimalField(**money_field_kwargs())
    paid_at = models.DateTimeField()
    expected_ship_date = models.DateField()
    expected_settlement_date = models.DateField()
    state = FSMField(default=OrderState.PAID, choices=OrderState.choices, protected=True)
    state_before_dispute = models.CharField(max_length=16, blank=True)
    settled_amount = models.DecimalField(null=True, blank=True, **money_field_kwargs())
    source = models.CharField(max_length=8, choices=[("api", "API"), ("csv", "CSV upload")])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "pre-sale order"
        ordering = ["expected_settlement_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "external_id"], name="order_unique_per_merchant"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(condition=Q(paid_amount__gt=0) & Q(paid_amount__lte=F("amount")),
                                   name="order_paid_within_amount"),
            models.CheckConstraint(condition=Q(expected_settlement_date__gte=F("expected_ship_date")),
                                   name="order_settles_after_shipping"),
            models.CheckConstraint(condition=Q(settled_amount__isnull=True) | Q(settled_amount__gte=0),
                                   name="order_settled_amount_non_negative"),
        ]
        indexes = [models.Index(fields=["merchant", "state", "expected_settlement_date"])]

    def __str__(self):
        return f"Order {self.external_id} ({self.state})"

    # The lifecycle; only apps.financing.services calls these (via core.transitions).
    @transition(field=state, source=OrderState.PAID, target=OrderState.SHIPPED)
    def ship(self):
        pass

    @transition(field=state, source=OrderState.SHIPPED, target=OrderState.DELIVERED)
    def deliver(self):
        pass

    @transition(field=state, source=OrderState.DELIVERED, target=OrderState.SETTLED)
    def settle(self, settled_amount):
        self.settled_amount = settled_amount

    @transition(field=state, source=[*OPEN_ORDER_STATES, OrderState.DISPUTED], target=OrderState.REFUNDED)
    def refund(self):
        pass

    @transition(field=state, source=list(OPEN_ORDER_STATES), target=OrderState.CANCELLED)
    def cancel(self):
        pass

    @transition(field=state, source=list(OPEN_ORDER_STATES), target=OrderState.DISPUTED)
    def dispute(self):
        self.state_before_dispute = self.state

    @transition(field=state, source=OrderState.DISPUTED, target=RETURN_VALUE(*OPEN_ORDER_STATES))
    def resolve_dispute(self):
        previous, self.state_before_dispute = self.state_before_dispute, ""
        return previous


class FinancingPolicy(models.Model):
    """Borrowing-base rules as data, effective-dated and versioned per lender."""

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="financing_policies")
    version = models.PositiveIntegerField()
    effective_from = models.DateField()
    max_tenor_days = models.PositiveIntegerField(default=90, help_text="Latest settlement an advance may wait for")
    buyer_concentration_cap = models.DecimalField(max_digits=5, decimal_places=4, default="0.2500",
                                                  help_text="Largest share of the eligible pool one buyer may make up")
    advance_rates = models.JSONField(help_text='Advance rate by risk grade, e.g. {"A": "0.90", …}')
    # Automatic decisions: grades approved without review, grades referred to a credit officer
    # (any other grade is declined), and how far past the credit limit a referral may go.
    auto_approve_grades = models.CharField(max_length=5, default="ABC")
    refer_grades = models.CharField(max_length=5, default="D")
    limit_refer_band = models.DecimalField(max_digits=5, decimal_places=4, default="1.2000",
                                           help_text="Up to this multiple of the credit limit is referred, not declined")
    # Pricing by grade, for every product; a product's own terms (fee, grace, penalty, day count) live on LoanProduct.
    annual_rates = models.JSONField(default=dict, help_text='Annual interest rate by grade, e.g. {"A": "0.12"}')
    offer_valid_hours = models.PositiveIntegerField(default=72)
    margin_call_days = models.PositiveIntegerField(default=7, help_text="Days a merchant has to cure a margin call")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lender", "version"], name="financing_policy_unique_version"),
            models.CheckConstraint(condition=Q(buyer_concentration_cap__gt=0, buyer_concentration_cap__lte=1),
                                   name="financing_policy_concentration_in_range"),
        ]
        ordering = ["-effective_from", "-version"]

    def __str__(self):
        return f"Financing policy v{self.version} from {self.effective_from}"


class ProductKind(models.TextChoices):
    PRESALE_ADVANCE = "presale_advance", "Pre-sale advance"
    TERM_LOAN = "term_loan", "Term loan"


DAY_COUNT_CHOICES = [("ACT/360", "ACT/360 (日利率 = 年利率 ÷ 360)"), ("ACT/365", "ACT/365")]


class LoanProduct(models.Model):
    """What a lender offers, as data: the schedule shape and the contract terms copied onto each loan.

    A pre-sale advance is one bullet at the latest expected settlement of its pledged orders plus
    `grace_days`; a term loan is monthly by `method` over a term the merchant picks within the limits.
    The interest rate is priced by risk grade in FinancingPolicy. Editing a product changes new
    applications only: a loan keeps the terms copied at disbursement.
    """

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="loan_products")
    code = models.SlugField(max_length=32)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=ProductKind.choices)
    method = models.CharField(max_length=20, choices=RepaymentMethod.choices)
    min_term_months = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Term loans only")
    max_term_months = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Term loans only")
    min_amount = models.DecimalField(null=True, blank=True, **money_field_kwargs())
    max_amount = models.DecimalField(null=True, blank=True, **money_field_kwargs())
    day_count = models.CharField(max_length=8, choices=DAY_COUNT_CHOICES, default="ACT/360",
                                 help_text="Daily interest: advances, penalties, payoff quotes")
    penalty_annual_rate = models.DecimalField(max_digits=7, decimal_places=4, default="0.1000",
                                              help_text="Penalty interest on overdue principal, per year")
    grace_days = models.PositiveSmallIntegerField(default=0, help_text="Pre-sale advances: days after the latest "
                                                                        "expected settlement before the bullet falls due")
    fee_rate = models.DecimalField(max_digits=6, decimal_places=4, default="0.0000",
                                   help_text="Pre-sale advances: a flat fee on the principal, paid at maturity")
    allocation_strategy = models.CharField(max_length=32, default="default",
                                           help_text="Order in which a payment settles what is owed")
    is_active = models.BooleanField(default=True)
    effective_from = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["lender", "code"], name="loan_product_unique_code"),
            models.CheckConstraint(condition=Q(kind="presale_advance", method="bullet")
                                   | (Q(kind="term_loan") & ~Q(method="bullet")), name="loan_product_kind_method"),
            models.CheckConstraint(
                condition=Q(kind="presale_advance", min_term_months__isnull=True, max_term_months__isnull=True)
                | Q(kind="term_loan", min_term_months__gte=1, max_term_months__lte=600,
                    min_term_months__lte=F("max_term_months")),
                name="loan_product_term_range"),
            # A term loan's fee would need its own place in a monthly schedule and in prepayments: none is offered.
            models.CheckConstraint(condition=Q(kind="presale_advance") | Q(grace_days=0, fee_rate=0),
                                   name="loan_product_term_loan_no_fee_or_grace"),
            models.CheckConstraint(condition=Q(min_amount__isnull=True) | Q(min_amount__gt=0),
                                   name="loan_product_min_amount_positive"),
            models.CheckConstraint(condition=Q(min_amount__isnull=True) | Q(max_amount__isnull=True)
                                   | Q(min_amount__lte=F("max_amount")), name="loan_product_amount_range"),
            models.CheckConstraint(condition=Q(penalty_annual_rate__gte=0, penalty_annual_rate__lt=10)
                                   & Q(fee_rate__gte=0, fee_rate__lt=1), name="loan_product_rates_in_range"),
            models.CheckConstraint(condition=Q(day_count__in=["ACT/360", "ACT/365"]), name="loan_product_day_count"),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def is_term_loan(self) -> bool:
        return self.kind == ProductKind.TERM_LOAN


class ApplicationState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REFERRED = "referred", "Referred to a credit officer"
    OFFER_ACCEPTED = "offer_accepted", "Offer accepted"
    DISBURSED = "disbursed", "Disbursed"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


def _is_credit_officer(application, user) -> bool:
    return user.has_role("credit_officer")


class FinancingApplication(FSMModelMixin, models.Model):
    """A merchant's request to borrow under a product: against selected pre-sale orders, or a term loan."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="applications")
    product = models.ForeignKey(LoanProduct, on_delete=models.PROTECT, related_name="applications")
    term_months = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Term loans only")
    amount = models.DecimalField(**money_field_kwargs())
    currency = models.CharField(max_length=3)
    orders = models.ManyToManyField(PresaleOrder, through="ApplicationOrder", related_name="applications")
    state = FSMField(default=ApplicationState.DRAFT, choices=ApplicationState.choices, protected=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="application_amount_positive")]
        indexes = [models.Index(fields=["state", "submitted_at"])]

    def __str__(self):
        return f"Application #{self.pk} ({self.state})"

    # Every transition runs through apps.financing.services (core.transitions audits it).
    @transition(field=state, source=ApplicationState.DRAFT, target=ApplicationState.SUBMITTED)
    def submit(self):
        self.submitted_at = timezone.now()

    @transition(field=state, source=ApplicationState.SUBMITTED, target=ApplicationState.APPROVED)
    def approve_automatically(self, note: str = ""):
        self._decided(note)

    @transition(field=state, source=ApplicationState.SUBMITTED, target=ApplicationState.REJECTED)
    def reject_automatically(self, note: str = ""):
        self._decided(note)

    @transition(field=state, source=ApplicationState.SUBMITTED, target=ApplicationState.REFERRED)
    def refer(self, note: str = ""):
        self.decision_note = note

    @transition(field=state, source=ApplicationState.REFERRED, target=ApplicationState.APPROVED, permission=_is_credit_officer)
    def approve(self, note: str = ""):
        self._decided(note)

    @transition(field=state, source=ApplicationState.REFERRED, target=ApplicationState.REJECTED, permission=_is_credit_officer)
    def reject(self, note: str = ""):
        self._decided(note)

    @transition(field=state, source=ApplicationState.APPROVED, target=ApplicationState.OFFER_ACCEPTED)
    def accept_offer(self):
        pass

    @transition(field=state, source=ApplicationState.OFFER_ACCEPTED, target=ApplicationState.DISBURSED)
    def mark_disbursed(self):
        pass

    @transition(field=state, source=ApplicationState.APPROVED, target=ApplicationState.EXPIRED)
    def expire(self):
        pass

    @transition(field=state, source=ApplicationState.APPROVED, target=ApplicationState.WITHDRAWN)
    def withdraw(self):
        pass

    # An accepted offer that will not be disbursed (cash or a bank's share never came, its APR now above the ceiling).
    @transition(field=state, source=ApplicationState.OFFER_ACCEPTED, target=ApplicationState.WITHDRAWN,
                permission=_is_credit_officer)
    def withdraw_accepted(self, note: str = ""):
        self.decision_note = note  # the merchant reads why on the application's page

    def _decided(self, note: str):
        self.decided_at = timezone.now()
        self.decision_note = note


class ApplicationOrder(models.Model):
    application = models.ForeignKey(FinancingApplication, on_delete=models.CASCADE)
    order = models.ForeignKey(PresaleOrder, on_delete=models.PROTECT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["application", "order"], name="application_order_once")]

    def __str__(self):
        return f"{self.application_id}:{self.order_id}"


class RuleOutcome(models.TextChoices):
    PASS = "pass", "Pass"
    REFER = "refer", "Refer"
    DECLINE = "decline", "Decline"


class DecisionResult(models.Model):
    """One decision rule's verdict on an application, with the reason shown to people."""

    application = models.ForeignKey(FinancingApplication, on_delete=models.CASCADE, related_name="decision_results")
    rule = models.CharField(max_length=32)
    outcome = models.CharField(max_length=8, choices=RuleOutcome.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.rule}: {self.outcome}"


class Offer(models.Model):
    """The priced offer made on an approved application; the merchant receives the full principal."""

    application = models.OneToOneField(FinancingApplication, on_delete=models.PROTECT, related_name="offer")
    principal = models.DecimalField(**money_field_kwargs())
    annual_rate = models.DecimalField(max_digits=7, decimal_places=4)
    day_count = models.CharField(max_length=8, default="ACT/360")
    interest = models.DecimalField(**money_field_kwargs())
    fee = models.DecimalField(**money_field_kwargs())
    total_cost = models.DecimalField(**money_field_kwargs())
    apr = models.DecimalField(max_digits=7, decimal_places=4, help_text="All-in annual cost as an IRR")
    start_date = models.DateField()
    maturity_date = models.DateField()
    schedule = models.JSONField(help_text="Installments: due_date, principal, interest, fee, total")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="offer_principal_positive"),
            models.CheckConstraint(condition=Q(interest__gte=0) & Q(fee__gte=0), name="offer_costs_non_negative"),
            models.CheckConstraint(condition=Q(total_cost=F("interest") + F("fee")), name="offer_total_cost_adds_up"),
            models.CheckConstraint(condition=Q(maturity_date__gt=F("start_date")), name="offer_matures_after_start"),
        ]

    def __str__(self):
        return f"Offer on application #{self.application_id}: {self.principal}"

    @property
    def apr_percent(self):
        return (self.apr * 100).quantize(self.apr.__class__("0.01"))


class Pledge(models.Model):
    """An order pledged as collateral; the database lets an order back one live pledge only."""

    order = models.ForeignKey(PresaleOrder, on_delete=models.PROTECT, related_name="pledges")
    application = models.ForeignKey(FinancingApplication, on_delete=models.PROTECT, related_name="pledges")
    pledged_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order"], condition=Q(released_at__isnull=True), name="order_pledged_once"),
        ]

    def __str__(self):
        return f"Order {self.order_id} → application {self.application_id}"


class ShareOfferState(models.TextChoices):
    OFFERED = "offered", "Offered"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn: the loan was not made"


class PartnerShareOffer(models.Model):
    """A partner bank's share of one accepted offer, awaiting the bank's answer."""

    application = models.OneToOneField(FinancingApplication, on_delete=models.PROTECT, related_name="share_offer")
    agreement = models.ForeignKey("partners.CoLendingAgreement", on_delete=models.PROTECT, related_name="share_offers")
    partner_bank = models.ForeignKey("partners.PartnerBank", on_delete=models.PROTECT, related_name="share_offers")
    amount = models.DecimalField(**money_field_kwargs())
    share = models.DecimalField(max_digits=5, decimal_places=4)
    state = models.CharField(max_length=10, choices=ShareOfferState.choices, default=ShareOfferState.OFFERED)
    responded_at = models.DateTimeField(null=True, blank=True)
    responded_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="share_offer_amount_positive"),
            models.CheckConstraint(condition=Q(share__gt=0, share__lte="0.7"), name="share_offer_at_most_70pct"),
        ]
        indexes = [models.Index(fields=["partner_bank", "state"])]

    def __str__(self):
        return f"{self.partner_bank_id} {self.amount} ({self.state})"
