from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class Lender(models.Model):
    """The licensed small-loan company: the tenant that staff belong to."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    licence_number = models.CharField(max_length=64, blank=True)
    base_currency = models.CharField(max_length=3, default="CNY")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    MERCHANT = "merchant", "Merchant user"
    CREDIT_OFFICER = "credit_officer", "Credit officer"
    COLLECTOR = "collector", "Collector"
    TREASURER = "treasurer", "Treasurer"
    LENDER_ADMIN = "lender_admin", "Lender admin"


STAFF_ROLES = frozenset(r for r in Role.values if r != Role.MERCHANT)


class User(AbstractUser):
    """A person: either a merchant's user (bound to one merchant) or lender staff.

    Partner banks and the marketplace are API clients (OAuth2 applications), not users.
    """

    role = models.CharField(max_length=20, choices=Role.choices)
    lender = models.ForeignKey(Lender, on_delete=models.PROTECT, related_name="users")
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    failed_login_count = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A merchant user always belongs to exactly one merchant; staff never do.
            models.CheckConstraint(
                name="user_merchant_iff_merchant_role",
                condition=(Q(role="merchant") & Q(merchant__isnull=False))
                | (~Q(role="merchant") & Q(merchant__isnull=True)),
            ),
        ]

    @property
    def is_merchant_user(self) -> bool:
        return self.role == Role.MERCHANT

    @property
    def is_lender_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def has_role(self, *roles: str) -> bool:
        """Lender admins hold every staff role."""
        if self.role == Role.LENDER_ADMIN and set(roles) & STAFF_ROLES:
            return True
        return self.role in roles
