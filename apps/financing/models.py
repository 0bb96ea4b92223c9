from django.db import models
from django.db.models import F, Q
from django_fsm import RETURN_VALUE, FSMField, FSMModelMixin, transition

from apps.core.money import money_field_kwargs


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
