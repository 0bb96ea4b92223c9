import secrets

from django.db import transaction
from oauth2_provider.models import Application

from apps.core.audit import audit_record
from apps.core.errors import ValidationFailed

from .models import ApiClient, ApiClientKind, PartnerBank

PARTNER_BANK_SCOPES = "bank:read loans:read colending:write repayments:write"
MARKETPLACE_SCOPES = "sales:write orders:write"


@transaction.atomic
def api_client_create(
    *, lender, name: str, kind: str, actor, partner_bank: PartnerBank | None = None,
    client_id: str | None = None, client_secret: str | None = None,
) -> tuple[ApiClient, str]:
    """Register an OAuth2 client-credentials application; returns it and its plain secret (shown once)."""
    if partner_bank is not None and partner_bank.lender_id != lender.pk:
        raise ValidationFailed("That partner bank is another lender's.", code="PARTNER_BANK_NOT_FOUND")
    secret = client_secret or secrets.token_urlsafe(32)
    application = Application.objects.create(
        name=name,
        client_id=client_id or secrets.token_urlsafe(16),
        client_secret=secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    scopes = PARTNER_BANK_SCOPES if kind == ApiClientKind.PARTNER_BANK else MARKETPLACE_SCOPES
    client = ApiClient.objects.create(
        application=application, lender=lender, kind=kind, partner_bank=partner_bank, allowed_scopes=scopes
    )
    audit_record(actor=actor, action="api_client_created", subject=client, data={"client_id": application.client_id})
    return client, secret
