from django.db import models

from apps.core.money import money_field_kwargs


class PartnerBank(models.Model):
    """A bank that co-funds the lender's loans (it is an API client, not a person)."""

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="partner_banks")
    name = models.CharField(max_length=200)
    code = models.SlugField(max_length=32, help_text="Short code used in references and statements")
    max_share = models.DecimalField(max_digits=5, decimal_places=4, default="0.7000",
                                    help_text="Largest share of one loan the bank may fund")
    exposure_limit = models.DecimalField(default=0, **money_field_kwargs())
    webhook_url = models.URLField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lender", "code"], name="partner_bank_unique_code"),
            models.CheckConstraint(condition=models.Q(max_share__gt=0, max_share__lte="0.7"),
                                   name="partner_bank_share_at_most_70pct"),
        ]

    def __str__(self):
        return self.name


class ApiClientKind(models.TextChoices):
    PARTNER_BANK = "partner_bank", "Partner bank"
    MARKETPLACE = "marketplace", "Marketplace integration"


class ApiClient(models.Model):
    """Ties one OAuth2 application to who it speaks for, and the scopes it may be granted."""

    application = models.OneToOneField("oauth2_provider.Application", on_delete=models.CASCADE, related_name="api_client")
    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="api_clients")
    kind = models.CharField(max_length=20, choices=ApiClientKind.choices)
    partner_bank = models.ForeignKey(PartnerBank, null=True, blank=True, on_delete=models.PROTECT, related_name="api_clients")
    allowed_scopes = models.CharField(max_length=255, help_text="Space-separated OAuth2 scopes")

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="api_client_bank_iff_partner_kind",
                condition=(models.Q(kind="partner_bank") & models.Q(partner_bank__isnull=False))
                | (~models.Q(kind="partner_bank") & models.Q(partner_bank__isnull=True)),
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.application.name}"

    @property
    def label(self) -> str:
        return f"api:{self.application.client_id}"

    def scope_set(self) -> set[str]:
        return set(self.allowed_scopes.split())


class CoLendingAgreement(models.Model):
    """A partner bank's standing terms for co-funding the lender's loans."""

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="colending_agreements")
    partner_bank = models.ForeignKey(PartnerBank, on_delete=models.PROTECT, related_name="agreements")
    share = models.DecimalField(max_digits=5, decimal_places=4, help_text="Share of each eligible loan the bank funds")
    annual_rate = models.DecimalField(max_digits=7, decimal_places=4, help_text="The bank's rate on its share")
    eligible_grades = models.CharField(max_length=5, default="AB")
    exposure_limit = models.DecimalField(**money_field_kwargs())
    auto_accept = models.BooleanField(default=False, help_text="Accept offered shares within the limit without asking")
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The lender keeps at least 30% of every co-lent loan, so a bank funds at most 70%.
            models.CheckConstraint(condition=models.Q(share__gt=0, share__lte="0.7"), name="agreement_share_at_most_70pct"),
            models.CheckConstraint(condition=models.Q(exposure_limit__gte=0), name="agreement_limit_non_negative"),
        ]
        ordering = ["-effective_from", "id"]

    def __str__(self):
        return f"{self.partner_bank} {self.share:.0%} from {self.effective_from}"
